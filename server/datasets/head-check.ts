/**
 * Checks the start of an uploaded dataset part while it streams in, so a file that is not
 * what it claims is refused after its first bytes rather than after all of them (the probe
 * had 200 MB of junk written in full before the 422).
 *
 * `UploadHeadCheck` is a pass-through Transform put between the request and the blob store.
 * It looks at the first decoded bytes (gunzipping a copy of the head when the part is
 * gzipped; gzip is the one compression the readers accept):
 *
 * - IDX (images, labels): the magic, the type, the dimensions and the memory they declare
 *   (HANAMI_MAX_DATASET_BYTES), as soon as the header is complete (at most 1,024 bytes);
 * - CSV: no NUL bytes (binary data), the header row within the first HEADER_MAX_BYTES (its
 *   column count, names and the column roles the dataset was created with), and the rows that
 *   are complete within the first HEAD_BYTES (cells, numbers, signs), with the reader's own
 *   checks on the head cut at its last complete line.
 *
 * The first failure destroys the stream with that error (DatasetFormatError with its byte
 * offset, row and column, or DatasetTooLargeError), so the upload stops there; `failure` keeps
 * it for the caller. Anything the head does not show is left to the full parse after upload.
 */
import { inBackground } from '../../kernels/background.js';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { createGunzip, type Gunzip } from 'node:zlib';
import { readCsvDataset, type CsvDatasetOptions } from './csv.js';
import { checkIdxHead } from './idx.js';
import { startsWithGzipMagic } from './source.js';
import { DatasetFormatError, type DatasetLimits } from './types.js';

/** CSV: the rows within this much of the start are checked while uploading. */
export const HEAD_BYTES = 4 * 1024;
/** CSV: the header row must end within this much of the start. */
export const HEADER_MAX_BYTES = 4 * 1024 * 1024;

export type UploadPart = 'images' | 'labels' | 'csv';

export interface HeadCheckOptions {
  part: UploadPart;
  /** CSV: the column roles the dataset was created with. */
  csv?: CsvDatasetOptions;
  limits: DatasetLimits;
}

/** Where the last complete line of CSV text ends (a line break outside quotes), or -1. */
function lastCompleteLine(text: string): number {
  let quoted = false;
  let last = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) quoted = !quoted;
    else if (c === 10 && !quoted) last = i;
  }
  return last;
}

export class UploadHeadCheck extends Transform {
  /** Why the upload was refused, once it was. */
  failure: Error | undefined;
  private raw: Buffer[] = [];
  private rawBytes = 0;
  private decoded: Buffer[] = [];
  private decodedBytes = 0;
  private gunzip: Gunzip | undefined;
  private gzipped: boolean | undefined;
  private decided = false;

  constructor(private readonly options: HeadCheckOptions) {
    super();
    // A refusal may come after the reader stopped listening (a CSV head checked after the last
    // byte): it is kept in `failure` for the caller, never an uncaught 'error'.
    this.on('error', () => undefined);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (!this.decided) this.look(chunk);
    done(this.failure ?? null, this.failure ? undefined : chunk);
  }

  override _flush(done: TransformCallback): void {
    if (this.decided) return done(this.failure ?? null);
    let flushed = false;
    const finish = (): void => {
      if (flushed) return;
      flushed = true;
      this.check(true);
      done(this.failure ?? null);
    };
    if (this.gzipped === undefined && this.rawBytes > 0) this.route(Buffer.concat(this.raw));
    if (this.decided || !this.gunzip) return finish();
    // The whole (short) part went to gunzip: check what comes out of it. Whatever decides
    // first (its end, its error, or a head complete enough) finishes the flush.
    this.pendingFlush = finish;
    this.gunzip.once('end', finish);
    this.gunzip.end();
  }

  /** The flush waiting for the side gunzip (a part that ended before its head was decided). */
  private pendingFlush: (() => void) | undefined;

  private look(chunk: Buffer): void {
    if (this.gzipped === undefined) {
      this.raw.push(chunk);
      this.rawBytes += chunk.length;
      if (this.rawBytes < 2) return;
      const head = Buffer.concat(this.raw);
      this.raw = [];
      this.route(head);
      return;
    }
    if (this.gunzip) this.gunzip.write(chunk);
    else this.collect(chunk);
  }

  /** The first bytes decide: a gzip stream is decoded on the side, anything else read as is. */
  private route(head: Buffer): void {
    this.gzipped = startsWithGzipMagic(head);
    if (!this.gzipped) return this.collect(head);
    const gunzip = createGunzip();
    this.gunzip = gunzip;
    gunzip.on('data', (decoded: Buffer) => this.collect(decoded));
    gunzip.on('error', (error: Error) => {
      if (!this.decided) this.refuse(new DatasetFormatError(`corrupt gzip stream (${error.message})`, { byteOffset: this.decodedBytes }));
    });
    gunzip.write(head);
  }

  private collect(decoded: Buffer): void {
    if (this.decided) return;
    this.decoded.push(decoded);
    this.decodedBytes += decoded.length;
    this.check(false);
  }

  /** Runs the checks the head allows so far; `ended`: there is no more. */
  private check(ended: boolean): void {
    if (this.decided) return;
    const head = Buffer.concat(this.decoded);
    this.decoded = [head];
    try {
      const done =
        this.options.part === 'csv'
          ? this.checkCsv(head, ended)
          : checkIdxHead(head, this.options.part, { maxBytes: this.options.limits.maxDatasetBytes, maxBytesSetting: 'HANAMI_MAX_DATASET_BYTES' });
      if (done || ended) this.decide();
    } catch (error) {
      this.refuse(error as Error);
    }
  }

  /** True once the head was checked as far as it goes. */
  private checkCsv(head: Buffer, ended: boolean): boolean {
    const nul = head.indexOf(0);
    if (nul >= 0) throw new DatasetFormatError('binary data (a NUL byte) in a CSV file', { byteOffset: nul });
    if (!ended && head.length < HEAD_BYTES) return false;
    const text = head.subarray(0, Math.min(head.length, HEADER_MAX_BYTES)).toString('utf8');
    const end = ended && head.length <= HEADER_MAX_BYTES ? text.length : lastCompleteLine(text) + 1;
    if (end <= 0) {
      if (head.length >= HEADER_MAX_BYTES) throw new DatasetFormatError(`the header row does not end within the first ${HEADER_MAX_BYTES} bytes`, { row: 1 });
      return false;
    }
    this.decide();
    // The reader's own checks on the complete lines of the head; only a missing data row
    // is no fault of a head.
    const options: CsvDatasetOptions = { ...this.options.csv, limits: { ...this.options.limits, maxDecodedBytes: undefined } };
    // A refusal arrives asynchronously and aborts the upload through `refuse`.
    inBackground(readCsvDataset(Readable.from([text.slice(0, end)]), options), (error: unknown) => {
      if (error instanceof Error && !/^no data rows/.test(error.message)) this.refuse(error);
    });
    return true;
  }

  private decide(): void {
    this.decided = true;
    this.decoded = [];
    if (this.gunzip) {
      const gunzip = this.gunzip;
      this.gunzip = undefined;
      gunzip.removeAllListeners('data');
      gunzip.removeAllListeners('end');
      gunzip.on('error', () => undefined);
      gunzip.destroy();
    }
    const flush = this.pendingFlush;
    this.pendingFlush = undefined;
    flush?.();
  }

  private refuse(error: Error): void {
    if (this.failure) return;
    this.failure = error;
    this.decide();
    this.destroy(error);
  }
}
