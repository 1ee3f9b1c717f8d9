/**
 * Streaming reader and writer for IDX, the MNIST file format:
 *
 *   00 00 <type> <dims>  then dims × u32 big-endian sizes  then the data, big-endian.
 *
 * The header is parsed incrementally from stream chunks and the output array is allocated
 * once from its dimensions, so a file (gzipped or not) is never held in memory twice.
 * Values stay raw: u8 pixels stay 0–255 and nothing is normalized.
 */

import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { asGzipFormatError, forEachChunk, sourceName, type ByteSource } from './source.js';
import { DatasetFormatError, DatasetTooLargeError, type ClassTargets, type Dataset, type DatasetLimits } from './types.js';

export const IDX_U8 = 0x08;
export const IDX_I8 = 0x09;
export const IDX_I16 = 0x0b;
export const IDX_I32 = 0x0c;
export const IDX_F32 = 0x0d;
export const IDX_F64 = 0x0e;

export type IdxType = typeof IDX_U8 | typeof IDX_I8 | typeof IDX_I16 | typeof IDX_I32 | typeof IDX_F32 | typeof IDX_F64;

interface IdxTypeInfo {
  name: string;
  size: number;
  float: boolean;
  signed: boolean;
  read: (view: DataView, at: number) => number;
}

const IDX_TYPES: ReadonlyMap<number, IdxTypeInfo> = new Map<number, IdxTypeInfo>([
  [IDX_U8, { name: 'u8', size: 1, float: false, signed: false, read: (v, at) => v.getUint8(at) }],
  [IDX_I8, { name: 'i8', size: 1, float: false, signed: true, read: (v, at) => v.getInt8(at) }],
  [IDX_I16, { name: 'i16', size: 2, float: false, signed: true, read: (v, at) => v.getInt16(at, false) }],
  [IDX_I32, { name: 'i32', size: 4, float: false, signed: true, read: (v, at) => v.getInt32(at, false) }],
  [IDX_F32, { name: 'f32', size: 4, float: true, signed: true, read: (v, at) => v.getFloat32(at, false) }],
  [IDX_F64, { name: 'f64', size: 8, float: true, signed: true, read: (v, at) => v.getFloat64(at, false) }],
]);

/** Standard MNIST magic numbers (00 00 08 03 and 00 00 08 01). */
export const IDX_IMAGES_MAGIC = 2051;
export const IDX_LABELS_MAGIC = 2049;

const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;
const MAGIC_LENGTH = 4;
const MAX_U32 = 0xffffffff;

export interface ReadIdxOptions {
  /** Cap on the decoded array's size in bytes (default 2 GiB), checked against the header. */
  maxBytes?: number | undefined;
  /** The setting `maxBytes` comes from (the service's HANAMI_MAX_DATASET_BYTES): over it is
   *  then a DatasetTooLargeError naming it, rather than a format error. */
  maxBytesSetting?: string;
  /** Limits on the decompressed stream (maxDecodedBytes). */
  limits?: DatasetLimits;
  /** Reject negative values in signed types (default true: the network takes positive raw values). */
  requireNonNegative?: boolean;
}

export interface IdxFile {
  type: IdxType;
  dims: number[];
  /** u8 data stays Uint8Array; every other type becomes Float32Array. SharedArrayBuffer-backed. */
  data: Uint8Array | Float32Array;
  /** Length of the header: element i of `data` starts at byte dataOffset + i × element size. */
  dataOffset: number;
}

export function idxTypeName(type: number): string {
  return IDX_TYPES.get(type)?.name ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export function idxElementSize(type: IdxType): number {
  return typeInfo(type).size;
}

function typeInfo(type: number): IdxTypeInfo {
  const info = IDX_TYPES.get(type);
  if (info === undefined) throw new RangeError(`unknown IDX type 0x${type.toString(16)}`);
  return info;
}

interface Layout {
  type: IdxType;
  info: IdxTypeInfo;
  dims: number[];
  count: number;
  dataOffset: number;
}

/**
 * Push parser: feed it the decompressed bytes chunk by chunk, then call finish(). Offsets in
 * its errors count decompressed bytes from the start of the file.
 */
class IdxStreamParser {
  /** Decompressed bytes consumed so far. */
  offset = 0;
  private readonly header = Buffer.alloc(MAGIC_LENGTH + 255 * 4);
  private headerLength = MAGIC_LENGTH;
  private layout: Layout | undefined;
  private output: Uint8Array | Float32Array | undefined;
  private decoded = 0;
  /** The start of an element split across two chunks. */
  private readonly carry = Buffer.alloc(8);
  private carried = 0;
  private readonly maxBytes: number;
  private readonly maxBytesSetting: string | undefined;
  private readonly requireNonNegative: boolean;

  constructor(
    options: ReadIdxOptions,
    private readonly name: string | undefined,
    /** Validate the header only: nothing is allocated, data bytes are ignored. */
    private readonly headerOnly = false,
  ) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.maxBytesSetting = options.maxBytesSetting;
    this.requireNonNegative = options.requireNonNegative ?? true;
  }

  /** The header is complete (and valid). */
  get headerDone(): boolean {
    return this.layout !== undefined;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.layout === undefined) pos += this.takeHeaderBytes(chunk, pos);
      else if (this.headerOnly) return;
      else if (this.decoded < this.layout.count) pos += this.takeDataBytes(this.layout, chunk, pos);
      else throw this.fail(`unexpected trailing bytes after the data (the header declares ${this.dataBytes(this.layout)} bytes of data)`, this.offset);
    }
  }

  finish(): IdxFile {
    const layout = this.layout;
    if (layout === undefined || this.output === undefined) {
      throw this.fail(`file ends inside the header: expected ${this.headerLength} header bytes, got ${this.offset}`, this.offset);
    }
    const expected = this.dataBytes(layout);
    const got = this.offset - layout.dataOffset;
    if (got < expected) throw this.fail(`expected ${expected} bytes of data, got ${got}`, this.offset);
    return { type: layout.type, dims: layout.dims, data: this.output, dataOffset: layout.dataOffset };
  }

  private fail(message: string, byteOffset: number): DatasetFormatError {
    const prefix = this.name === undefined ? '' : `${this.name}: `;
    return new DatasetFormatError(prefix + message, { byteOffset });
  }

  private dataBytes(layout: Layout): number {
    return layout.count * layout.info.size;
  }

  /** Copies header bytes as they arrive and validates each one as soon as it is complete. */
  private takeHeaderBytes(chunk: Buffer, pos: number): number {
    const start = this.offset;
    const n = Math.min(this.headerLength - start, chunk.length - pos);
    chunk.copy(this.header, start, pos, pos + n);
    this.offset += n;
    for (let at = start; at < this.offset; at++) this.checkHeaderByte(at);
    if (this.offset === this.headerLength) this.startData();
    return n;
  }

  private checkHeaderByte(at: number): void {
    const byte = this.header[at] ?? 0;
    if (at < 2 && byte !== 0) {
      throw this.fail(`bad IDX magic: expected the file to start with two zero bytes, got 0x${byte.toString(16).padStart(2, '0')}`, at);
    }
    if (at === 2 && !IDX_TYPES.has(byte)) {
      throw this.fail(`bad IDX magic: unknown type byte ${idxTypeName(byte)} (expected 0x08, 0x09, 0x0b, 0x0c, 0x0d or 0x0e)`, at);
    }
    if (at === 3) {
      if (byte === 0) throw this.fail('bad IDX magic: the file declares 0 dimensions', at);
      this.headerLength = MAGIC_LENGTH + 4 * byte;
    }
    if (at >= MAGIC_LENGTH && (at - MAGIC_LENGTH) % 4 === 3) this.checkDimension(at - 3);
  }

  /** Dimensions must be non-zero, and their product must stay under the cap before we allocate. */
  private checkDimension(at: number): void {
    const index = (at - MAGIC_LENGTH) / 4;
    const size = this.header.readUInt32BE(at);
    if (size === 0) throw this.fail(`dimension ${index} has size 0`, at);
    const info = typeInfo(this.header[2] ?? 0);
    const bytes = this.dimensionsAt(at + 4).reduce((product, d) => product * d, outputElementSize(info));
    if (bytes > this.maxBytes) {
      if (this.maxBytesSetting !== undefined) {
        throw new DatasetTooLargeError(
          `${this.name === undefined ? '' : `${this.name}: `}data too large: the dimensions so far need ${bytes} bytes in memory, over the limit of ${this.maxBytes} (${this.maxBytesSetting})`,
          { name: this.maxBytesSetting, value: this.maxBytes },
          { byteOffset: at },
        );
      }
      throw this.fail(`data too large: the dimensions so far need ${bytes} bytes, over the limit of ${this.maxBytes} (option maxBytes)`, at);
    }
  }

  private dimensionsAt(end: number): number[] {
    const dims: number[] = [];
    for (let at = MAGIC_LENGTH; at < end; at += 4) dims.push(this.header.readUInt32BE(at));
    return dims;
  }

  private startData(): void {
    const type = (this.header[2] ?? 0) as IdxType;
    const info = typeInfo(type);
    const dims = this.dimensionsAt(this.headerLength);
    const count = dims.reduce((product, d) => product * d, 1);
    this.layout = { type, info, dims, count, dataOffset: this.headerLength };
    if (!this.headerOnly) this.output = allocateOutput(info, count);
  }

  private takeDataBytes(layout: Layout, chunk: Buffer, pos: number): number {
    const remaining = this.dataBytes(layout) - (this.offset - layout.dataOffset);
    const n = Math.min(remaining, chunk.length - pos);
    const bytes = chunk.subarray(pos, pos + n);
    if (this.output instanceof Uint8Array) {
      this.output.set(bytes, this.decoded);
      this.decoded += n;
    } else if (this.output !== undefined) {
      this.decodeElements(layout, this.output, bytes);
    }
    this.offset += n;
    return n;
  }

  /** Multi-byte elements may straddle chunks: finish the carried one, decode the rest, carry the tail. */
  private decodeElements(layout: Layout, output: Float32Array, bytes: Buffer): void {
    const size = layout.info.size;
    let pos = 0;
    if (this.carried > 0) {
      const n = Math.min(size - this.carried, bytes.length);
      bytes.copy(this.carry, this.carried, 0, n);
      this.carried += n;
      pos = n;
      if (this.carried < size) return;
      this.storeElement(layout, output, new DataView(this.carry.buffer, this.carry.byteOffset, size), 0);
      this.carried = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    for (; pos + size <= bytes.length; pos += size) this.storeElement(layout, output, view, pos);
    this.carried = bytes.copy(this.carry, 0, pos);
  }

  private storeElement(layout: Layout, output: Float32Array, view: DataView, at: number): void {
    const value = layout.info.read(view, at);
    const index = this.decoded;
    const where = layout.dataOffset + index * layout.info.size;
    if (!Number.isFinite(value)) throw this.fail(`value ${value} at element ${index} (NaN and Infinity are not allowed)`, where);
    if (this.requireNonNegative && value < 0) {
      throw this.fail(`negative value ${value} at element ${index}: the network takes positive raw values (option requireNonNegative)`, where);
    }
    const stored = Math.fround(value);
    if (!Number.isFinite(stored)) throw this.fail(`value ${value} at element ${index} does not fit a 32-bit float`, where);
    output[index] = stored;
    this.decoded++;
  }
}

function outputElementSize(info: IdxTypeInfo): number {
  return info.size === 1 && !info.signed ? 1 : Float32Array.BYTES_PER_ELEMENT;
}

/** SharedArrayBuffer-backed so worker threads can read the data without copies. */
function allocateOutput(info: IdxTypeInfo, count: number): Uint8Array | Float32Array {
  const bytes = new SharedArrayBuffer(count * outputElementSize(info));
  return outputElementSize(info) === 1 ? new Uint8Array(bytes) : new Float32Array(bytes);
}

/** Reads an IDX file or stream (gzipped or not), validating the whole file as it streams. */
export async function readIdx(source: ByteSource, options: ReadIdxOptions = {}): Promise<IdxFile> {
  const name = sourceName(source);
  const parser = new IdxStreamParser(options, name);
  try {
    // The parser copies what it needs out of each chunk before returning, as forEachChunk requires.
    await forEachChunk(source, (chunk) => parser.push(chunk), options.limits);
  } catch (error) {
    throw asGzipFormatError(error, parser.offset, name);
  }
  return parser.finish();
}

/**
 * Checks the start of an IDX file (decompressed) as it arrives, without allocating anything:
 * the magic, the type, the dimensions and, against `maxBytes`, the memory they would need;
 * for `part: 'labels'` one dimension of an integer type, for images at least two. Throws
 * DatasetFormatError (or DatasetTooLargeError) on the first problem; returns whether the
 * header was complete in `head`.
 */
export function checkIdxHead(head: Buffer, part: 'images' | 'labels', options: ReadIdxOptions = {}): boolean {
  const parser = new IdxStreamParser(options, undefined, true);
  parser.push(head);
  if (!parser.headerDone) return false;
  const type = head[2] ?? 0;
  const dims = head[3] ?? 0;
  if (part === 'labels') {
    if (type === IDX_F32 || type === IDX_F64) throw new DatasetFormatError(`labels must be an integer type, got ${idxTypeName(type)}`, { byteOffset: 2 });
    if (dims !== 1) throw new DatasetFormatError(`a labels file has 1 dimension, got ${dims}`, { byteOffset: 3 });
  } else if (dims < 2) {
    throw new DatasetFormatError('images need at least 2 dimensions (rows × values), got 1', { byteOffset: 3 });
  }
  return true;
}

/** Writes an uncompressed u8 IDX file (magic 00 00 08 <dims>). */
export async function writeIdx(path: string, type: typeof IDX_U8, dims: number[], data: Uint8Array): Promise<void> {
  const header = idxHeader(type, dims);
  const count = dims.reduce((product, d) => product * d, 1);
  if (count !== data.length) {
    throw new RangeError(`writeIdx: dimensions ${dims.join('×')} hold ${count} values, got ${data.length}`);
  }
  const file = await open(path, 'w');
  try {
    await file.write(header);
    await file.write(data);
  } finally {
    await file.close();
  }
}

function idxHeader(type: IdxType, dims: number[]): Buffer {
  if (dims.length < 1 || dims.length > 255) throw new RangeError(`IDX files have 1 to 255 dimensions, got ${dims.length}`);
  const header = Buffer.alloc(MAGIC_LENGTH + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((size, i) => {
    if (!Number.isInteger(size) || size < 1 || size > MAX_U32) throw new RangeError(`IDX dimension ${i} must be an integer in 1..${MAX_U32}, got ${size}`);
    header.writeUInt32BE(size, MAGIC_LENGTH + 4 * i);
  });
  return header;
}

export interface LoadIdxOptions extends ReadIdxOptions {
  /** Dataset name (default: the images file name). */
  name?: string;
  /** Number of classes; labels must be below it (default: max(10, largest label + 1)). */
  numClasses?: number;
}

/** Label storage is Uint16Array, so class indices must fit it. */
const MAX_CLASSES = 65536;

/**
 * Loads images (rows × anything; 3 dims give an imageShape) and optionally their labels, from
 * paths or streams (the service reads stored blobs). Inputs keep the file's values: u8 pixels
 * stay 0–255.
 */
export async function loadIdxDataset(images: ByteSource, labels?: ByteSource, options: LoadIdxOptions = {}): Promise<Dataset> {
  const imagesFile = await readIdx(images, options);
  const [rows = 0, ...rest] = imagesFile.dims;
  if (rest.length === 0) {
    throw new DatasetFormatError(`${prefixOf(images)}images need at least 2 dimensions (rows × values), got 1`, { byteOffset: 3 });
  }
  const dataset: Dataset = {
    name: options.name ?? sourceName(images) ?? 'idx',
    rows,
    inputWidth: rest.reduce((product, d) => product * d, 1),
    inputColumns: [],
    inputs: imagesFile.data,
  };
  if (rest.length === 2) dataset.imageShape = [rest[0] ?? 0, rest[1] ?? 0];
  if (labels !== undefined) dataset.targets = await readIdxLabels(labels, { ...options, rows });
  return dataset;
}

/** `name: ` for messages about a named file, nothing for a stream. */
function prefixOf(source: ByteSource): string {
  const name = sourceName(source);
  return name === undefined ? '' : `${name}: `;
}

/**
 * Reads an IDX labels file (1 dimension, integer type, every label below `numClasses`).
 * With `rows`, the count must match the images file.
 */
export async function readIdxLabels(source: ByteSource, options: LoadIdxOptions & { rows?: number } = {}): Promise<ClassTargets> {
  const name = prefixOf(source);
  // Negative labels are reported below as out of range, which says more than "negative value".
  const file = await readIdx(source, { ...options, requireNonNegative: false });
  if (file.type === IDX_F32 || file.type === IDX_F64) {
    throw new DatasetFormatError(`${name}labels must be an integer type, got ${idxTypeName(file.type)}`, { byteOffset: 2 });
  }
  if (file.dims.length !== 1) {
    throw new DatasetFormatError(`${name}a labels file has 1 dimension, got ${file.dims.length}`, { byteOffset: 3 });
  }
  const rows = file.data.length;
  if (options.rows !== undefined && rows !== options.rows) {
    throw new DatasetFormatError(`${name}${rows} labels but the images file has ${options.rows} images`, { byteOffset: MAGIC_LENGTH });
  }
  const limit = Math.min(options.numClasses ?? MAX_CLASSES, MAX_CLASSES);
  const labels = new Uint16Array(new SharedArrayBuffer(rows * Uint16Array.BYTES_PER_ELEMENT));
  let largest = 0;
  const size = idxElementSize(file.type);
  for (let i = 0; i < rows; i++) {
    const label = file.data[i] ?? 0;
    if (label < 0 || label >= limit) {
      throw new DatasetFormatError(`${name}label ${label} out of range 0..${limit - 1}`, { byteOffset: file.dataOffset + i * size });
    }
    labels[i] = label;
    largest = Math.max(largest, label);
  }
  const classCount = options.numClasses ?? Math.max(10, largest + 1);
  return { kind: 'class', classes: Array.from({ length: classCount }, (_, k) => String(k)), labels };
}

/**
 * The labels file beside an images file, by the standard MNIST naming
 * (train-images-idx3-ubyte ↔ train-labels-idx1-ubyte, dotted ".idx3-ubyte" variants too),
 * preferring the same compression as the images file.
 */
export function findLabelsFile(imagesPath: string): string | undefined {
  const match = /^(.*)images([.-])idx3-ubyte(\.gz)?$/.exec(basename(imagesPath));
  if (match === null) return undefined;
  const [, prefix = '', separator = '-', gz = ''] = match;
  const stem = `${prefix}labels${separator}idx1-ubyte`;
  const candidates = gz === '' ? [stem, `${stem}.gz`] : [`${stem}.gz`, stem];
  return candidates.map((file) => join(dirname(imagesPath), file)).find((path) => existsSync(path));
}
