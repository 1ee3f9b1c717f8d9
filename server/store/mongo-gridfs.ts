/**
 * Blobs in GridFS (bucket `blobs`) for the MongoDB store: streamed in with size and SHA-256
 * counted on the way, committed by the files document, read back checked, deleted files
 * document first. The collections are reached through getters because the store opens its
 * database only in `init()`.
 */
import { type Readable, PassThrough } from 'node:stream';
import type { Collection, GridFSBucket, GridFSBucketWriteStream, ObjectId } from 'mongodb';
import { BlobMeter, chunksOf, isBlobId, newBlobId, type BlobPutOptions } from './blobs-fs.js';
import { asStoreError } from './errors.js';
import { isPlainObject, type StoredDoc } from './mongo-records.js';
import { NotFoundError, StoreError, type BlobInfo } from './types.js';

export interface BlobFileDoc extends StoredDoc {
  length: number;
  metadata?: { sha256?: unknown; bytes?: unknown };
}

export type BlobChunkDoc = { _id: unknown; files_id: string; n: number };

function gridFsId(id: string): ObjectId {
  return id as unknown as ObjectId;
}

function writeChunk(upload: GridFSBucketWriteStream, chunk: Buffer): Promise<void> {
  return new Promise((resolve, reject) => upload.write(chunk, (e) => (e ? reject(e) : resolve())));
}

function endUpload(upload: GridFSBucketWriteStream): Promise<void> {
  return new Promise((resolve, reject) => upload.end((e?: Error | null) => (e ? reject(e) : resolve())));
}

export class GridFsBlobs {
  constructor(
    private readonly bucket: () => GridFSBucket,
    private readonly files: () => Collection<BlobFileDoc>,
    private readonly chunks: () => Collection<BlobChunkDoc>,
  ) {}

  /**
   * Streams into GridFS, hashing and counting on the way. The driver inserts the files
   * document (the commit point: a blob without one is invisible) only after the last chunk,
   * taking `metadata` from the object we passed in, which by then holds size and SHA-256.
   * Each chunk write is awaited, so when something fails no insert is still in flight and
   * removing the partial chunks really removes them all.
   */
  async put(data: Readable | Uint8Array, options: BlobPutOptions = {}): Promise<BlobInfo> {
    const id = newBlobId();
    const meter = new BlobMeter(options);
    const metadata: { sha256?: string; bytes?: number } = {};
    const upload = this.bucket().openUploadStreamWithId(gridFsId(id), id, { metadata });
    // Errors also reach the write/end callbacks; this listener only keeps an 'error' event
    // from being unhandled.
    upload.on('error', () => undefined);
    try {
      for await (const chunk of chunksOf(data)) {
        meter.add(chunk);
        await writeChunk(upload, chunk);
      }
      const info: BlobInfo = { id, bytes: meter.bytes, sha256: meter.sha256() };
      metadata.sha256 = info.sha256;
      metadata.bytes = info.bytes;
      await endUpload(upload);
      await this.ensureMetadata(upload, info);
      return info;
    } catch (e) {
      upload.destroy();
      await this.removePartial(id);
      throw e;
    }
  }

  /** Guards against a driver that copies `metadata` at open time: then the files document
   *  lacks the checksum, and we add it (the blob counts as missing until then). */
  private async ensureMetadata(upload: GridFSBucketWriteStream, info: BlobInfo): Promise<void> {
    const stored: unknown = upload.gridFSFile?.metadata;
    if (isPlainObject(stored) && stored.sha256 === info.sha256) return;
    await this.files().updateOne({ _id: info.id }, { $set: { metadata: { sha256: info.sha256, bytes: info.bytes } } });
  }

  /** Best effort: the files document first (so the blob is invisible), then the chunks. */
  private async removePartial(id: string): Promise<void> {
    try {
      await this.files().deleteOne({ _id: id });
      await this.chunks().deleteMany({ files_id: id });
    } catch {
      // The connection is likely gone; chunks without a files document are never visible.
    }
  }

  /** A blob exists once its files document carries the checksum. */
  async stat(id: string): Promise<BlobInfo> {
    if (!isBlobId(id)) throw new NotFoundError('blob', id);
    const doc = await this.files().findOne({ _id: id });
    const sha256 = doc?.metadata?.sha256;
    if (!doc || typeof sha256 !== 'string') throw new NotFoundError('blob', id);
    return { id, bytes: doc.length, sha256 };
  }

  /** A read stream whose errors are StoreErrors; destroying it stops the download. */
  async open(id: string): Promise<Readable> {
    await this.stat(id);
    const download = this.bucket().openDownloadStream(gridFsId(id));
    const out = new PassThrough();
    download.on('error', (e) => out.destroy(asStoreError('mongodb', 'blobs.open', e)));
    out.on('close', () => download.destroy());
    download.pipe(out);
    return out;
  }

  async read(id: string): Promise<Buffer> {
    const info = await this.stat(id);
    const parts: Buffer[] = [];
    for await (const chunk of this.bucket().openDownloadStream(gridFsId(id))) parts.push(chunk as Buffer);
    const data = Buffer.concat(parts);
    if (data.byteLength !== info.bytes) throw new StoreError(`blob ${id} is corrupt (${data.byteLength} bytes read, ${info.bytes} expected)`);
    return data;
  }

  /** What GridFSBucket.delete does, without matching its "not found" message. */
  async delete(id: string): Promise<void> {
    if (!isBlobId(id)) throw new NotFoundError('blob', id);
    const { deletedCount } = await this.files().deleteOne({ _id: id });
    await this.chunks().deleteMany({ files_id: id });
    if (deletedCount === 0) throw new NotFoundError('blob', id);
  }
}
