/**
 * Byte sources for the dataset readers: a path or a stream, transparently gunzipped when it
 * starts with the gzip magic. Everything streams: nothing here holds more than a chunk.
 */

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { DatasetFormatError } from './types.js';

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

/**
 * The decompressed bytes of `source`. Gzip is detected by its magic bytes, not the file name,
 * because datasets are often renamed. Errors of the source and of zlib surface on the
 * returned stream; destroying it closes the source.
 */
export async function openDecompressed(source: ByteSource): Promise<Readable> {
  const input = typeof source === 'string' ? createReadStream(source) : source;
  const chunks = input[Symbol.asyncIterator]();
  const head = await readHead(chunks, GZIP_MAGIC.length);
  const replayed = Readable.from(replay(head, chunks), { objectMode: false });
  if (!startsWithGzipMagic(head.bytes)) return replayed;
  // pipeline forwards any stage's error to the gunzip stream the caller reads; the callback
  // only sees what the caller already gets (or a premature close after an early stop).
  return pipeline(replayed, createGunzip(), () => undefined);
}

/** Feeds a file to `sink` through one reused buffer; false (nothing fed) if it is gzipped. */
async function forEachPlainFileChunk(path: string, sink: (chunk: Buffer) => void): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(READ_CHUNK);
    let { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
    if (startsWithGzipMagic(buffer.subarray(0, bytesRead))) return false;
    while (bytesRead > 0) {
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
export async function forEachChunk(source: ByteSource, sink: (chunk: Buffer) => void): Promise<void> {
  if (typeof source === 'string' && (await forEachPlainFileChunk(source, sink))) return;
  const stream = await openDecompressed(source);
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
