/**
 * The dataset worker: parses uploaded parts off the event loop (parse-in-worker.ts runs it).
 * The parent streams each part's stored bytes to it on request (one chunk per `want`, so a
 * large part never piles up in messages); the worker decompresses and parses them under the
 * limits and answers with the dataset — its arrays live in SharedArrayBuffers, so they reach
 * the parent without a copy — or with the error, described so the parent can raise the same
 * class again.
 */
import { inBackground } from '../../kernels/background.js';
import { parentPort } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { readCsvDataset, type CsvDatasetOptions } from './csv.js';
import { loadIdxDataset, readIdxLabels } from './idx.js';
import { DatasetFormatError, DatasetTooLargeError, type Dataset, type DatasetLimits } from './types.js';

export type WorkerPart = 'images' | 'labels' | 'csv';

/** Limits without the callback (it cannot cross threads): decoded sizes come back in the reply. */
export type PlainLimits = Omit<DatasetLimits, 'onDecodedBytes'>;

export interface ParseJob {
  type: 'start';
  format: 'idx' | 'csv';
  name: string;
  csv: CsvDatasetOptions;
  /** The parts there are, and the limits each is read under. */
  parts: { part: WorkerPart; limits: PlainLimits }[];
}

export type ToWorker = ParseJob | { type: 'chunk'; part: WorkerPart; data: Uint8Array } | { type: 'end'; part: WorkerPart } | { type: 'fail'; part: WorkerPart; message: string };

export type DescribedError =
  | { kind: 'format'; message: string; byteOffset?: number; row?: number; column?: number; columnName?: string }
  | { kind: 'too_large'; message: string; limit: { name: string; value: number }; byteOffset?: number; row?: number; usage?: number }
  | { kind: 'other'; message: string };

export type FromWorker =
  { type: 'ready' } | { type: 'want'; part: WorkerPart } | { type: 'done'; dataset: Dataset | undefined; decoded: Partial<Record<WorkerPart, number>> } | { type: 'error'; error: DescribedError };

/** The bytes of one part, pulled from the parent a chunk at a time. */
class PartSource {
  private waiting: ((message: ToWorker) => void) | undefined;
  private readonly queue: ToWorker[] = [];

  constructor(readonly part: WorkerPart) {}

  deliver(message: ToWorker): void {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve(message);
    } else this.queue.push(message);
  }

  private next(): Promise<ToWorker> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    parentPort?.postMessage({ type: 'want', part: this.part } satisfies FromWorker);
    return new Promise((resolve) => (this.waiting = resolve));
  }

  stream(): Readable {
    const next = (): Promise<ToWorker> => this.next();
    return Readable.from(
      (async function* () {
        for (;;) {
          const message = await next();
          if (message.type === 'chunk') yield Buffer.from(message.data.buffer, message.data.byteOffset, message.data.byteLength);
          else if (message.type === 'fail') throw new Error(message.message);
          else return;
        }
      })(),
      { objectMode: false },
    );
  }
}

function describe(error: unknown): DescribedError {
  if (error instanceof DatasetTooLargeError) {
    const { limit, byteOffset, row, usage } = error.details;
    return {
      kind: 'too_large',
      message: error.message,
      limit: limit ?? { name: 'dataset', value: 0 },
      ...(byteOffset === undefined ? {} : { byteOffset }),
      ...(row === undefined ? {} : { row }),
      ...(usage === undefined ? {} : { usage }),
    };
  }
  if (error instanceof DatasetFormatError) {
    const out: DescribedError = { kind: 'format', message: error.message };
    if (error.byteOffset !== undefined) out.byteOffset = error.byteOffset;
    if (error.row !== undefined) out.row = error.row;
    if (error.column !== undefined) out.column = error.column;
    if (error.columnName !== undefined) out.columnName = error.columnName;
    return out;
  }
  return { kind: 'other', message: error instanceof Error ? error.message : String(error) };
}

const sources = new Map<WorkerPart, PartSource>();

async function run(job: ParseJob): Promise<FromWorker> {
  const decoded: Partial<Record<WorkerPart, number>> = {};
  const open = (part: WorkerPart): { stream: Readable; limits: DatasetLimits } | undefined => {
    const spec = job.parts.find((p) => p.part === part);
    if (!spec) return undefined;
    const source = new PartSource(part);
    sources.set(part, source);
    return { stream: source.stream(), limits: { ...spec.limits, onDecodedBytes: (bytes) => (decoded[part] = bytes) } };
  };
  const idxOptions = (limits: DatasetLimits) => ({ maxBytes: limits.maxDatasetBytes, maxBytesSetting: 'HANAMI_MAX_DATASET_BYTES', limits });
  try {
    let dataset: Dataset | undefined;
    if (job.format === 'csv') {
      const csv = open('csv');
      if (csv) dataset = await readCsvDataset(csv.stream, { ...job.csv, name: job.name, limits: csv.limits });
    } else {
      const images = open('images');
      if (images) dataset = await loadIdxDataset(images.stream, undefined, { name: job.name, ...idxOptions(images.limits) });
      const labels = open('labels');
      if (labels) {
        const targets = await readIdxLabels(labels.stream, { ...idxOptions(labels.limits), ...(dataset ? { rows: dataset.rows } : {}) });
        if (dataset) dataset.targets = targets;
      }
    }
    return { type: 'done', dataset, decoded };
  } catch (error) {
    return { type: 'error', error: describe(error) };
  } finally {
    sources.clear();
  }
}

parentPort?.on('message', (message: ToWorker) => {
  if (message.type === 'start') {
    // run() answers its own failures; what is left is a reply that could not be posted.
    inBackground(
      run(message).then((reply) => parentPort?.postMessage(reply)),
      (error) => parentPort?.postMessage({ type: 'error', error: describe(error) } satisfies FromWorker),
    );
  } else sources.get(message.part)?.deliver(message);
});
parentPort?.postMessage({ type: 'ready' } satisfies FromWorker);
