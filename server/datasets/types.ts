/**
 * In-memory datasets as the engine consumes them. Values stay raw (0–255 pixels, sensor
 * values in any unit): nothing here normalizes. Buffers live in SharedArrayBuffers so the
 * worker pool can read them without copies.
 */

import { DomainError, type ErrorDetails, type LimitDetail } from '../errors.js';

export type InputArray = Uint8Array | Float32Array;

export interface ClassTargets {
  kind: 'class';
  /** Class names in index order (for IDX labels: "0".."9"). */
  classes: string[];
  /** One class index per row. */
  labels: Uint16Array;
}

export interface ValueTargets {
  kind: 'values';
  /** Names of the target columns, in order. */
  columns: string[];
  /** rows × columns.length, row-major. */
  values: Float32Array;
}

export type Targets = ClassTargets | ValueTargets;

export interface Dataset {
  /** Human-readable name, e.g. the file name. */
  name: string;
  rows: number;
  /** Width of one input row (784 for MNIST). */
  inputWidth: number;
  /** Names of the input columns (CSV) or empty for image data. */
  inputColumns: string[];
  /** For image data: [rows, cols] of one image, else undefined. */
  imageShape?: [number, number];
  /** rows × inputWidth, row-major, raw values. */
  inputs: InputArray;
  targets?: Targets;
}

/**
 * A dataset part that is larger than a limit once decompressed or parsed: its decoded bytes
 * (counted while decompressing), its rows or columns (CSV), or the memory its parsed form
 * would take. `limit` names the setting; `byteOffset` or `row` say where it was noticed.
 */
export class DatasetTooLargeError extends DomainError {
  constructor(message: string, limit: LimitDetail, where: { byteOffset?: number; row?: number; usage?: number } = {}) {
    super('dataset_too_large', message, { limit, ...where });
    this.name = 'DatasetTooLargeError';
  }
}

/** The limits a dataset part is read under (server/config.ts; none by default, for the CLI). */
export interface DatasetLimits {
  /** Bytes after decompression, per part (HANAMI_MAX_DECODED_BYTES, or what is left of
   *  HANAMI_PROJECT_MAX_DECODED_BYTES when that is less: then `decodedLimit` names it). */
  maxDecodedBytes?: number | undefined;
  decodedLimit?: LimitDetail | undefined;
  /** Project usage already counted against `decodedLimit` (for the message). */
  decodedUsage?: number | undefined;
  /** Memory of the parsed dataset: inputs and targets (HANAMI_MAX_DATASET_BYTES). */
  maxDatasetBytes?: number;
  /** CSV data rows (HANAMI_CSV_MAX_ROWS) and columns (HANAMI_CSV_MAX_COLUMNS). */
  maxRows?: number;
  maxColumns?: number;
  /** Told the decoded size of a stream once it was read to its end (quota accounting). */
  onDecodedBytes?: (bytes: number) => void;
}

/** A malformed dataset file. Names the byte offset (binary formats) or row/column (CSV). */
export class DatasetFormatError extends DomainError {
  readonly byteOffset: number | undefined;
  readonly row: number | undefined;
  readonly column: number | undefined;
  /** CSV: the header name of the offending column, so callers can add advice about it. */
  readonly columnName: string | undefined;
  constructor(message: string, where: { byteOffset?: number; row?: number; column?: number; columnName?: string } = {}) {
    const at =
      where.byteOffset !== undefined ? ` at byte offset ${where.byteOffset}` : where.row !== undefined ? ` at row ${where.row}${where.column !== undefined ? `, column ${where.column}` : ''}` : '';
    const details: ErrorDetails = {};
    if (where.byteOffset !== undefined) details.byteOffset = where.byteOffset;
    if (where.row !== undefined) details.row = where.row;
    if (where.column !== undefined) details.column = where.column;
    super('bad_dataset', `${message}${at}`, details);
    this.name = 'DatasetFormatError';
    this.byteOffset = where.byteOffset;
    this.row = where.row;
    this.column = where.column;
    this.columnName = where.columnName;
  }
}
