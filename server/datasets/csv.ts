/**
 * Streaming CSV reader (csv-parse's stream API). The first row is the header; each later row
 * is one sample. Inputs are stored raw as Float32 (never normalized) and must be
 * non-negative. Rows are numbered as lines of the file (the header is row 1, and a row is
 * named by the line it starts on), columns are 1-based, so errors point where an editor does.
 */

import { basename } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
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
  return new DatasetTooLargeError(
    `a row is longer than ${maxRecordChars(limits)} characters (HANAMI_CSV_MAX_COLUMNS ${limits.maxColumns} columns × ${CHARS_PER_COLUMN})`,
    { name: 'HANAMI_CSV_MAX_COLUMNS', value: limits.maxColumns },
    typeof lines === 'number' ? { row: lines } : {},
  );
}

/** Reads a CSV file or stream (gzipped or not) into a Dataset; see CsvDatasetOptions. */
export async function readCsvDataset(source: ByteSource, options: CsvDatasetOptions = {}): Promise<Dataset> {
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
