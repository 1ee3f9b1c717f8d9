/**
 * Byte sources for the dataset readers: a path or a stream, transparently gunzipped when it
 * starts with the gzip magic. Everything streams: nothing here holds more than a chunk.
 */

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline, Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DatasetFormatError, DatasetTooLargeError, type DatasetLimits } from './types.js';

/** A file path or an already-open stream of bytes. */
export type ByteSource = string | Readable;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const READ_CHUNK = 256 * 1024;

interface Head {
  chunks: Buffer[];
  bytes: Buffer;
  ended: boolean;
}

/** A short name for messages: the file name for paths, nothing for streams. */
export function sourceName(source: ByteSource): string | undefined {
  return typeof source === 'string' ? basename(source) : undefined;
}

export function startsWithGzipMagic(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`expected a byte stream, got a chunk of type ${typeof chunk}`);
}

/** Pulls chunks until at least `length` bytes are seen (or the stream ends). */
async function readHead(chunks: AsyncIterator<unknown>, length: number): Promise<Head> {
  const head: Buffer[] = [];
  let total = 0;
  while (total < length) {
    const next = await chunks.next();
    if (next.done === true) return { chunks: head, bytes: Buffer.concat(head), ended: true };
    const chunk = toBuffer(next.value);
    head.push(chunk);
    total += chunk.length;
  }
  return { chunks: head, bytes: Buffer.concat(head), ended: false };
}

/** Yields the peeked head again, then the rest; closes the source however iteration stops. */
async function* replay(head: Head, rest: AsyncIterator<unknown>): AsyncGenerator<Buffer> {
  try {
    yield* head.chunks;
    if (head.ended) return;
    for (;;) {
      const next = await rest.next();
      if (next.done === true) return;
      yield toBuffer(next.value);
    }
  } finally {
    await rest.return?.();
  }
}

/** The error for decoded bytes beyond the limit (`max` is what was allowed). */
function decodedTooLarge(max: number, limits: DatasetLimits): DatasetTooLargeError {
  const limit = limits.decodedLimit ?? { name: 'HANAMI_MAX_DECODED_BYTES', value: max };
  const usage = limits.decodedUsage;
  const what = usage === undefined ? `${max} bytes` : `${max} bytes (${limit.value} for the project, of which ${usage} are in use)`;
  return new DatasetTooLargeError(`the file decompresses to more than ${what} (${limit.name})`, limit, { byteOffset: max, ...(usage === undefined ? {} : { usage }) });
}

/**
 * Counts decompressed bytes as they pass and fails the stream as soon as they exceed
 * `limits.maxDecodedBytes`: a small gzip can expand a thousandfold, so the compressed size
 * bounds nothing. Decompression stops there (the pipeline is torn down).
 */
function decodedLimiter(limits: DatasetLimits): Transform | undefined {
  const max = limits.maxDecodedBytes;
  if (max === undefined && !limits.onDecodedBytes) return undefined;
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (max !== undefined && seen > max) done(decodedTooLarge(max, limits));
      else done(null, chunk);
    },
    flush(done) {
      limits.onDecodedBytes?.(seen);
      done();
    },
  });
}

/**
 * The decompressed bytes of `source`. Gzip is detected by its magic bytes, not the file name,
 * because datasets are often renamed (gzip is the one compression the readers take: anything
 * else is read as it is and fails as IDX or CSV). With `limits.maxDecodedBytes`, the stream
 * fails with DatasetTooLargeError once more bytes than that come out of it. Errors of the
 * source and of zlib surface on the returned stream; destroying it closes the source.
 */
export async function openDecompressed(source: ByteSource, limits: DatasetLimits = {}): Promise<Readable> {
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const chunks = input[Symbol.asyncIterator]();
  const head = await readHead(chunks, GZIP_MAGIC.length);
  const replayed = Readable.from(replay(head, chunks), { objectMode: false });
  const limiter = decodedLimiter(limits);
  // pipeline forwards any stage's error to the last stream, which the caller reads; the
  // callback only sees what the caller already gets (or a premature close after an early stop).
  if (!startsWithGzipMagic(head.bytes)) return limiter ? pipeline(replayed, limiter, () => undefined) : replayed;
  return limiter ? pipeline(replayed, createGunzip(), limiter, () => undefined) : pipeline(replayed, createGunzip(), () => undefined);
}

/** Feeds a file to `sink` through one reused buffer; false (nothing fed) if it is gzipped. */
async function forEachPlainFileChunk(path: string, sink: (chunk: Buffer) => void, limits: DatasetLimits): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    let { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (startsWithGzipMagic(buffer.subarray(0, bytesRead))) return false;
    let seen = 0;
    while (bytesRead > 0) {
      seen += bytesRead;
      if (limits.maxDecodedBytes !== undefined && seen > limits.maxDecodedBytes) throw decodedTooLarge(limits.maxDecodedBytes, limits);
      sink(buffer.subarray(0, bytesRead));
      ({ bytesRead } = await handle.read(buffer, 0, buffer.length, null));
    }
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Calls `sink` with each decompressed chunk of `source`, in order. A chunk is only valid
 * during the call: uncompressed files are read into one reused buffer, so reading a large
 * file leaves no garbage behind and peak memory stays near the size of the result.
 */
export async function forEachChunk(source: ByteSource, sink: (chunk: Buffer) => void, limits: DatasetLimits = {}): Promise<void> {
  if (typeof source === 'string' && (await forEachPlainFileChunk(source, sink, limits))) return;
  const stream = await openDecompressed(source, limits);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) sink(chunk);
  } finally {
    stream.destroy();
  }
}

/** The first `length` decompressed bytes (fewer if the source is shorter). */
export async function readPrefix(source: ByteSource, length: number): Promise<Buffer> {
  const stream = await openDecompressed(source);
  const parts: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      parts.push(chunk);
      total += chunk.length;
      if (total >= length) break;
    }
  } catch (error) {
    throw asGzipFormatError(error, total, sourceName(source));
  } finally {
    stream.destroy();
  }
  return Buffer.concat(parts).subarray(0, length);
}

function isZlibError(error: unknown): error is Error & { code: string } {
  if (!(error instanceof Error)) return false;
  const code: unknown = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('Z_');
}

/**
 * zlib's errors ("incorrect header check", "unexpected end of file") become format errors at
 * the offset reached in the decompressed stream; anything else passes through unchanged.
 */
export function asGzipFormatError(error: unknown, decompressedOffset: number, name?: string): unknown {
  if (!isZlibError(error)) return error;
  const prefix = name === undefined ? '' : `${name}: `;
  return new DatasetFormatError(`${prefix}corrupt gzip stream (${error.message})`, {
    byteOffset: decompressedOffset,
  });
}
