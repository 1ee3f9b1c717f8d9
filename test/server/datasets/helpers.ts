/** Shared fixtures for the dataset reader tests (not a test file itself). */

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DatasetFormatError } from '../../../server/datasets/types.js';

/** A fresh directory under the OS temp dir, and a function that removes it. */
export async function makeTempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'hanami-datasets-'));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** An IDX header for `type` and `dims`, followed by `payload`. */
export function idxBytes(type: number, dims: number[], payload: Uint8Array = new Uint8Array(0)): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return Buffer.concat([header, payload]);
}

/** Big-endian payload of `values` written with `write` (e.g. Buffer.prototype.writeFloatBE). */
export function bigEndian(values: number[], size: number, write: (buffer: Buffer, value: number, at: number) => void): Buffer {
  const payload = Buffer.alloc(values.length * size);
  values.forEach((value, i) => write(payload, value, i * size));
  return payload;
}

/** A stream that hands out `bytes` in chunks of `chunkSize`, to exercise chunk boundaries. */
export function chunkedStream(bytes: Uint8Array, chunkSize: number): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += chunkSize) chunks.push(Buffer.from(bytes.subarray(at, at + chunkSize)));
  return Readable.from(chunks);
}

export interface ExpectedFormatError {
  message: RegExp;
  byteOffset?: number;
  row?: number;
  column?: number;
}

/** Asserts that `promise` rejects with a DatasetFormatError at exactly the given place. */
export async function rejectsWithFormatError(promise: Promise<unknown>, expected: ExpectedFormatError): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof DatasetFormatError, `expected a DatasetFormatError, got ${String(error)}`);
    assert.match(error.message, expected.message);
    assert.equal(error.byteOffset, expected.byteOffset, `byteOffset in: ${error.message}`);
    assert.equal(error.row, expected.row, `row in: ${error.message}`);
    assert.equal(error.column, expected.column, `column in: ${error.message}`);
    return true;
  });
}

export function isShared(array: ArrayBufferView): boolean {
  return array.buffer instanceof SharedArrayBuffer;
}
