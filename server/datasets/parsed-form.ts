/**
 * A parsed dataset as bytes: stored as a blob beside an uploaded CSV, so that after a restart
 * (an empty dataset cache) the first task reads its columns back instead of parsing the text
 * again. Layout, little-endian:
 *
 *   "HNMDSET1" | u32 length of the JSON head | JSON head | zero padding to 8 bytes |
 *   inputs (Float32 or Uint8, rows × inputWidth) | labels (Uint16, rows) or values (Float32)
 *
 * The head holds the shape (name, rows, widths, column and class names). Decoding checks the
 * magic, the head and every length; anything wrong is a ParsedFormError, and the caller parses
 * the original instead. The arrays come back in SharedArrayBuffers, as the readers make them.
 */
import type { Dataset, InputArray, Targets } from './types.js';

const MAGIC = Buffer.from('HNMDSET1', 'latin1');
const VERSION = 1;
/** Pieces handed to the blob store at most this long (each is hashed in one go). */
const PIECE_BYTES = 1 << 20;

interface Head {
  version: number;
  name: string;
  rows: number;
  inputWidth: number;
  inputColumns: string[];
  imageShape?: [number, number];
  inputType: 'f32' | 'u8';
  targets: { kind: 'class'; classes: string[] } | { kind: 'values'; columns: string[] } | null;
}

export class ParsedFormError extends Error {
  constructor(message: string) {
    super(`parsed dataset blob: ${message}`);
    this.name = 'ParsedFormError';
  }
}

function bytesOf(array: ArrayBufferView): Buffer {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength);
}

/** Cuts a buffer into pieces of at most PIECE_BYTES (views, no copies). */
function pieces(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += PIECE_BYTES) out.push(bytes.subarray(at, Math.min(bytes.length, at + PIECE_BYTES)));
  return out;
}

/** The dataset's bytes in the layout above, as views of its arrays (nothing is copied). */
export function encodeParsedForm(dataset: Dataset): Buffer[] {
  const head: Head = {
    version: VERSION,
    name: dataset.name,
    rows: dataset.rows,
    inputWidth: dataset.inputWidth,
    inputColumns: dataset.inputColumns,
    inputType: dataset.inputs instanceof Uint8Array ? 'u8' : 'f32',
    targets: dataset.targets === undefined ? null : dataset.targets.kind === 'class' ? { kind: 'class', classes: dataset.targets.classes } : { kind: 'values', columns: dataset.targets.columns },
  };
  if (dataset.imageShape) head.imageShape = dataset.imageShape;
  const json = Buffer.from(JSON.stringify(head), 'utf8');
  const prefix = Buffer.alloc(Math.ceil((MAGIC.length + 4 + json.length) / 8) * 8);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt32LE(json.length, MAGIC.length);
  json.copy(prefix, MAGIC.length + 4);
  const out = [prefix, ...pieces(bytesOf(dataset.inputs))];
  if (dataset.targets?.kind === 'class') out.push(...pieces(bytesOf(dataset.targets.labels)));
  if (dataset.targets?.kind === 'values') out.push(...pieces(bytesOf(dataset.targets.values)));
  return out;
}

function isStrings(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((s) => typeof s === 'string');
}

function checkHead(head: Partial<Head>): Head {
  const count = (n: unknown): boolean => Number.isSafeInteger(n) && (n as number) >= 0;
  if (head.version !== VERSION) throw new ParsedFormError(`version ${String(head.version)}, expected ${VERSION}`);
  if (typeof head.name !== 'string' || !count(head.rows) || !count(head.inputWidth) || !isStrings(head.inputColumns)) throw new ParsedFormError('bad head');
  if (head.inputType !== 'f32' && head.inputType !== 'u8') throw new ParsedFormError('bad input type');
  const t = head.targets;
  if (t !== null && !(t?.kind === 'class' && isStrings(t.classes)) && !(t?.kind === 'values' && isStrings(t.columns))) throw new ParsedFormError('bad targets');
  return head as Head;
}

/** A copy of `bytes` in a SharedArrayBuffer (the worker pool reads datasets without copies). */
function shared(bytes: Buffer): ArrayBuffer | SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(bytes.length);
  new Uint8Array(buffer).set(bytes);
  return buffer;
}

/** The dataset stored by encodeParsedForm; ParsedFormError when the bytes are not one. */
export function decodeParsedForm(bytes: Buffer): Dataset {
  if (bytes.length < MAGIC.length + 4 || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) throw new ParsedFormError('bad magic');
  const jsonLength = bytes.readUInt32LE(MAGIC.length);
  const jsonEnd = MAGIC.length + 4 + jsonLength;
  if (jsonEnd > bytes.length) throw new ParsedFormError('truncated head');
  let parsed: unknown;
  try {
    parsed = JSON.parse(bytes.subarray(MAGIC.length + 4, jsonEnd).toString('utf8'));
  } catch {
    throw new ParsedFormError('head is not JSON');
  }
  const head = checkHead(parsed as Partial<Head>);
  let at = Math.ceil(jsonEnd / 8) * 8;
  const take = (length: number): Buffer => {
    if (at + length > bytes.length) throw new ParsedFormError('truncated data');
    const piece = bytes.subarray(at, at + length);
    at += length;
    return piece;
  };
  const values = head.rows * head.inputWidth;
  const inputs: InputArray = head.inputType === 'u8' ? new Uint8Array(shared(take(values))) : new Float32Array(shared(take(values * 4)));
  let targets: Targets | undefined;
  if (head.targets?.kind === 'class') targets = { kind: 'class', classes: head.targets.classes, labels: new Uint16Array(shared(take(head.rows * 2))) };
  if (head.targets?.kind === 'values') targets = { kind: 'values', columns: head.targets.columns, values: new Float32Array(shared(take(head.rows * head.targets.columns.length * 4))) };
  if (at !== bytes.length) throw new ParsedFormError(`${bytes.length - at} bytes after the data`);
  const dataset: Dataset = { name: head.name, rows: head.rows, inputWidth: head.inputWidth, inputColumns: head.inputColumns, inputs };
  if (head.imageShape) dataset.imageShape = head.imageShape;
  if (targets) dataset.targets = targets;
  return dataset;
}
