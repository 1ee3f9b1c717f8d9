/**
 * The OpenHanami text syntax of a cluster template, read into the raw form (template-raw.ts):
 * tokens per line (`#` comments and blank lines dropped), then blocks in a fixed order
 * (version, settings, hexagons, axons, inputs, outputs) and their entries. Every problem is a
 * TemplateError naming line and column; the values' meaning is checked later, by the shared
 * validator (template-validate.ts), except the version, checked first.
 */
import { TemplateError, type SourceLocation } from './template-types.js';
import { INTEGER_RE, LineIndex, NUMBER_RE, clip, formatLoc, type RawPort, type RawPosition, type RawScalar, type RawTemplate } from './template-raw.js';
import { checkVersion } from './template-validate.js';
import { closestName } from '../did-you-mean.js';

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

export function readTextTemplate(text: string): RawTemplate {
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
