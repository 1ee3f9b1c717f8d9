/**
 * Cluster-template parser: the OpenHanami text syntax and the same structure as JSON.
 *
 * Both syntaxes are first read into a {@link RawTemplate} (values still untyped, each with
 * its source location); one shared validator then turns that into a ClusterTemplate, so
 * both forms obey exactly the same rules and report errors the same way. Finally the
 * topology is checked, so a template that parses is a template that can grow a network.
 *
 * Every problem with the input is reported as a TemplateError naming line and column.
 */

import { createScanner, parseTree, printParseErrorCode, type Node as JsonNode, type ParseError } from 'jsonc-parser';
import {
  DEFAULT_SETTINGS,
  TemplateError,
  type AxonSpec,
  type ClusterTemplate,
  type HexagonSpec,
  type InputSpec,
  type InputType,
  type OutputSpec,
  type OutputType,
  type Position,
  type SourceLocation,
  type TemplateSettings,
} from './template-types.js';
import { checkTemplateWork, prescanTemplate, type TemplateLimits } from './template-limits.js';
import { formatPosition, validateTopology } from './topology.js';
import { closestName } from '../did-you-mean.js';

/** Largest accepted |coordinate|: keeps 2x + 1 inside an int32 for the GPU side. */
export const MAX_COORDINATE = 1_000_000_000;
/** Upper bound of max_connection_distance, which bounds the length of the target walk. */
export const MAX_CONNECTION_DISTANCE = 16;
/** Upper bound of refractory_time (fits a signed 32-bit counter). */
export const MAX_REFRACTORY_TIME = 2_147_483_647;
/** Longest input or output name. */
export const MAX_NAME_LENGTH = 254;

const INTEGER_RE = /^-?[0-9]+$/;
const NUMBER_RE = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
const NAME_RE = /^[A-Za-z0-9_]+$/;
const INPUT_TYPES: readonly InputType[] = ['plain', 'binary', 'match'];
const OUTPUT_TYPES: readonly OutputType[] = ['plain', 'bool', 'int', 'float'];

// =======================================================================================
// Raw form shared by both front ends
// =======================================================================================

/** A value as written, before its meaning is known; `shown` is how messages quote it. */
type RawScalar = ({ kind: 'number'; value: number; integral: boolean } | { kind: 'boolean'; value: boolean } | { kind: 'string'; value: string } | { kind: 'other' }) & {
  shown: string;
  loc: SourceLocation;
};

interface RawPosition {
  coords: RawScalar[];
  loc: SourceLocation;
}

interface RawSetting {
  name: string;
  nameLoc: SourceLocation;
  value: RawScalar;
}

interface RawAxon {
  from: RawPosition;
  to: RawPosition;
  loc: SourceLocation;
}

interface RawPort {
  name: RawScalar;
  position: RawPosition;
  type: RawScalar | undefined;
  loc: SourceLocation;
}

interface RawTemplate {
  version: RawScalar;
  settings: RawSetting[];
  hexagons: RawPosition[];
  hexagonsLoc: SourceLocation;
  axons: RawAxon[];
  inputs: RawPort[];
  inputsLoc: SourceLocation;
  outputs: RawPort[];
  outputsLoc: SourceLocation;
}

/** Keeps messages readable when someone pastes a megabyte into one value. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function formatLoc(loc: SourceLocation): string {
  return `line ${loc.line}, column ${loc.column}`;
}

/** What an unknown name should have been: the list, plus the likely intent of a typo. */
function oneOf(name: string, known: readonly string[]): string {
  const guess = closestName(name, known);
  return `one of ${known.join(', ')}${guess === undefined ? '' : `; did you mean "${guess}"?`}`;
}

// =======================================================================================
// Line and column bookkeeping
// =======================================================================================

/** Maps string offsets to 1-based line/column. Lines end at \n, \r\n or \r; columns count
 *  characters (code points), a tab counting as one. */
class LineIndex {
  private readonly starts: number[] = [0];
  private readonly plainLines = new Map<number, boolean>();

  constructor(private readonly text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) this.starts.push(i + 1);
    }
  }

  get lineCount(): number {
    return this.starts.length;
  }

  lineStart(line: number): number {
    return this.starts[line] ?? this.text.length;
  }

  /** Offset just past the last character of `line` (0-based), line break excluded. */
  lineEnd(line: number): number {
    const next = this.starts[line + 1];
    if (next === undefined) return this.text.length;
    const crlf = this.text.charCodeAt(next - 1) === 10 && this.text.charCodeAt(next - 2) === 13;
    return next - (crlf ? 2 : 1);
  }

  locAt(offset: number): SourceLocation {
    const line = this.lineOf(offset);
    const start = this.lineStart(line);
    return { line: line + 1, column: this.codePointsBetween(line, start, offset) + 1 };
  }

  private lineOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Fast path for the usual line without surrogate pairs, where code units = characters. */
  private codePointsBetween(line: number, start: number, offset: number): number {
    let plain = this.plainLines.get(line);
    if (plain === undefined) {
      plain = !/[\uD800-\uDFFF]/.test(this.text.slice(start, this.lineEnd(line)));
      this.plainLines.set(line, plain);
    }
    if (plain) return offset - start;
    let count = 0;
    for (let i = start; i < offset; i++) {
      const c = this.text.charCodeAt(i);
      if (c < 0xdc00 || c > 0xdfff || i === start || !isHighSurrogate(this.text.charCodeAt(i - 1))) count++;
    }
    return count;
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

// =======================================================================================
// Text syntax: tokens
// =======================================================================================

type TokenKind = 'word' | ':' | ',' | '->' | '(' | ')';

interface Token {
  kind: TokenKind;
  text: string;
  loc: SourceLocation;
}

/** The tokens of one non-blank line, and where the line's content ends. */
interface TokenLine {
  tokens: Token[];
  end: SourceLocation;
}

/** Names, numbers and keywords are all "words"; their meaning depends on where they are. */
const WORD_CHAR = /[A-Za-z0-9_.+-]/;
const PUNCTUATION: ReadonlySet<string> = new Set([':', ',', '(', ')']);

function describeChar(text: string, offset: number): string {
  const code = text.codePointAt(offset) ?? 0;
  return JSON.stringify(String.fromCodePoint(code));
}

/** Splits one line (comment already cut off at `stop`) into tokens. */
function tokeniseLine(text: string, start: number, stop: number, index: LineIndex): TokenLine {
  const tokens: Token[] = [];
  let lastEnd = start;
  let i = start;
  const push = (kind: TokenKind, length: number): void => {
    tokens.push({ kind, text: text.slice(i, i + length), loc: index.locAt(i) });
    i += length;
    lastEnd = i;
  };
  while (i < stop) {
    const ch = text.charAt(i);
    if (/\s/.test(ch)) i++;
    else if (ch === '-' && text.charAt(i + 1) === '>') push('->', 2);
    else if (PUNCTUATION.has(ch)) push(ch as TokenKind, 1);
    else if (WORD_CHAR.test(ch)) push('word', wordLength(text, i, stop));
    else throw new TemplateError(`unexpected character ${describeChar(text, i)}`, index.locAt(i));
  }
  return { tokens, end: index.locAt(lastEnd) };
}

/** A word runs until a non-word character, or until an arrow so "1,1,1->2,1,1" works. */
function wordLength(text: string, start: number, stop: number): number {
  let j = start + 1;
  while (j < stop && WORD_CHAR.test(text.charAt(j)) && !(text.charAt(j) === '-' && text.charAt(j + 1) === '>')) j++;
  return j - start;
}

/** The lines that have tokens, lazily so that the version line is checked before the
 *  rest is even tokenised; `#` comments and blank lines vanish here. */
function* tokenLines(text: string, index: LineIndex): Generator<TokenLine, void, undefined> {
  for (let line = 0; line < index.lineCount; line++) {
    const start = index.lineStart(line);
    const end = index.lineEnd(line);
    const hash = text.indexOf('#', start);
    const tokenLine = tokeniseLine(text, start, hash >= 0 && hash < end ? hash : end, index);
    if (tokenLine.tokens.length > 0) yield tokenLine;
  }
}

function describeToken(token: Token | undefined): string {
  return token ? JSON.stringify(clip(token.text)) : 'end of line';
}

/** Reads the tokens of one line left to right; every failure says what was expected. */
class LineCursor {
  private next = 0;
  constructor(private readonly line: TokenLine) {}

  peek(): Token | undefined {
    return this.line.tokens[this.next];
  }

  /** Consumes the next token if it is of `kind`. */
  take(kind: TokenKind): Token | undefined {
    const token = this.peek();
    if (token?.kind !== kind) return undefined;
    this.next++;
    return token;
  }

  expect(kind: TokenKind, expected: string): Token {
    const token = this.take(kind);
    if (token) return token;
    throw new TemplateError(`unexpected ${describeToken(this.peek())}`, this.here(), expected);
  }

  expectEnd(after: string): void {
    const token = this.peek();
    if (token) throw new TemplateError(`unexpected ${describeToken(token)} after ${after}`, token.loc, 'end of line');
  }

  /** Location of the next token, or of the end of the line. */
  here(): SourceLocation {
    return this.peek()?.loc ?? this.line.end;
  }
}

/** Turns a word into a value: booleans, numbers (rejecting malformed ones), else a string. */
function wordToScalar(token: Token): RawScalar {
  const text = token.text;
  const shown = JSON.stringify(clip(text));
  if (text === 'true' || text === 'True') return { kind: 'boolean', value: true, shown, loc: token.loc };
  if (text === 'false' || text === 'False') return { kind: 'boolean', value: false, shown, loc: token.loc };
  if (/^[-+.]*[0-9]/.test(text)) {
    if (!NUMBER_RE.test(text)) throw new TemplateError(`invalid number ${shown}`, token.loc);
    return { kind: 'number', value: Number(text), integral: INTEGER_RE.test(text), shown, loc: token.loc };
  }
  return { kind: 'string', value: text, shown, loc: token.loc };
}

function wordToString(token: Token): RawScalar {
  return { kind: 'string', value: token.text, shown: JSON.stringify(clip(token.text)), loc: token.loc };
}

// =======================================================================================
// Text syntax: blocks and entries
// =======================================================================================

const BLOCKS = ['settings', 'hexagons', 'axons', 'inputs', 'outputs'] as const;
type BlockName = (typeof BLOCKS)[number];
const REQUIRED_BLOCKS: ReadonlySet<BlockName> = new Set<BlockName>(['hexagons', 'inputs', 'outputs']);
const BLOCK_ORDER = 'version, settings, hexagons, axons, inputs, outputs';

/** A header is a line that is exactly `<block name>:`; anything after the colon makes it
 *  an entry, so an input may even be called "outputs". */
function headerOf(line: TokenLine): BlockName | undefined {
  const name = headerWord(line);
  return BLOCKS.find((block) => block === name?.text);
}

/** The word of a line that has the shape of a header, `<word>:`. */
function headerWord(line: TokenLine): Token | undefined {
  const [name, colon] = line.tokens;
  return line.tokens.length === 2 && name?.kind === 'word' && colon?.kind === ':' ? name : undefined;
}

/**
 * A `<word>:` line that is no block header but was meant as one: before any block, inside
 * `hexagons:` or `axons:` (whose entries are positions, never `<word>:`), or a word one slip
 * away from a block name. Elsewhere `<word>:` stays an entry that lacks its value (a
 * setting, an input or output without a position) and is reported as such.
 */
function unknownHeader(line: TokenLine, block: BlockName | undefined): TemplateError | undefined {
  const name = headerWord(line);
  if (name === undefined) return undefined;
  const guess = closestName(name.text, BLOCKS);
  if (block !== undefined && block !== 'hexagons' && block !== 'axons' && guess === undefined) return undefined;
  const hint = guess === undefined ? '' : `; did you mean "${guess}"?`;
  return new TemplateError(`unknown block ${JSON.stringify(clip(name.text))} (blocks are: ${BLOCK_ORDER}${hint})`, name.loc);
}

function readVersionLine(line: TokenLine): RawScalar {
  const cursor = new LineCursor(line);
  const keyword = cursor.peek();
  if (keyword?.kind !== 'word' || keyword.text !== 'version') {
    throw new TemplateError(`unexpected ${describeToken(keyword)} at the start of the template`, cursor.here(), '"version: 1"');
  }
  cursor.take('word');
  cursor.expect(':', '":" after "version"');
  const value = wordToScalar(cursor.expect('word', 'a version number'));
  cursor.expectEnd('the version');
  checkVersion(value); // before anything else: another version may mean another syntax
  return value;
}

function readPositionTokens(cursor: LineCursor): RawPosition {
  const first = cursor.expect('word', 'a position x,y,z');
  const coords = [wordToScalar(first)];
  cursor.expect(',', '"," between coordinates');
  coords.push(wordToScalar(cursor.expect('word', 'the y coordinate')));
  if (cursor.take(',')) coords.push(wordToScalar(cursor.expect('word', 'the z coordinate')));
  // "x,y" means z = 1: a flat network lives in layer 1.
  else coords.push({ kind: 'number', value: 1, integral: true, shown: '"1"', loc: first.loc });
  return { coords, loc: first.loc };
}

function readSettingLine(cursor: LineCursor, raw: RawTemplate): void {
  const name = cursor.expect('word', 'a setting name');
  cursor.expect(':', '":" after the setting name');
  const value = wordToScalar(cursor.expect('word', 'a value'));
  cursor.expectEnd('the setting value');
  raw.settings.push({ name: name.text, nameLoc: name.loc, value });
}

function readHexagonLine(cursor: LineCursor, raw: RawTemplate): void {
  raw.hexagons.push(readPositionTokens(cursor));
  cursor.expectEnd('the hexagon position');
}

function readAxonLine(cursor: LineCursor, raw: RawTemplate): void {
  const from = readPositionTokens(cursor);
  cursor.expect('->', '"->" between the two ends of the axon');
  const to = readPositionTokens(cursor);
  cursor.expectEnd('the axon');
  raw.axons.push({ from, to, loc: from.loc });
}

function readPortLine(cursor: LineCursor, ports: RawPort[]): void {
  const name = cursor.expect('word', 'a name');
  cursor.expect(':', '":" after the name');
  const position = readPositionTokens(cursor);
  let type: RawScalar | undefined;
  if (cursor.take('(')) {
    type = wordToString(cursor.expect('word', 'a type name'));
    cursor.expect(')', '")"');
  }
  cursor.expectEnd(type ? 'the type' : 'the position');
  ports.push({ name: wordToString(name), position, type, loc: name.loc });
}

function readEntry(block: BlockName, line: TokenLine, raw: RawTemplate): void {
  const cursor = new LineCursor(line);
  switch (block) {
    case 'settings':
      return readSettingLine(cursor, raw);
    case 'hexagons':
      return readHexagonLine(cursor, raw);
    case 'axons':
      return readAxonLine(cursor, raw);
    case 'inputs':
      return readPortLine(cursor, raw.inputs);
    case 'outputs':
      return readPortLine(cursor, raw.outputs);
  }
}

/** Tracks which blocks have been seen so order, duplicates and omissions are caught. */
class BlockSequence {
  private rank = -1;
  private readonly seen = new Map<BlockName, SourceLocation>();

  enter(block: BlockName, loc: SourceLocation): void {
    const first = this.seen.get(block);
    if (first) throw new TemplateError(`duplicate block "${block}:" (first at ${formatLoc(first)})`, loc);
    const rank = BLOCKS.indexOf(block);
    if (rank < this.rank) {
      throw new TemplateError(`block "${block}:" is out of order`, loc, `blocks in the order ${BLOCK_ORDER}`);
    }
    this.requireBefore(rank, loc, ` before "${block}:"`);
    this.rank = rank;
    this.seen.set(block, loc);
  }

  /** At the end of the text every required block must have appeared. */
  finish(loc: SourceLocation): void {
    this.requireBefore(BLOCKS.length, loc, ' at the end of the template');
  }

  private requireBefore(rank: number, loc: SourceLocation, where: string): void {
    const missing = BLOCKS.slice(this.rank + 1, rank).find((b) => REQUIRED_BLOCKS.has(b));
    if (missing) throw new TemplateError(`missing block "${missing}:"${where}`, loc, `blocks in the order ${BLOCK_ORDER}`);
  }
}

function readTextTemplate(text: string): RawTemplate {
  const index = new LineIndex(text);
  const lines = tokenLines(text, index);
  const versionLine = lines.next().value;
  if (!versionLine) throw new TemplateError('empty template', { line: 1, column: 1 }, '"version: 1"');
  const nowhere = versionLine.end;
  const raw: RawTemplate = {
    version: readVersionLine(versionLine),
    settings: [],
    hexagons: [],
    hexagonsLoc: nowhere,
    axons: [],
    inputs: [],
    inputsLoc: nowhere,
    outputs: [],
    outputsLoc: nowhere,
  };
  const blocks = new BlockSequence();
  let block: BlockName | undefined;
  let last = versionLine;
  for (const line of lines) {
    last = line;
    const header = headerOf(line);
    const misspelled = header ? undefined : unknownHeader(line, block);
    if (misspelled) throw misspelled;
    if (header) block = enterBlock(header, (line.tokens[0] as Token).loc, blocks, raw);
    else if (block) readEntry(block, line, raw);
    else {
      const first = line.tokens[0] as Token;
      throw new TemplateError(`unexpected ${describeToken(first)} after the version`, first.loc, 'a block header such as "settings:" or "hexagons:"');
    }
  }
  blocks.finish(last.end);
  return raw;
}

/** Checks the block order and remembers where required blocks start, so an empty one
 *  can be reported at its header. */
function enterBlock(header: BlockName, loc: SourceLocation, blocks: BlockSequence, raw: RawTemplate): BlockName {
  blocks.enter(header, loc);
  if (header === 'hexagons') raw.hexagonsLoc = loc;
  if (header === 'inputs') raw.inputsLoc = loc;
  if (header === 'outputs') raw.outputsLoc = loc;
  return header;
}

// =======================================================================================
// JSON syntax
// =======================================================================================

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

function readJsonTemplate(text: string): RawTemplate {
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

// =======================================================================================
// Shared validation: raw form → ClusterTemplate
// =======================================================================================

function integerOf(s: RawScalar, what: string, min: number, max: number): number {
  if (s.kind !== 'number' || !s.integral || s.value < min || s.value > max) {
    throw new TemplateError(`${what} must be an integer from ${min} to ${max}, found ${s.shown}`, s.loc);
  }
  return s.value === 0 ? 0 : s.value; // "-0" would print as 0 yet differ under Object.is / deepStrictEqual
}

function checkVersion(version: RawScalar): void {
  if (version.kind !== 'number' || !version.integral || version.value !== 1) {
    throw new TemplateError(`unsupported version ${version.shown} (only version 1 exists)`, version.loc);
  }
}

type SettingReader = (value: RawScalar, settings: TemplateSettings) => void;

const SETTING_READERS: ReadonlyMap<string, SettingReader> = new Map<string, SettingReader>([
  [
    'neuron_cooldown',
    (v, s) => {
      if (v.kind !== 'number' || !Number.isFinite(v.value) || !(v.value > 1)) {
        throw new TemplateError(`neuron_cooldown must be a number greater than 1, found ${v.shown}`, v.loc);
      }
      s.neuronCooldown = v.value;
    },
  ],
  ['refractory_time', (v, s) => void (s.refractoryTime = integerOf(v, 'refractory_time', 1, MAX_REFRACTORY_TIME))],
  ['max_connection_distance', (v, s) => void (s.maxConnectionDistance = integerOf(v, 'max_connection_distance', 1, MAX_CONNECTION_DISTANCE))],
  [
    'enable_reduction',
    (v, s) => {
      if (v.kind !== 'boolean') throw new TemplateError(`enable_reduction must be true or false, found ${v.shown}`, v.loc);
      s.enableReduction = v.value;
    },
  ],
]);

/** Known settings override the defaults; each may be given once. */
function readSettings(raw: readonly RawSetting[]): TemplateSettings {
  const settings: TemplateSettings = { ...DEFAULT_SETTINGS };
  const seen = new Map<string, SourceLocation>();
  for (const { name, nameLoc, value } of raw) {
    const reader = SETTING_READERS.get(name);
    if (!reader) {
      throw new TemplateError(`unknown setting ${JSON.stringify(clip(name))}`, nameLoc, oneOf(name, [...SETTING_READERS.keys()]));
    }
    const first = seen.get(name);
    if (first) throw new TemplateError(`duplicate setting "${name}" (first set at ${formatLoc(first)})`, nameLoc);
    seen.set(name, nameLoc);
    reader(value, settings);
  }
  return settings;
}

function readPosition(raw: RawPosition, what: string): Position {
  const [x, y, z, ...extra] = raw.coords;
  if (!x || !y || extra.length > 0) {
    throw new TemplateError(`the position of ${what} must have 2 or 3 coordinates (x, y[, z]), found ${raw.coords.length}`, raw.loc);
  }
  const coordinate = (s: RawScalar, axis: string): number => integerOf(s, `${axis} coordinate of ${what}`, -MAX_COORDINATE, MAX_COORDINATE);
  return { x: coordinate(x, 'x'), y: coordinate(y, 'y'), z: z ? coordinate(z, 'z') : 1 };
}

function readHexagons(raw: RawTemplate): HexagonSpec[] {
  if (raw.hexagons.length === 0) {
    throw new TemplateError('no hexagons declared', raw.hexagonsLoc, 'at least one hexagon position x,y,z');
  }
  const declared = new Map<string, HexagonSpec>();
  return raw.hexagons.map((rawPosition) => {
    const hexagon: HexagonSpec = { position: readPosition(rawPosition, 'a hexagon'), loc: rawPosition.loc };
    const key = formatPosition(hexagon.position);
    const first = declared.get(key);
    if (first) throw new TemplateError(`duplicate hexagon ${key} (first declared at ${formatLoc(first.loc)})`, hexagon.loc);
    declared.set(key, hexagon);
    return hexagon;
  });
}

/** Position of `raw`, which must be one of the declared hexagons. */
function declaredPosition(raw: RawPosition, declared: ReadonlySet<string>, what: string): Position {
  const position = readPosition(raw, what);
  if (!declared.has(formatPosition(position))) {
    throw new TemplateError(`${what} is on hexagon ${formatPosition(position)} which is not declared`, raw.loc);
  }
  return position;
}

function readAxons(raw: readonly RawAxon[], declared: ReadonlySet<string>): AxonSpec[] {
  const bySource = new Map<string, AxonSpec>();
  return raw.map((rawAxon) => {
    const axon: AxonSpec = {
      from: declaredPosition(rawAxon.from, declared, 'the axon source'),
      to: declaredPosition(rawAxon.to, declared, 'the axon target'),
      loc: rawAxon.loc,
    };
    const from = formatPosition(axon.from);
    if (from === formatPosition(axon.to)) {
      throw new TemplateError(`axon ${from} -> ${from} starts and ends on the same hexagon`, axon.loc);
    }
    const first = bySource.get(from);
    if (first) {
      throw new TemplateError(`hexagon ${from} already has an axon (declared at ${formatLoc(first.loc)}); a hexagon has at most one`, axon.loc);
    }
    bySource.set(from, axon);
    return axon;
  });
}

function portName(raw: RawScalar): string {
  if (raw.kind !== 'string' || !NAME_RE.test(raw.value)) {
    throw new TemplateError(`invalid name ${raw.shown}`, raw.loc, 'letters, digits and _ only');
  }
  if (raw.value.length > MAX_NAME_LENGTH) {
    throw new TemplateError(`name ${raw.shown} is ${raw.value.length} characters long (at most ${MAX_NAME_LENGTH} allowed)`, raw.loc);
  }
  return raw.value;
}

function portType<T extends string>(raw: RawScalar | undefined, what: string, allowed: readonly T[]): T {
  if (!raw) return allowed[0] as T; // 'plain'
  const type = allowed.find((t) => raw.kind === 'string' && raw.value === t);
  if (!type) throw new TemplateError(`unknown ${what} type ${raw.shown}`, raw.loc, oneOf(raw.kind === 'string' ? raw.value : raw.shown, allowed));
  return type;
}

/** Names must be unique across inputs and outputs, since both are addressed by name. */
class NameRegistry {
  private readonly used = new Map<string, { kind: string; loc: SourceLocation }>();
  claim(name: string, kind: string, loc: SourceLocation): void {
    const first = this.used.get(name);
    if (first) {
      throw new TemplateError(`duplicate name "${name}" (already used by the ${first.kind} at ${formatLoc(first.loc)}); input and output names must be unique`, loc);
    }
    this.used.set(name, { kind, loc });
  }
}

function readInputs(raw: RawTemplate, declared: ReadonlySet<string>, names: NameRegistry): InputSpec[] {
  if (raw.inputs.length === 0) throw new TemplateError('no inputs declared', raw.inputsLoc, 'at least one input "name: x,y,z"');
  return raw.inputs.map((port) => {
    const name = portName(port.name);
    names.claim(name, 'input', port.loc);
    const position = declaredPosition(port.position, declared, `input "${name}"`);
    return { name, position, type: portType(port.type, 'input', INPUT_TYPES), loc: port.loc };
  });
}

function readOutputs(raw: RawTemplate, declared: ReadonlySet<string>, names: NameRegistry, inputs: readonly InputSpec[]): OutputSpec[] {
  if (raw.outputs.length === 0) throw new TemplateError('no outputs declared', raw.outputsLoc, 'at least one output "name: x,y,z"');
  return raw.outputs.map((port) => {
    const name = portName(port.name);
    names.claim(name, 'output', port.loc);
    const position = declaredPosition(port.position, declared, `output "${name}"`);
    const type = portType(port.type, 'output', OUTPUT_TYPES);
    // Input neurons are driven from outside and output neurons only collect, so one
    // hexagon cannot be both.
    const input = inputs.find((i) => formatPosition(i.position) === formatPosition(position));
    if (input) {
      throw new TemplateError(
        `output "${name}" is on hexagon ${formatPosition(position)}, which already holds input "${input.name}" ` + `(${formatLoc(input.loc)}); a hexagon cannot hold both inputs and outputs`,
        port.position.loc,
      );
    }
    return { name, position, type, loc: port.loc };
  });
}

function buildTemplate(raw: RawTemplate): ClusterTemplate {
  checkVersion(raw.version);
  const settings = readSettings(raw.settings);
  const hexagons = readHexagons(raw);
  const declared = new Set(hexagons.map((h) => formatPosition(h.position)));
  const axons = readAxons(raw.axons, declared);
  const names = new NameRegistry();
  const inputs = readInputs(raw, declared, names);
  const outputs = readOutputs(raw, declared, names, inputs);
  return { version: 1, settings, hexagons, axons, inputs, outputs };
}

// =======================================================================================
// Public API
// =======================================================================================

/**
 * Parses a cluster template, in the OpenHanami text syntax or, when the first non-blank
 * character is `{`, as JSON. The result is validated down to its topology (no cycles,
 * every output reachable from an input). Throws TemplateError; with `limits` (templates a
 * client sends), also TemplateTooLargeError before any work beyond them is done
 * (template-limits.ts). Stored templates passed the limits when they were stored.
 */
export function parseTemplate(text: string, limits?: TemplateLimits): ClusterTemplate {
  const isJson = /^\s*\{/.test(text);
  if (limits) prescanTemplate(text, limits);
  // jsonc-parser does not skip a byte-order mark; a space keeps every offset unchanged.
  const raw = isJson ? readJsonTemplate(text.replace(/^\uFEFF/, ' ')) : readTextTemplate(text);
  const template = buildTemplate(raw);
  if (limits) checkTemplateWork(template, limits);
  validateTopology(template);
  return template;
}

/** Canonical text form: every setting spelled out, 3-D positions, `plain` types implicit. */
export function templateToText(t: ClusterTemplate): string {
  const indent = '    ';
  const lines = ['version: 1', 'settings:'];
  lines.push(`${indent}neuron_cooldown: ${String(t.settings.neuronCooldown)}`);
  lines.push(`${indent}refractory_time: ${t.settings.refractoryTime}`);
  lines.push(`${indent}max_connection_distance: ${t.settings.maxConnectionDistance}`);
  lines.push(`${indent}enable_reduction: ${t.settings.enableReduction}`);
  lines.push('hexagons:', ...t.hexagons.map((h) => indent + formatPosition(h.position)));
  if (t.axons.length > 0) {
    lines.push('axons:', ...t.axons.map((a) => `${indent}${formatPosition(a.from)} -> ${formatPosition(a.to)}`));
  }
  const port = (p: InputSpec | OutputSpec): string => `${indent}${p.name}: ${formatPosition(p.position)}${p.type === 'plain' ? '' : ` (${p.type})`}`;
  lines.push('inputs:', ...t.inputs.map(port));
  lines.push('outputs:', ...t.outputs.map(port));
  return `${lines.join('\n')}\n`;
}

/** What lists show of a template: its hexagon count and its input and output names. */
export interface TemplateInterfaces {
  hexagons: number;
  inputs: string[];
  outputs: string[];
}

/**
 * The interfaces of a stored template, read from its canonical text ({@link templateToText})
 * in one pass over its lines, without parsing it or building its topology, so that views of
 * stored templates and clusters never cost a parse. Undefined for text that is not in the
 * canonical form (this service stores only canonical text).
 */
export function readCanonicalInterfaces(text: string): TemplateInterfaces | undefined {
  const lines = text.split('\n');
  if (lines[0] !== 'version: 1') return undefined;
  const out: TemplateInterfaces = { hexagons: 0, inputs: [], outputs: [] };
  let block = '';
  for (const line of lines) {
    if (line === '') continue;
    if (!line.startsWith(' ')) {
      block = line.endsWith(':') ? line.slice(0, -1) : '';
      continue;
    }
    if (block === 'hexagons') out.hexagons++;
    else if (block === 'inputs' || block === 'outputs') {
      const colon = line.indexOf(':');
      if (colon < 0) return undefined;
      out[block].push(line.slice(0, colon).trim());
    }
  }
  return out;
}

/** {@link readCanonicalInterfaces}, or a full parse for text in another form. */
export function interfacesOfCanonicalText(text: string): TemplateInterfaces {
  return readCanonicalInterfaces(text) ?? interfacesOf(parseTemplate(text));
}

function interfacesOf(t: ClusterTemplate): TemplateInterfaces {
  return { hexagons: t.hexagons.length, inputs: t.inputs.map((i) => i.name), outputs: t.outputs.map((o) => o.name) };
}

/** JSON form (as accepted by {@link parseTemplate}), one element per line. */
export function templateToJson(t: ClusterTemplate): string {
  const pos = (p: Position): string => `[${p.x}, ${p.y}, ${p.z}]`;
  const list = (items: string[]): string => (items.length === 0 ? '[]' : `[\n    ${items.join(',\n    ')}\n  ]`);
  const port = (p: InputSpec | OutputSpec): string => `{ "name": ${JSON.stringify(p.name)}, "position": ${pos(p.position)}, "type": ${JSON.stringify(p.type)} }`;
  const settings = [
    `"neuron_cooldown": ${JSON.stringify(t.settings.neuronCooldown)}`,
    `"refractory_time": ${JSON.stringify(t.settings.refractoryTime)}`,
    `"max_connection_distance": ${JSON.stringify(t.settings.maxConnectionDistance)}`,
    `"enable_reduction": ${JSON.stringify(t.settings.enableReduction)}`,
  ];
  return [
    '{',
    '  "version": 1,',
    `  "settings": {\n    ${settings.join(',\n    ')}\n  },`,
    `  "hexagons": ${list(t.hexagons.map((h) => pos(h.position)))},`,
    `  "axons": ${list(t.axons.map((a) => `{ "from": ${pos(a.from)}, "to": ${pos(a.to)} }`))},`,
    `  "inputs": ${list(t.inputs.map(port))},`,
    `  "outputs": ${list(t.outputs.map(port))}`,
    '}',
    '',
  ].join('\n');
}
