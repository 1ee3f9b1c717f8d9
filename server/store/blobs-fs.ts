/**
 * Blobs as files, for the embedded store: `<root>/<first 2 hex of id>/<id>`.
 *
 * Each file is a 64-byte header followed by the blob's bytes. The header holds the size and
 * SHA-256, so the file describes itself and the rename into place is the single commit point
 * of a write: a blob is visible exactly when its file exists under its final name, already
 * complete, checksummed and fsynced. There is no second record (a database row, a sidecar
 * file) that a crash could leave out of step with the data.
 *
 * Header layout (little-endian):
 *   0..8   magic "HNMBLOB1"
 *   8..16  payload size in bytes (u64)
 *   16..48 SHA-256 of the payload
 *   48..64 zero (reserved)
 *
 * A write streams into `<root>/tmp/<pid>-<uuid>.tmp`, fsyncs it, renames it into place and
 * fsyncs the directory; `init()` removes temp files that a crashed process left behind.
 *
 * Also exports the streaming helpers (chunk iteration, size cap, hashing, progress) that the
 * GridFS blob store in mongo.ts shares.
 */
import { ignoreFailure } from '../../kernels/background.js';
import { createHash, randomUUID, type Hash } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, NotFoundError, StoreError, type BlobInfo, type Store } from './types.js';
import { wrapDriverError } from './errors.js';

export type BlobStore = Store['blobs'];
export type BlobPutOptions = NonNullable<Parameters<BlobStore['put']>[1]>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Blob ids are UUIDs we make ourselves; anything else is treated as unknown, which also
 *  keeps ids such as "../x" from ever reaching a file path. */
export function isBlobId(id: string): boolean {
  return UUID.test(id);
}

export function newBlobId(): string {
  return randomUUID();
}

/** The bytes of `data` as Buffers, one chunk at a time. On an early exit (size cap, write
 *  error) a Readable source is left as it is, not destroyed: the caller owns it and may still
 *  want to answer on the same connection (e.g. an HTTP 413). */
export async function* chunksOf(data: Readable | Uint8Array): AsyncGenerator<Buffer> {
  if (data instanceof Uint8Array) {
    yield Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    return;
  }
  for await (const chunk of data.iterator({ destroyOnReturn: false }) as AsyncIterable<unknown>) {
    yield chunkToBuffer(chunk);
  }
}

function chunkToBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk);
  throw new StoreError('blob data must be bytes (Buffer, Uint8Array or string chunks)');
}

/** Counts and hashes bytes as they stream past, enforcing the size cap and reporting progress. */
export class BlobMeter {
  bytes = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly maxBytes: number;
  private readonly onProgress: ((bytes: number) => void) | undefined;

  constructor(options: BlobPutOptions = {}) {
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.onProgress = options.onProgress;
  }

  /** Accounts for one chunk; throws BlobTooLargeError before the chunk is stored. */
  add(chunk: Buffer): void {
    if (this.bytes + chunk.byteLength > this.maxBytes) throw new BlobTooLargeError(this.maxBytes);
    this.bytes += chunk.byteLength;
    this.hash.update(chunk);
    this.onProgress?.(this.bytes);
  }

  sha256(): string {
    return this.hash.digest('hex');
  }
}

const HEADER_BYTES = 64;
const MAGIC = Buffer.from('HNMBLOB1', 'latin1');

function encodeHeader(bytes: number, sha256: string): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeBigUInt64LE(BigInt(bytes), 8);
  Buffer.from(sha256, 'hex').copy(header, 16);
  return header;
}

function decodeHeader(id: string, header: Buffer): BlobInfo {
  if (header.byteLength < HEADER_BYTES || !header.subarray(0, 8).equals(MAGIC)) {
    throw new StoreError(`blob ${id} is corrupt (bad header)`);
  }
  const bytes = Number(header.readBigUInt64LE(8));
  return { id, bytes, sha256: header.subarray(16, 48).toString('hex') };
}

/** Temp files being written by this process (any FsBlobStore instance), so that `init()` on
 *  a second instance over the same folder never deletes a write in progress. */
const tempFilesInFlight = new Set<string>();

function tempFileOwnerPid(name: string): number | null {
  const match = /^(\d+)-.*\.tmp$/.exec(name);
  return match ? Number(match[1]) : null;
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function isMissingFile(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes all of `buffer` at `position` (a single write may be partial). */
async function writeFully(handle: FileHandle, buffer: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buffer.byteLength) {
    const { bytesWritten } = await handle.write(buffer, done, buffer.byteLength - done, position + done);
    done += bytesWritten;
  }
}

export class FsBlobStore implements BlobStore {
  private readonly tmpDir: string;

  constructor(readonly root: string) {
    this.tmpDir = join(root, 'tmp');
  }

  /** Creates the folders and removes temp files left by crashed writers. */
  async init(): Promise<void> {
    try {
      await mkdir(this.tmpDir, { recursive: true });
      await this.removeAbandonedTempFiles();
    } catch (e) {
      throw wrapDriverError('blobs', 'init', e);
    }
  }

  /** A temp file is abandoned when its writer is gone: another process that no longer runs,
   *  or this process (after a restart the pid may repeat, e.g. pid 1 in a container) but not
   *  a write that is in flight right now. */
  private async removeAbandonedTempFiles(): Promise<void> {
    for (const name of await readdir(this.tmpDir)) {
      const path = join(this.tmpDir, name);
      if (tempFilesInFlight.has(path)) continue;
      const pid = tempFileOwnerPid(name);
      if (pid !== null && pid !== process.pid && isProcessAlive(pid)) continue;
      await unlink(path).catch((e: unknown) => {
        if (!isMissingFile(e)) throw e;
      });
    }
  }

  pathOf(id: string): string {
    return join(this.root, id.slice(0, 2), id);
  }

  async put(data: Readable | Uint8Array, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const id = newBlobId();
    const tmpPath = join(this.tmpDir, `${process.pid}-${id}.tmp`);
    tempFilesInFlight.add(tmpPath);
    try {
      const info = await this.writeTempFile(id, tmpPath, data, options);
      await this.moveIntoPlace(tmpPath, this.pathOf(id));
      return info;
    } catch (e) {
      await ignoreFailure(unlink(tmpPath), 'the write failed already; a leftover temp file is harmless and never read');
      if (e instanceof StoreError) throw e;
      throw wrapDriverError('blobs', 'put', e);
    } finally {
      tempFilesInFlight.delete(tmpPath);
    }
  }

  /** Streams the data after a placeholder header, then writes the real header and fsyncs. */
  private async writeTempFile(id: string, tmpPath: string, data: Readable | Uint8Array, options: BlobPutOptions): Promise<BlobInfo> {
    const meter = new BlobMeter(options);
    const handle = await open(tmpPath, 'wx', 0o600);
    try {
      await writeFully(handle, Buffer.alloc(HEADER_BYTES), 0);
      for await (const chunk of chunksOf(data)) {
        meter.add(chunk);
        await writeFully(handle, chunk, HEADER_BYTES + meter.bytes - chunk.byteLength);
      }
      const info: BlobInfo = { id, bytes: meter.bytes, sha256: meter.sha256() };
      await writeFully(handle, encodeHeader(info.bytes, info.sha256), 0);
      await handle.sync();
      return info;
    } finally {
      await handle.close();
    }
  }

  /** Rename is atomic; fsyncing the directories makes the new name survive a power cut. */
  private async moveIntoPlace(tmpPath: string, finalPath: string): Promise<void> {
    const shardDir = join(finalPath, '..');
    const created = await mkdir(shardDir, { recursive: true });
    if (created !== undefined) await fsyncDirectory(this.root);
    await rename(tmpPath, finalPath);
    await fsyncDirectory(shardDir);
  }

  /** Opens a blob's file and checks its header and length. */
  private async openBlob(id: string, operation: string): Promise<{ handle: FileHandle; info: BlobInfo }> {
    if (!isBlobId(id)) throw new NotFoundError('blob', id);
    let handle: FileHandle;
    try {
      handle = await open(this.pathOf(id), 'r');
    } catch (e) {
      if (isMissingFile(e)) throw new NotFoundError('blob', id);
      throw wrapDriverError('blobs', operation, e);
    }
    try {
      const header = Buffer.alloc(HEADER_BYTES);
      await handle.read(header, 0, HEADER_BYTES, 0);
      const info = decodeHeader(id, header);
      const { size } = await handle.stat();
      if (size !== HEADER_BYTES + info.bytes) throw new StoreError(`blob ${id} is corrupt (${size - HEADER_BYTES} bytes on disk, ${info.bytes} expected)`);
      return { handle, info };
    } catch (e) {
      await handle.close();
      if (e instanceof StoreError) throw e;
      throw wrapDriverError('blobs', operation, e);
    }
  }

  async open(id: string): Promise<Readable> {
    const { handle, info } = await this.openBlob(id, 'open');
    if (info.bytes === 0) {
      await handle.close();
      return Readable.from([]);
    }
    return handle.createReadStream({ start: HEADER_BYTES, end: HEADER_BYTES + info.bytes - 1, autoClose: true });
  }

  async read(id: string): Promise<Buffer> {
    const { handle, info } = await this.openBlob(id, 'read');
    try {
      const buffer = Buffer.alloc(info.bytes);
      let done = 0;
      while (done < info.bytes) {
        const { bytesRead } = await handle.read(buffer, done, info.bytes - done, HEADER_BYTES + done);
        if (bytesRead === 0) throw new StoreError(`blob ${id} is corrupt (short read)`);
        done += bytesRead;
      }
      return buffer;
    } catch (e) {
      if (e instanceof StoreError) throw e;
      throw wrapDriverError('blobs', 'read', e);
    } finally {
      await handle.close();
    }
  }

  async stat(id: string): Promise<BlobInfo> {
    const { handle, info } = await this.openBlob(id, 'stat');
    await handle.close();
    return info;
  }

  async delete(id: string): Promise<void> {
    if (!isBlobId(id)) throw new NotFoundError('blob', id);
    const path = this.pathOf(id);
    try {
      await unlink(path);
      await fsyncDirectory(join(path, '..'));
    } catch (e) {
      if (isMissingFile(e)) throw new NotFoundError('blob', id);
      throw wrapDriverError('blobs', 'delete', e);
    }
  }
}
