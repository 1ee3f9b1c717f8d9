/**
 * Uploaded dataset parts parsed off the event loop. Decompressing and parsing a part is CPU
 * work proportional to its decoded size (a CSV row costs microseconds, and a small gzip can
 * hold millions of them), and on the event loop it would hold up every other request and
 * /healthz. So the service parses uploads in one worker thread (parse-worker.ts), one part
 * set at a time (which also bounds the memory parses hold to one dataset's):
 *
 * - the worker asks for the stored bytes chunk by chunk; this side reads them from the blob
 *   store (its only work: I/O and a copy per chunk), so nothing piles up;
 * - the dataset comes back over SharedArrayBuffers (no copy), errors as their own classes.
 *
 * The worker is started on first use, kept (unref'd) and started again if it dies.
 */
import { ignoreFailure } from '../../kernels/background.js';
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import type { CsvDatasetOptions } from './csv.js';
import type { FromWorker, ParseJob, PlainLimits, ToWorker, WorkerPart, DescribedError } from './parse-worker.js';
import { DatasetFormatError, DatasetTooLargeError, type Dataset } from './types.js';

/** Bytes per message to the worker (at least; the last one may be shorter). */
const MESSAGE_BYTES = 1 << 20;

export interface PartToParse {
  part: WorkerPart;
  limits: PlainLimits;
  open(): Promise<Readable>;
}

export interface ParseRequest {
  format: 'idx' | 'csv';
  name: string;
  csv: CsvDatasetOptions;
  parts: PartToParse[];
}

export interface ParseResult {
  dataset: Dataset | undefined;
  /** Each part's size once decompressed. */
  decoded: Partial<Record<WorkerPart, number>>;
}

interface Job {
  request: ParseRequest;
  resolve: (result: ParseResult) => void;
  reject: (error: Error) => void;
  /** The open part streams, by part. */
  streams: Map<WorkerPart, AsyncIterator<unknown> & { destroy?: () => void; source: Readable }>;
}

function restore(error: DescribedError): Error {
  if (error.kind === 'too_large') {
    const where: { byteOffset?: number; row?: number; usage?: number } = {};
    if (error.byteOffset !== undefined) where.byteOffset = error.byteOffset;
    if (error.row !== undefined) where.row = error.row;
    if (error.usage !== undefined) where.usage = error.usage;
    return new DatasetTooLargeError(error.message, error.limit, where);
  }
  if (error.kind === 'format') {
    const where: { byteOffset?: number; row?: number; column?: number; columnName?: string } = {};
    if (error.byteOffset !== undefined) where.byteOffset = error.byteOffset;
    if (error.row !== undefined) where.row = error.row;
    if (error.column !== undefined) where.column = error.column;
    if (error.columnName !== undefined) where.columnName = error.columnName;
    const restored = new DatasetFormatError('', where);
    // The message already names the place; the constructor would add it again.
    Object.defineProperty(restored, 'message', { value: error.message, enumerable: false, writable: true, configurable: true });
    return restored;
  }
  return new Error(`dataset worker: ${error.message}`);
}

export class DatasetParser {
  private worker: Worker | undefined;
  private ready = false;
  private readonly queue: Job[] = [];
  private current: Job | undefined;
  private closed = false;
  /** Parse jobs asked for so far (the tests count them). */
  jobs = 0;

  parse(request: ParseRequest): Promise<ParseResult> {
    if (this.closed) return Promise.reject(new Error('the dataset parser was closed'));
    this.jobs++;
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject, streams: new Map() });
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const pending = [...this.queue.splice(0), ...(this.current ? [this.current] : [])];
    this.current = undefined;
    for (const job of pending) {
      this.closeStreams(job);
      job.reject(new Error('the dataset parser was closed'));
    }
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  /** Starts the worker ahead of the first request (spawning one takes the event loop ~0.1 s). */
  warm(): void {
    if (!this.closed) this.worker ??= this.start();
  }

  private start(): Worker {
    const worker = new Worker(new URL('./parse-worker.js', import.meta.url), { stdout: false, stderr: false });
    worker.unref();
    this.ready = false;
    worker.on('message', (message: FromWorker) => this.onMessage(worker, message));
    worker.on('error', (error: Error) => this.onDeath(worker, error));
    worker.on('exit', () => this.onDeath(worker, new Error('the dataset worker exited')));
    return worker;
  }

  private pump(): void {
    if (this.current || this.closed || this.queue.length === 0) return;
    this.worker ??= this.start();
    if (!this.ready) return;
    const job = this.queue.shift()!;
    this.current = job;
    const { format, name, csv, parts } = job.request;
    const message: ParseJob = { type: 'start', format, name, csv, parts: parts.map(({ part, limits }) => ({ part, limits })) };
    this.worker.postMessage(message);
  }

  private onMessage(worker: Worker, message: FromWorker): void {
    if (worker !== this.worker) return;
    if (message.type === 'ready') {
      this.ready = true;
      this.pump();
      return;
    }
    const job = this.current;
    if (!job) return;
    if (message.type === 'want') {
      ignoreFailure(this.send(worker, job, message.part), 'send reports its own failures to the worker');
      return;
    }
    this.current = undefined;
    this.closeStreams(job);
    if (message.type === 'done') job.resolve({ dataset: message.dataset, decoded: message.decoded });
    else job.reject(restore(message.error));
    this.pump();
  }

  /** The next chunk of a part (opening it on the first request), or its end. */
  private async send(worker: Worker, job: Job, part: WorkerPart): Promise<void> {
    const post = (message: ToWorker, transfer: ArrayBuffer[] = []): void => {
      if (this.current === job && worker === this.worker) worker.postMessage(message, transfer);
    };
    try {
      let stream = job.streams.get(part);
      if (!stream) {
        const spec = job.request.parts.find((p) => p.part === part);
        if (!spec) return post({ type: 'end', part });
        const source = await spec.open();
        stream = Object.assign(source[Symbol.asyncIterator](), { source });
        job.streams.set(part, stream);
      }
      // Chunks of at least MESSAGE_BYTES: each message is a round trip through this event
      // loop, which may be busy; the bytes are moved to the worker, not copied again.
      const pieces: Buffer[] = [];
      let bytes = 0;
      while (bytes < MESSAGE_BYTES) {
        const next = await stream.next();
        if (next.done === true) break;
        const chunk = next.value as Uint8Array;
        pieces.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        bytes += chunk.byteLength;
      }
      if (bytes === 0) return post({ type: 'end', part });
      const data = new Uint8Array(new ArrayBuffer(bytes));
      let at = 0;
      for (const piece of pieces) {
        data.set(piece, at);
        at += piece.length;
      }
      post({ type: 'chunk', part, data }, [data.buffer]);
    } catch (error) {
      post({ type: 'fail', part, message: error instanceof Error ? error.message : String(error) });
    }
  }

  private closeStreams(job: Job): void {
    for (const stream of job.streams.values()) stream.source.destroy();
    job.streams.clear();
  }

  private onDeath(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.worker = undefined;
    this.ready = false;
    ignoreFailure(worker.terminate(), 'the worker failed already; terminating it is a formality');
    const job = this.current;
    this.current = undefined;
    if (job) {
      this.closeStreams(job);
      job.reject(error);
    }
    this.pump();
  }
}
