/**
 * In-memory datasets as the engine consumes them. Values stay raw (0–255 pixels, sensor
 * values in any unit): nothing here normalizes. Buffers live in SharedArrayBuffers so the
 * worker pool can read them without copies.
 */

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

/** A malformed dataset file. Names the byte offset (binary formats) or row/column (CSV). */
export class DatasetFormatError extends Error {
  readonly byteOffset: number | undefined;
  readonly row: number | undefined;
  readonly column: number | undefined;
  /** CSV: the header name of the offending column, so callers can add advice about it. */
  readonly columnName: string | undefined;
  constructor(message: string, where: { byteOffset?: number; row?: number; column?: number; columnName?: string } = {}) {
    const at =
      where.byteOffset !== undefined
        ? ` at byte offset ${where.byteOffset}`
        : where.row !== undefined
          ? ` at row ${where.row}${where.column !== undefined ? `, column ${where.column}` : ''}`
          : '';
    super(`${message}${at}`);
    this.name = 'DatasetFormatError';
    this.byteOffset = where.byteOffset;
    this.row = where.row;
    this.column = where.column;
    this.columnName = where.columnName;
  }
}
