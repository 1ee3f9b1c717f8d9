/**
 * The raw form of a cluster template, shared by both front ends (template-text.ts,
 * template-json.ts) and the validator (template-validate.ts): values still untyped, each with
 * its source location. Also what all of them need to report problems: line and column
 * bookkeeping (`LineIndex`) and message helpers.
 */
import type { SourceLocation } from './template-types.js';
import { closestName } from '../did-you-mean.js';

export const INTEGER_RE = /^-?[0-9]+$/;
export const NUMBER_RE = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;

/** A value as written, before its meaning is known; `shown` is how messages quote it. */
export type RawScalar = ({ kind: 'number'; value: number; integral: boolean } | { kind: 'boolean'; value: boolean } | { kind: 'string'; value: string } | { kind: 'other' }) & {
  shown: string;
  loc: SourceLocation;
};

export interface RawPosition {
  coords: RawScalar[];
  loc: SourceLocation;
}

export interface RawSetting {
  name: string;
  nameLoc: SourceLocation;
  value: RawScalar;
}

export interface RawAxon {
  from: RawPosition;
  to: RawPosition;
  loc: SourceLocation;
}

export interface RawPort {
  name: RawScalar;
  position: RawPosition;
  type: RawScalar | undefined;
  loc: SourceLocation;
}

export interface RawTemplate {
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
export function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

export function formatLoc(loc: SourceLocation): string {
  return `line ${loc.line}, column ${loc.column}`;
}

/** What an unknown name should have been: the list, plus the likely intent of a typo. */
export function oneOf(name: string, known: readonly string[]): string {
  const guess = closestName(name, known);
  return `one of ${known.join(', ')}${guess === undefined ? '' : `; did you mean "${guess}"?`}`;
}

/** Maps string offsets to 1-based line/column. Lines end at \n, \r\n or \r; columns count
 *  characters (code points), a tab counting as one. */
export class LineIndex {
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
