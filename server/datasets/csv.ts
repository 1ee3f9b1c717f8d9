/**
 * Streaming CSV reader. The first row is the header; each later row
 * is one sample. Inputs are stored raw as Float32 (never normalized) and must be
 * non-negative. Rows are numbered as lines of the file (the header is row 1, and a row is
 * named by the line it starts on), columns are 1-based, so errors point where an editor does.
 */

import { basename } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { CsvRecordScanner, type RecordSink } from './csv-scan.js';
import { asGzipFormatError, openDecompressed, sourceName, type ByteSource } from './source.js';
import { DatasetFormatError, DatasetTooLargeError, type Dataset, type DatasetLimits, type Targets } from './types.js';
import { closestName } from '../did-you-mean.js';

export interface CsvDatasetOptions {
  /** Input columns by header name (default: every column that is not a label or target). */
  inputColumns?: string[];
  /** Column of class labels → ClassTargets. */
  labelColumn?: string;
  /** Numeric target columns → ValueTargets. */
  targetColumns?: string[];
  /** Refuse files with more data rows than this. */
  maxRows?: number;
  /**
   * The service's limits (server/config.ts): decoded bytes, data rows, columns and the memory
   * of the parsed dataset. Breaking one is a DatasetTooLargeError naming its setting.
   */
  limits?: DatasetLimits;
  /** Dataset name (default: the file name, or "csv" for a stream). */
  name?: string;
}

/** Label storage is Uint16Array, so class indices must fit it. */
const MAX_CLASSES = 65536;
const HEADER_ROW = 1;

/** Ints, decimals, exponents, an optional sign. No "NaN", "Infinity", hex, or "1,2". */
const NUMBER_PATTERN = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const CLASS_INDEX_PATTERN = /^\d+$/;

/** Column roles and bytes of the fast path. */
const SKIP = 0;
const INPUT = 1;
const TARGET = 2;
const LABEL = 3;
const QUOTE = 34;
const COMMA = 44;
const NL = 10;
const CR = 13;
const ZERO = 48;
const DOT = 46;
const PLUS = 43;
const MINUS = 45;

/** csv-parse's ASCII trimmable bytes: tab, \n, \v, \f, \r, space. */
function isTrim(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}

function latin1(b: Uint8Array, start: number, end: number): string {
  return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString('latin1');
}

/** Exact powers of ten as doubles (10^22 is the last one). */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * A cell in the reader's number grammar (NUMBER_PATTERN) read from ASCII bytes, the same
 * double Number() gives; NaN when it is not one (or does not fit a 32-bit float), so the
 * caller falls back to the checks that name the fault. Up to 15 significant digits and
 * powers of ten up to 22 are exact in doubles, so one multiplication or division rounds
 * once, as Number() does (Clinger's fast path); longer numbers go through Number().
 */
function fastNumber(b: Uint8Array, start: number, end: number): number {
  let p = start;
  let negative = false;
  if (p < end && (b[p] === PLUS || b[p] === MINUS)) negative = b[p++] === MINUS;
  let mantissa = 0;
  let digits = 0;
  let fraction = 0;
  let d: number;
  while (p < end && (d = b[p]! - ZERO) >= 0 && d <= 9) {
    mantissa = mantissa * 10 + d;
    digits++;
    p++;
  }
  if (p < end && b[p] === DOT) {
    p++;
    while (p < end && (d = b[p]! - ZERO) >= 0 && d <= 9) {
      mantissa = mantissa * 10 + d;
      digits++;
      fraction++;
      p++;
    }
  }
  if (digits === 0) return NaN;
  let exponent = 0;
  if (p < end && (b[p] === 101 || b[p] === 69)) {
    p++;
    let negativeExponent = false;
    if (p < end && (b[p] === PLUS || b[p] === MINUS)) negativeExponent = b[p++] === MINUS;
    const first = p;
    while (p < end && (d = b[p]! - ZERO) >= 0 && d <= 9) {
      if (exponent < 100_000) exponent = exponent * 10 + d;
      p++;
    }
    if (p === first) return NaN;
    if (negativeExponent) exponent = -exponent;
  }
  if (p !== end) return NaN;
  const scale = exponent - fraction;
  let value: number;
  if (digits <= 15 && scale >= -22 && scale <= 22) {
    value = scale >= 0 ? mantissa * POW10[scale]! : mantissa / POW10[-scale]!;
    if (negative) value = -value;
  } else value = Number(latin1(b, start, end));
  return Number.isFinite(Math.fround(value)) ? value : NaN;
}

interface ParsedRecord {
  info: { lines: number };
  record: string[];
}

interface ColumnPlan {
  header: string[];
  headerRow: number;
  inputs: number[];
  label: number | undefined;
  targets: number[];
}

/** A Float32Array/Uint32Array that doubles as rows arrive (never beyond `maxLength`). */
class GrowableArray<A extends Float32Array | Uint32Array> {
  length = 0;
  private data: A;

  constructor(
    private readonly make: (buffer: ArrayBufferLike | number) => A,
    private readonly maxLength = Infinity,
  ) {
    this.data = make(Math.min(1024, Math.max(1, maxLength)));
  }

  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = this.make(Math.max(this.length + 1, Math.min(this.data.length * 2, this.maxLength)));
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }

  /** The array, with room for `n` more values past `length` (written there, then counted). */
  room(n: number): A {
    if (this.length + n > this.data.length) {
      const bigger = this.make(Math.max(this.length + n, Math.min(this.data.length * 2, this.maxLength)));
      bigger.set(this.data);
      this.data = bigger;
    }
    return this.data;
  }

  at(index: number): number {
    return this.data[index] ?? 0;
  }

  /** The filled part, copied once into a SharedArrayBuffer for the worker threads. */
  toShared(): A {
    const shared = this.make(new SharedArrayBuffer(this.length * this.data.BYTES_PER_ELEMENT));
    shared.set(this.data.subarray(0, this.length));
    return shared;
  }
}

const float32s = (source: ArrayBufferLike | number): Float32Array => (typeof source === 'number' ? new Float32Array(source) : new Float32Array(source));
const uint32s = (source: ArrayBufferLike | number): Uint32Array => (typeof source === 'number' ? new Uint32Array(source) : new Uint32Array(source));

/** Longest piece of a file (a column name, a cell) quoted in a message: files are the client's text. */
const SHOWN_MAX_CHARS = 64;

/** A column name or cell for a message: JSON-quoted, cut after SHOWN_MAX_CHARS characters. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > SHOWN_MAX_CHARS ? `${text.slice(0, SHOWN_MAX_CHARS)}…` : text);
}

/** A number as written, cut after SHOWN_MAX_CHARS characters. */
function clipped(text: string): string {
  return text.length > SHOWN_MAX_CHARS ? `${text.slice(0, SHOWN_MAX_CHARS)}…` : text;
}

/** The header's names for messages: the first ten (each cut), then the count. */
export function listColumns(header: string[]): string {
  const shown = header.slice(0, 10).map(clipped).join(', ');
  return header.length > 10 ? `${shown}, … (${header.length} columns)` : shown;
}

/** Resolves the options' column names against the header (errors name the header row). */
function planColumns(header: string[], options: CsvDatasetOptions, headerRow: number): ColumnPlan {
  checkHeaderNames(header, headerRow);
  const indexOf = (name: string, option: string): number => {
    const index = header.indexOf(name);
    if (index < 0) {
      const guess = closestName(name, header);
      const hint = guess === undefined ? '' : `; did you mean "${guess}"?`;
      throw new DatasetFormatError(`unknown column ${quoted(name)} in ${option} (the header has: ${listColumns(header)}${hint})`, { row: headerRow });
    }
    return index;
  };
  const label = options.labelColumn === undefined ? undefined : indexOf(options.labelColumn, 'labelColumn');
  const targets = (options.targetColumns ?? []).map((name) => indexOf(name, 'targetColumns'));
  const claimed = new Set([...(label === undefined ? [] : [label]), ...targets]);
  const inputs = options.inputColumns?.map((name) => indexOf(name, 'inputColumns')) ?? header.map((_, i) => i).filter((i) => !claimed.has(i));
  checkEachColumnOnce(header, [...inputs, ...(label === undefined ? [] : [label]), ...targets], headerRow);
  if (inputs.length === 0) throw new DatasetFormatError('no input columns', { row: headerRow });
  return { header, headerRow, inputs, label, targets };
}

function checkHeaderNames(header: string[], headerRow: number): void {
  const seen = new Set<string>();
  header.forEach((name, i) => {
    if (name === '') throw new DatasetFormatError('empty column name in the header', { row: headerRow, column: i + 1 });
    if (seen.has(name)) throw new DatasetFormatError(`duplicate column name ${quoted(name)} in the header`, { row: headerRow, column: i + 1 });
    seen.add(name);
  });
}

/** A column plays one role, once: an input, the label, or a target. */
function checkEachColumnOnce(header: string[], used: number[], headerRow: number): void {
  const seen = new Set<number>();
  for (const index of used) {
    if (seen.has(index)) {
      throw new DatasetFormatError(`column ${quoted(header[index] ?? '')} is used twice (as input, label or target)`, { row: headerRow });
    }
    seen.add(index);
  }
}

/** Parses one numeric cell; `row`/`column` name it in errors. */
function parseNumber(cell: string, name: string, row: number, column: number): number {
  const where = { row, column, columnName: name };
  // csv-parse trims unquoted cells only; spaces around a number are unambiguous either way.
  const text = cell.trim();
  if (text === '') throw new DatasetFormatError(`empty cell in column ${quoted(name)}`, where);
  if (!NUMBER_PATTERN.test(text)) throw new DatasetFormatError(`not a number in column ${quoted(name)}: ${quoted(cell)}`, where);
  const value = Number(text);
  if (!Number.isFinite(Math.fround(value))) {
    throw new DatasetFormatError(`value ${clipped(text)} in column ${quoted(name)} does not fit a 32-bit float`, where);
  }
  return value;
}

/** The line a record starts on: csv-parse reports the line it ends on, and quoted cells may span lines. */
function recordStartLine(endLine: number, cells: string[]): number {
  let newlines = 0;
  for (const cell of cells) for (let at = cell.indexOf('\n'); at >= 0; at = cell.indexOf('\n', at + 1)) newlines++;
  return endLine - newlines;
}

/** Memory a parsed row takes: Float32 inputs and values, and its label (index, then class). */
function rowBytes(plan: ColumnPlan): number {
  return 4 * (plan.inputs.length + plan.targets.length) + (plan.label === undefined ? 0 : 6);
}

/** Accumulates rows into growable buffers; finish() makes the SharedArrayBuffer-backed Dataset. */
class CsvDatasetBuilder {
  rows = 0;
  private readonly inputs: GrowableArray<Float32Array>;
  private readonly values: GrowableArray<Float32Array>;
  /** Per row: the label's index in order of first appearance. */
  private readonly labelSeen: GrowableArray<Uint32Array>;
  private readonly labelOrder: string[] = [];
  private readonly labelIndex = new Map<string, number>();
  /** Rows the memory limit allows (HANAMI_MAX_DATASET_BYTES), checked before each row. */
  private readonly rowsByMemory: number;

  constructor(
    private readonly plan: ColumnPlan,
    private readonly maxRows: number,
    private readonly limits: DatasetLimits | undefined,
  ) {
    const perRow = rowBytes(plan);
    this.rowsByMemory = limits?.maxDatasetBytes === undefined ? Infinity : Math.floor(limits.maxDatasetBytes / perRow);
    // The buffers never grow past what the limit allows (no doubling overshoot).
    this.inputs = new GrowableArray(float32s, this.rowsByMemory * plan.inputs.length);
    this.values = new GrowableArray(float32s, this.rowsByMemory * plan.targets.length);
    this.labelSeen = new GrowableArray(uint32s, plan.label === undefined ? 1 : this.rowsByMemory);
    this.roles = new Uint8Array(plan.header.length);
    this.slots = new Int32Array(plan.header.length);
    plan.inputs.forEach((column, slot) => {
      this.roles[column] = INPUT;
      this.slots[column] = slot;
    });
    plan.targets.forEach((column, slot) => {
      this.roles[column] = TARGET;
      this.slots[column] = slot;
    });
    if (plan.label !== undefined) this.roles[plan.label] = LABEL;
    this.fastRowLimit = Math.min(limits?.maxRows ?? Infinity, this.rowsByMemory, maxRows);
  }

  /** Per column: what it is (SKIP, INPUT, TARGET, LABEL) and its place in the row's inputs or targets. */
  private readonly roles: Uint8Array;
  private readonly slots: Int32Array;
  /** Rows the fast path may add; at this count addRow's checks name the limit. */
  private readonly fastRowLimit: number;
  /** Label index by integer label (canonical digits only), -1 while unseen. */
  private readonly intLabels = new Int32Array(MAX_CLASSES).fill(-1);

  /**
   * Parses a plain record straight from its bytes: unquoted (or simply quoted) ASCII cells,
   * numbers in the reader's grammar, as many cells as the header. Anything else (an error to
   * name, an escaped quote, non-ASCII bytes, a limit reached) returns false and changes
   * nothing: the caller then parses the record with csv-parse and addRow, which name the fault.
   */
  addRowFast(b: Uint8Array, start: number, end: number): boolean {
    if (this.rows >= this.fastRowLimit) return false;
    const roles = this.roles;
    const slots = this.slots;
    const columns = roles.length;
    const inputWidth = this.plan.inputs.length;
    const targetWidth = this.plan.targets.length;
    // Values go past the arrays' lengths and count once the whole row is good.
    const inputs = this.inputs.room(inputWidth);
    const inputAt = this.inputs.length;
    const values = this.values.room(targetWidth);
    const valueAt = this.values.length;
    let p = start;
    let label = -1;
    for (let col = 0; col < columns; col++) {
      // Leading trimmable bytes (space, tab, \n, \v, \f, \r).
      while (p < end && isTrim(b[p]!)) p++;
      let cellStart = p;
      let cellEnd: number;
      if (p < end && b[p] === QUOTE) {
        cellStart = ++p;
        while (p < end && b[p] !== QUOTE) p++;
        if (p >= end) return false;
        cellEnd = p++;
        if (p < end && b[p] === QUOTE) return false;
        while (p < end && isTrim(b[p]!)) p++;
        if (p < end && b[p] !== COMMA) return false;
        for (let q = cellStart; q < cellEnd; q++) if (b[q]! >= 0x80 || b[q] === NL || b[q] === CR) return false;
      } else {
        while (p < end && b[p] !== COMMA) {
          const c = b[p]!;
          if (c === QUOTE || c >= 0x80) return false;
          p++;
        }
        cellEnd = p;
        while (cellEnd > cellStart && isTrim(b[cellEnd - 1]!)) cellEnd--;
      }
      // p is at the comma after the cell, or at the end.
      if (col < columns - 1) {
        if (p >= end) return false;
        p++;
      } else if (p < end) return false;
      const role = roles[col]!;
      if (role === SKIP) continue;
      if (role === LABEL) {
        label = this.fastLabel(b, cellStart, cellEnd);
        if (label < 0) return false;
        continue;
      }
      const value = fastNumber(b, cellStart, cellEnd);
      if (Number.isNaN(value)) return false;
      if (role === INPUT) {
        if (value < 0) return false;
        inputs[inputAt + slots[col]!] = value;
      } else values[valueAt + slots[col]!] = value;
    }
    this.inputs.length += inputWidth;
    this.values.length += targetWidth;
    if (label >= 0) this.labelSeen.push(label);
    this.rows++;
    return true;
  }

  /** The label's index for a cell of plain ASCII, or -1 (empty, or over MAX_CLASSES). */
  private fastLabel(b: Uint8Array, start: number, end: number): number {
    if (start === end) return -1;
    const digits = end - start;
    if (digits <= 5 && (digits === 1 || b[start] !== ZERO)) {
      let v = 0;
      for (let q = start; q < end; q++) {
        const d = b[q]! - ZERO;
        if (d < 0 || d > 9) {
          v = -1;
          break;
        }
        v = v * 10 + d;
      }
      if (v >= 0 && v < MAX_CLASSES) {
        const known = this.intLabels[v]!;
        if (known >= 0) return known;
        const index = this.labelIndexFor(String(v));
        if (index >= 0) this.intLabels[v] = index;
        return index;
      }
    }
    return this.labelIndexFor(latin1(b, start, end));
  }

  /** The index of a label (new ones in order of first appearance), or -1 past MAX_CLASSES. */
  private labelIndexFor(label: string): number {
    let index = this.labelIndex.get(label);
    if (index === undefined) {
      if (this.labelOrder.length === MAX_CLASSES) return -1;
      index = this.labelOrder.length;
      this.labelIndex.set(label, index);
      this.labelOrder.push(label);
    }
    return index;
  }

  addRow(cells: string[], row: number): void {
    const { header } = this.plan;
    if (cells.length !== header.length) {
      throw new DatasetFormatError(`the row has ${cells.length} cells but the header has ${header.length} columns`, {
        row,
        column: Math.min(cells.length, header.length) + 1,
      });
    }
    const maxRows = this.limits?.maxRows;
    if (maxRows !== undefined && this.rows === maxRows) {
      throw new DatasetTooLargeError(`more than ${maxRows} data rows (HANAMI_CSV_MAX_ROWS)`, { name: 'HANAMI_CSV_MAX_ROWS', value: maxRows }, { row });
    }
    if (this.rows === this.rowsByMemory) {
      const max = this.limits?.maxDatasetBytes ?? 0;
      throw new DatasetTooLargeError(
        `the parsed dataset would need more than ${max} bytes in memory (${this.rows} rows of ${rowBytes(this.plan)} bytes; HANAMI_MAX_DATASET_BYTES)`,
        { name: 'HANAMI_MAX_DATASET_BYTES', value: max },
        { row },
      );
    }
    if (this.rows === this.maxRows) throw new DatasetFormatError(`more than ${this.maxRows} data rows (option maxRows)`, { row });
    for (const i of this.plan.inputs) this.inputs.push(this.parseInput(cells, i, row));
    for (const i of this.plan.targets) this.values.push(parseNumber(cells[i] ?? '', header[i] ?? '', row, i + 1));
    if (this.plan.label !== undefined) this.labelSeen.push(this.labelIndexOf(cells, this.plan.label, row));
    this.rows++;
  }

  private parseInput(cells: string[], i: number, row: number): number {
    const name = this.plan.header[i] ?? '';
    const value = parseNumber(cells[i] ?? '', name, row, i + 1);
    if (value < 0) {
      throw new DatasetFormatError(`negative value in column ${quoted(name)}: the network takes positive raw values; got ${clipped(cells[i] ?? '')}`, {
        row,
        column: i + 1,
      });
    }
    return value;
  }

  private labelIndexOf(cells: string[], i: number, row: number): number {
    const label = cells[i] ?? '';
    if (label === '') throw new DatasetFormatError(`empty cell in column ${quoted(this.plan.header[i] ?? '')}`, { row, column: i + 1 });
    let index = this.labelIndex.get(label);
    if (index === undefined) {
      if (this.labelOrder.length === MAX_CLASSES) {
        throw new DatasetFormatError(`more than ${MAX_CLASSES} distinct labels`, { row, column: i + 1 });
      }
      index = this.labelOrder.length;
      this.labelIndex.set(label, index);
      this.labelOrder.push(label);
    }
    return index;
  }

  finish(name: string): Dataset {
    if (this.rows === 0) throw new DatasetFormatError('no data rows (only a header)', { row: this.plan.headerRow + 1 });
    const dataset: Dataset = {
      name,
      rows: this.rows,
      inputWidth: this.plan.inputs.length,
      inputColumns: this.plan.inputs.map((i) => this.plan.header[i] ?? ''),
      inputs: this.inputs.toShared(),
    };
    const targets = this.targets();
    if (targets !== undefined) dataset.targets = targets;
    return dataset;
  }

  private targets(): Targets | undefined {
    if (this.plan.label !== undefined) return this.classTargets();
    if (this.plan.targets.length === 0) return undefined;
    return { kind: 'values', columns: this.plan.targets.map((i) => this.plan.header[i] ?? ''), values: this.values.toShared() };
  }

  /**
   * Integer labels 0..N name their own class index (so "7" is class 7 whatever the row
   * order); any other labels become classes in order of first appearance.
   */
  private classTargets(): Targets {
    const integers = this.labelOrder.every((label) => CLASS_INDEX_PATTERN.test(label) && Number(label) < MAX_CLASSES);
    const classOf = integers ? this.labelOrder.map(Number) : this.labelOrder.map((_, k) => k);
    const classCount = integers ? Math.max(...classOf) + 1 : this.labelOrder.length;
    const classes = integers ? Array.from({ length: classCount }, (_, k) => String(k)) : [...this.labelOrder];
    const labels = new Uint16Array(new SharedArrayBuffer(this.rows * Uint16Array.BYTES_PER_ELEMENT));
    for (let r = 0; r < this.rows; r++) labels[r] = classOf[this.labelSeen.at(r)] ?? 0;
    return { kind: 'class', classes, labels };
  }
}

/** csv-parse's own errors (an unclosed quote, say) carry the line they were found on. */
function asCsvFormatError(error: unknown): unknown {
  if (!(error instanceof CsvError)) return error;
  const context = error as CsvError & { lines?: unknown; column?: unknown };
  const where: { row?: number; column?: number } = {};
  if (typeof context.lines === 'number') where.row = context.lines;
  if (typeof context.column === 'number') where.column = context.column + 1;
  return new DatasetFormatError(`malformed CSV: ${error.message}`, where);
}

function checkOptions(options: CsvDatasetOptions): void {
  if (options.labelColumn !== undefined && options.targetColumns !== undefined) {
    throw new TypeError('readCsvDataset: give labelColumn or targetColumns, not both');
  }
  if (options.maxRows !== undefined && !(Number.isInteger(options.maxRows) && options.maxRows >= 0)) {
    throw new RangeError(`readCsvDataset: maxRows must be a non-negative integer, got ${options.maxRows}`);
  }
}

/** The header row of a CSV file (gzipped or not), without reading further; [] for an empty file. */
export async function readCsvHeader(source: ByteSource): Promise<string[]> {
  const bytes = await openDecompressed(source);
  const parser = parse({ trim: true, bom: true, skip_empty_lines: true, relax_column_count: true });
  const records: Readable = pipeline(bytes, parser, () => undefined);
  try {
    for await (const record of records as AsyncIterable<string[]>) return record;
    return [];
  } catch (error) {
    throw asCsvFormatError(asGzipFormatError(error, parser.info.bytes, sourceName(source)));
  } finally {
    records.destroy();
  }
}

/** Longest field or row, in characters, per column the limit allows (names, numbers). */
const CHARS_PER_COLUMN = 64;

/** With limits, a row may not be longer than HANAMI_CSV_MAX_COLUMNS columns of 64 characters. */
export function maxRecordChars(limits: DatasetLimits | undefined): number {
  return limits?.maxColumns === undefined ? 0 : limits.maxColumns * CHARS_PER_COLUMN;
}

/** The header is checked against HANAMI_CSV_MAX_COLUMNS. */
export function checkColumnCount(header: string[], limits: DatasetLimits | undefined, row: number): void {
  const max = limits?.maxColumns;
  if (max !== undefined && header.length > max) {
    throw new DatasetTooLargeError(`the header has ${header.length} columns; at most ${max} are allowed (HANAMI_CSV_MAX_COLUMNS)`, { name: 'HANAMI_CSV_MAX_COLUMNS', value: max }, { row });
  }
}

/** csv-parse's own error for a record longer than max_record_size, as a limit. */
function asRecordSizeError(error: unknown, limits: DatasetLimits | undefined): unknown {
  if (!(error instanceof CsvError) || error.code !== 'CSV_MAX_RECORD_SIZE' || limits?.maxColumns === undefined) return error;
  const lines = (error as CsvError & { lines?: unknown }).lines;
  return recordTooLong(limits, typeof lines === 'number' ? lines : undefined);
}

/** A row longer than HANAMI_CSV_MAX_COLUMNS allows, noticed at `row`. */
function recordTooLong(limits: DatasetLimits | undefined, row: number | undefined): unknown {
  const max = limits?.maxColumns ?? 0;
  return new DatasetTooLargeError(
    `a row is longer than ${maxRecordChars(limits)} characters (HANAMI_CSV_MAX_COLUMNS ${max} columns × ${CHARS_PER_COLUMN})`,
    { name: 'HANAMI_CSV_MAX_COLUMNS', value: max },
    row === undefined ? {} : { row },
  );
}

/** Turns the scanner's records into rows: straight from the bytes when plain, else via csv-parse. */
class CsvReader implements RecordSink {
  builder: CsvDatasetBuilder | undefined;
  readonly scanner: CsvRecordScanner;
  private readonly maxRecord: number;

  constructor(private readonly options: CsvDatasetOptions) {
    this.maxRecord = maxRecordChars(options.limits);
    this.scanner = new CsvRecordScanner(this, this.maxRecord);
  }

  record(bytes: Uint8Array, start: number, end: number, line: number, breaks: number): void {
    if (this.builder?.addRowFast(bytes, start, end) === true || start === end) return;
    for (const cells of this.cellsOf(bytes, start, end, line)) {
      // Named as before: csv-parse's line at the record's end, less the line ends in its cells.
      const row = recordStartLine(line + breaks, cells);
      if (this.builder === undefined) {
        checkColumnCount(cells, this.options.limits, row);
        this.builder = new CsvDatasetBuilder(planColumns(cells, this.options, row), this.options.maxRows ?? Infinity, this.options.limits);
      } else this.builder.addRow(cells, row);
    }
  }

  tooLong(line: number): never {
    throw recordTooLong(this.options.limits, line);
  }

  /** One record through csv-parse (the header, quoted or odd cells, and every fault). */
  private cellsOf(bytes: Uint8Array, start: number, end: number, line: number): string[][] {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('utf8');
    const lineEnd = this.scanner.lineEndText();
    const options = { relax_column_count: true, trim: true, skip_empty_lines: true, max_record_size: this.maxRecord, ...(lineEnd === undefined ? {} : { record_delimiter: lineEnd }) };
    try {
      const records: string[][] = parseSync(text, options);
      return records;
    } catch (error) {
      if (!(error instanceof CsvError)) throw error;
      // Again behind the lines before it, so the message names the file's line.
      try {
        parseSync((lineEnd ?? '\n').repeat(line - 1) + text, options);
      } catch (again) {
        throw asCsvFormatError(asRecordSizeError(again, this.options.limits));
      }
      throw asCsvFormatError(asRecordSizeError(error, this.options.limits));
    }
  }
}

/** Reads a CSV file or stream (gzipped or not) into a Dataset; see CsvDatasetOptions. */
export async function readCsvDataset(source: ByteSource, options: CsvDatasetOptions = {}): Promise<Dataset> {
  checkOptions(options);
  const bytes = await openDecompressed(source, options.limits);
  const reader = new CsvReader(options);
  try {
    for await (const chunk of bytes as AsyncIterable<Buffer>) reader.scanner.push(chunk);
    reader.scanner.end();
  } catch (error) {
    throw asGzipFormatError(error, reader.scanner.bytesSeen, sourceName(source));
  } finally {
    bytes.destroy();
  }
  if (reader.builder === undefined) throw new DatasetFormatError('empty file: expected a header row', { row: HEADER_ROW });
  return reader.builder.finish(options.name ?? (typeof source === 'string' ? basename(source) : 'csv'));
}

/**
 * The reader as it was before the byte scanner: csv-parse's stream API, one string per cell.
 * Kept as the reference the tests compare readCsvDataset with (same datasets, same errors).
 */
export async function readCsvDatasetWithCsvParse(source: ByteSource, options: CsvDatasetOptions = {}): Promise<Dataset> {
  checkOptions(options);
  const bytes = await openDecompressed(source, options.limits);
  const parser = parse({ info: true, relax_column_count: true, trim: true, bom: true, skip_empty_lines: true, max_record_size: maxRecordChars(options.limits) });
  // Ragged rows are checked here rather than by csv-parse so the error can name the column.
  const records: Readable = pipeline(bytes, parser, () => undefined);
  let builder: CsvDatasetBuilder | undefined;
  try {
    for await (const { info, record } of records as AsyncIterable<ParsedRecord>) {
      const row = recordStartLine(info.lines, record);
      if (builder === undefined) {
        checkColumnCount(record, options.limits, row);
        builder = new CsvDatasetBuilder(planColumns(record, options, row), options.maxRows ?? Infinity, options.limits);
      } else builder.addRow(record, row);
    }
  } catch (error) {
    throw asCsvFormatError(asRecordSizeError(asGzipFormatError(error, parser.info.bytes, sourceName(source)), options.limits));
  } finally {
    records.destroy();
  }
  if (builder === undefined) throw new DatasetFormatError('empty file: expected a header row', { row: HEADER_ROW });
  return builder.finish(options.name ?? (typeof source === 'string' ? basename(source) : 'csv'));
}
