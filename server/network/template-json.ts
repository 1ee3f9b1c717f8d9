/**
 * The JSON syntax of a cluster template (the same structure as the text syntax, see
 * template-text.ts), read into the raw form (template-raw.ts) from a jsonc-parser tree.
 * Nesting is bounded before the tree is built; syntax errors, unknown or duplicate keys and
 * wrong shapes are TemplateErrors naming the node's line and column.
 */
import { createScanner, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import { TemplateError, type SourceLocation } from './template-types.js';
import { INTEGER_RE, LineIndex, clip, oneOf, type RawAxon, type RawPort, type RawPosition, type RawScalar, type RawTemplate } from './template-raw.js';
import { checkVersion } from './template-validate.js';

/** Nesting the template format never needs; rejecting it early keeps jsonc-parser's
 *  recursive descent from overflowing the stack on hostile input. */
const MAX_JSON_DEPTH = 32;

const JSON_SYNTAX_MESSAGES: Readonly<Record<string, string>> = {
  InvalidSymbol: 'invalid symbol',
  InvalidNumberFormat: 'invalid number',
  PropertyNameExpected: 'expected a property name in double quotes',
  ValueExpected: 'expected a value',
  ColonExpected: 'expected ":"',
  CommaExpected: 'expected ","',
  CloseBraceExpected: 'expected "}"',
  CloseBracketExpected: 'expected "]"',
  EndOfFileExpected: 'expected the end of the text after the top-level object',
  InvalidCommentToken: 'invalid comment',
  UnexpectedEndOfComment: 'unterminated comment',
  UnexpectedEndOfString: 'unterminated string',
  UnexpectedEndOfNumber: 'incomplete number',
  InvalidUnicode: 'invalid unicode escape',
  InvalidEscapeCharacter: 'invalid escape character',
  InvalidCharacter: 'invalid character in string',
};

interface JsonProperty {
  name: string;
  key: JsonNode;
  value: JsonNode;
}

/** Reads a jsonc-parser tree into the raw form, naming the node of every problem. */
class JsonTemplateReader {
  constructor(
    private readonly text: string,
    private readonly index: LineIndex,
  ) {}

  loc(node: JsonNode): SourceLocation {
    return this.index.locAt(node.offset);
  }

  fail(message: string, node: JsonNode, expected?: string): never {
    throw new TemplateError(message, this.loc(node), expected);
  }

  shown(node: JsonNode): string {
    if (node.type === 'object') return 'an object';
    if (node.type === 'array') return 'an array';
    return clip(this.text.slice(node.offset, node.offset + node.length));
  }

  /** The properties of an object node in source order, duplicates rejected. */
  properties(node: JsonNode, what: string): JsonProperty[] {
    if (node.type !== 'object') this.fail(`${what} must be an object, found ${this.shown(node)}`, node);
    const seen = new Set<string>();
    return (node.children ?? []).map((property) => {
      const [key, value] = property.children ?? [];
      if (!key || !value) this.fail(`incomplete property in ${what}`, property);
      const name: unknown = key.value;
      if (typeof name !== 'string') this.fail(`expected a property name in ${what}`, key);
      if (seen.has(name)) this.fail(`duplicate key "${clip(name)}" in ${what}`, key);
      seen.add(name);
      return { name, key, value };
    });
  }

  /** Properties of an object with a fixed set of keys; returns them by name. */
  fields(node: JsonNode, what: string, known: readonly string[], required: readonly string[]): Map<string, JsonNode> {
    const fields = new Map<string, JsonNode>();
    for (const { name, key, value } of this.properties(node, what)) {
      if (!known.includes(name)) this.fail(`unknown key "${clip(name)}" in ${what}`, key, oneOf(name, known));
      fields.set(name, value);
    }
    const missing = required.find((name) => !fields.has(name));
    if (missing) this.fail(`missing key "${missing}" in ${what}`, node);
    return fields;
  }

  elements(node: JsonNode, what: string): JsonNode[] {
    if (node.type !== 'array') this.fail(`${what} must be an array, found ${this.shown(node)}`, node);
    return node.children ?? [];
  }

  scalar(node: JsonNode): RawScalar {
    const value: unknown = node.value;
    const base = { shown: this.shown(node), loc: this.loc(node) };
    if (node.type === 'number' && typeof value === 'number' && Number.isFinite(value)) {
      return { kind: 'number', value, integral: INTEGER_RE.test(base.shown), ...base };
    }
    if (node.type === 'string' && typeof value === 'string') return { kind: 'string', value, ...base };
    if (node.type === 'boolean' && typeof value === 'boolean') return { kind: 'boolean', value, ...base };
    return { kind: 'other', ...base };
  }

  /** `[x, y, z]`, `[x, y]`, or `{"x": .., "y": .., "z": ..}` with z optional (default 1). */
  position(node: JsonNode, what: string): RawPosition {
    if (node.type === 'array') return { coords: this.elements(node, what).map((c) => this.scalar(c)), loc: this.loc(node) };
    if (node.type !== 'object') {
      this.fail(`${what} must be a position [x, y, z] or {"x": .., "y": .., "z": ..}, found ${this.shown(node)}`, node);
    }
    const fields = this.fields(node, what, ['x', 'y', 'z'], ['x', 'y']);
    const coords = ['x', 'y', 'z'].flatMap((axis) => {
      const coord = fields.get(axis);
      return coord ? [this.scalar(coord)] : [];
    });
    return { coords, loc: this.loc(node) };
  }

  axon(node: JsonNode): RawAxon {
    const fields = this.fields(node, 'an axon', ['from', 'to'], ['from', 'to']);
    return {
      from: this.position(fields.get('from') as JsonNode, 'the axon source'),
      to: this.position(fields.get('to') as JsonNode, 'the axon target'),
      loc: this.loc(node),
    };
  }

  port(node: JsonNode, what: string): RawPort {
    const fields = this.fields(node, what, ['name', 'position', 'type'], ['name', 'position']);
    const type = fields.get('type');
    return {
      name: this.scalar(fields.get('name') as JsonNode),
      position: this.position(fields.get('position') as JsonNode, `the position of ${what}`),
      type: type ? this.scalar(type) : undefined,
      loc: this.loc(node),
    };
  }

  template(root: JsonNode): RawTemplate {
    // The version comes first: another version may mean another layout altogether.
    const versionNode = this.properties(root, 'the template').find((p) => p.name === 'version')?.value;
    if (versionNode) checkVersion(this.scalar(versionNode));
    const known = ['version', 'settings', 'hexagons', 'axons', 'inputs', 'outputs'];
    const fields = this.fields(root, 'the template', known, ['version', 'hexagons', 'inputs', 'outputs']);
    const field = (name: string): JsonNode => fields.get(name) as JsonNode;
    const settings = fields.get('settings');
    const axons = fields.get('axons');
    const version = this.scalar(field('version'));
    return {
      version,
      settings: settings ? this.properties(settings, '"settings"').map((p) => ({ name: p.name, nameLoc: this.loc(p.key), value: this.scalar(p.value) })) : [],
      hexagons: this.elements(field('hexagons'), '"hexagons"').map((n) => this.position(n, 'a hexagon')),
      hexagonsLoc: this.loc(field('hexagons')),
      axons: axons ? this.elements(axons, '"axons"').map((n) => this.axon(n)) : [],
      inputs: this.elements(field('inputs'), '"inputs"').map((n) => this.port(n, 'an input')),
      inputsLoc: this.loc(field('inputs')),
      outputs: this.elements(field('outputs'), '"outputs"').map((n) => this.port(n, 'an output')),
      outputsLoc: this.loc(field('outputs')),
    };
  }
}

function checkJsonDepth(text: string, index: LineIndex): void {
  const scanner = createScanner(text, true);
  let depth = 0;
  for (let token = scanner.scan(); token !== 17 /* SyntaxKind.EOF */; token = scanner.scan()) {
    if (token === 1 /* OpenBraceToken */ || token === 3 /* OpenBracketToken */) depth++;
    else if (token === 2 /* CloseBraceToken */ || token === 4 /* CloseBracketToken */) depth--;
    if (depth > MAX_JSON_DEPTH) {
      throw new TemplateError(`JSON nested deeper than ${MAX_JSON_DEPTH} levels`, index.locAt(scanner.getTokenOffset()));
    }
  }
}

export function readJsonTemplate(text: string): RawTemplate {
  const index = new LineIndex(text);
  checkJsonDepth(text, index);
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { allowTrailingComma: false });
  const [error] = errors;
  if (error) {
    const message = JSON_SYNTAX_MESSAGES[printParseErrorCode(error.error)] ?? 'invalid JSON';
    throw new TemplateError(`invalid JSON: ${message}`, index.locAt(error.offset));
  }
  if (!root) throw new TemplateError('invalid JSON: expected an object', { line: 1, column: 1 });
  return new JsonTemplateReader(text, index).template(root);
}
