/**
 * Datasets as the engine needs them, read from their stored blobs: IDX images (+ labels) or
 * CSV with the options the dataset was created with. Parsed datasets are kept in a bounded
 * LRU cache, since tasks often reuse the same data (train, then request, then check).
 * Stored dataset content never changes (a part is uploaded once), so entries never go stale.
 *
 * On a miss, a CSV dataset is read from its parsed form (datasets/parsed-form.ts, a blob
 * written at upload) when it has one: no text is parsed again after a restart. Without one
 * (a record from before it existed, or a parsed blob that does not read back) the parts are
 * parsed in the dataset worker, off the event loop, and a CSV's parsed form is stored then.
 */
import { inBackground } from '../../kernels/background.js';
import { Readable } from 'node:stream';
import { readCsvDataset, type CsvDatasetOptions } from '../datasets/csv.js';
import type { DatasetParser } from '../datasets/parse-in-worker.js';
import { decodeParsedForm, encodeParsedForm } from '../datasets/parsed-form.js';
import { loadIdxDataset, readIdxLabels } from '../datasets/idx.js';
import type { Dataset } from '../datasets/types.js';
import type { DatasetRecord, Store } from '../store/types.js';

export type DatasetPart = 'images' | 'labels' | 'csv';

/** Options a CSV dataset is created with (kept in DatasetRecord.options). */
export interface CsvOptions {
  labelColumn?: string;
  targetColumns?: string[];
  inputColumns?: string[];
}

export function csvOptionsOf(record: DatasetRecord): CsvOptions {
  const o = record.options;
  const strings = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined);
  const out: CsvOptions = {};
  if (typeof o.labelColumn === 'string') out.labelColumn = o.labelColumn;
  const targets = strings(o.targetColumns);
  if (targets) out.targetColumns = targets;
  const inputs = strings(o.inputColumns);
  if (inputs) out.inputColumns = inputs;
  return out;
}

function blobOf(record: DatasetRecord, part: DatasetPart): string | undefined {
  return record.blobs.find((b) => b.role === part)?.blobId;
}

/** Reads what the record's parts hold; `labels` alone is validated on its own (no images yet). */
export async function parseDatasetParts(store: Store, record: DatasetRecord): Promise<Dataset | undefined> {
  const open = (id: string): Promise<Readable> => store.blobs.open(id);
  if (record.format === 'csv') {
    const csv = blobOf(record, 'csv');
    if (!csv) return undefined;
    const options: CsvDatasetOptions = { ...csvOptionsOf(record), name: record.name };
    return readCsvDataset(await open(csv), options);
  }
  const images = blobOf(record, 'images');
  const labels = blobOf(record, 'labels');
  if (!images) {
    if (labels) await readIdxLabels(await open(labels));
    return undefined;
  }
  return loadIdxDataset(await open(images), labels ? await open(labels) : undefined, { name: record.name });
}

function datasetBytes(d: Dataset): number {
  let bytes = d.inputs.byteLength;
  if (d.targets?.kind === 'class') bytes += d.targets.labels.byteLength;
  if (d.targets?.kind === 'values') bytes += d.targets.values.byteLength;
  return bytes;
}

/** Stores a CSV dataset's parsed form; the blob's id, or undefined when it could not be written. */
export async function storeParsedForm(store: Store, dataset: Dataset): Promise<string | undefined> {
  try {
    return (await store.blobs.put(Readable.from(encodeParsedForm(dataset)))).id;
  } catch {
    // A full disk, say: the dataset is parsed again on its first use after a restart.
    return undefined;
  }
}

/** How misses were served (the tests count them: a parsed form read means no parse ran). */
export interface DatasetLoads {
  /** Read from a stored parsed form. */
  parsedForm: number;
  /** Parsed from the stored parts (in the dataset worker when there is one). */
  parsed: number;
}

export class DatasetCache {
  /** Insertion order = recency order (entries are re-inserted on use). */
  private readonly entries = new Map<string, { dataset: Promise<Dataset>; bytes: number }>();
  private bytes = 0;
  readonly loads: DatasetLoads = { parsedForm: 0, parsed: 0 };

  constructor(
    private readonly store: Store,
    private readonly maxBytes: number,
    private readonly parser?: DatasetParser,
  ) {}

  /** A miss: the parsed form if there is one that reads back, else the parts parsed. */
  private async load(record: DatasetRecord): Promise<Dataset | undefined> {
    const csv = record.format === 'csv' ? record.blobs.find((b) => b.role === 'csv') : undefined;
    if (csv?.parsedBlobId !== undefined) {
      try {
        const dataset = decodeParsedForm(await this.store.blobs.read(csv.parsedBlobId));
        this.loads.parsedForm++;
        return dataset;
      } catch {
        // Missing or unreadable: parse the text, as for a record without one.
      }
    }
    this.loads.parsed++;
    if (!this.parser) return parseDatasetParts(this.store, record);
    const { dataset } = await this.parser.parse({
      format: record.format,
      name: record.name,
      csv: csvOptionsOf(record),
      parts: record.blobs.map((b) => ({ part: b.role, limits: {}, open: () => this.store.blobs.open(b.blobId) })),
    });
    if (dataset && csv && csv.parsedBlobId === undefined) await this.keepParsedForm(record, dataset);
    return dataset;
  }

  /**
   * Stores a CSV dataset's parsed form after the answer (an upload's): writing and syncing it
   * is not the uploader's wait. Until it is stored, a restart parses the text once, in the worker.
   */
  keepParsedFormLater(record: DatasetRecord, dataset: Dataset): void {
    const writing = this.keepParsedForm(record, dataset);
    this.writes.add(writing);
    inBackground(
      writing.finally(() => this.writes.delete(writing)),
      // Not reached: keepParsedForm answers its own failures (the text is parsed when needed).
      () => undefined,
    );
  }

  /** Resolves once the parsed forms being written are stored (or given up). */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.writes]);
  }

  private readonly writes = new Set<Promise<void>>();

  /** Stores the parsed form of a CSV dataset that had none, so this was its last parse. */
  private async keepParsedForm(record: DatasetRecord, dataset: Dataset): Promise<void> {
    const id = await storeParsedForm(this.store, dataset);
    if (id === undefined) return;
    try {
      await this.store.datasets.update(record.projectId, record.id, { blobs: record.blobs.map((b) => (b.role === 'csv' ? { ...b, parsedBlobId: id } : b)) });
    } catch {
      // The record went away (or the store failed): the blob is not referenced, drop it.
      try {
        await this.store.blobs.delete(id);
      } catch {
        // It stays as an orphan, like any blob whose delete failed.
      }
    }
  }

  /** The parsed dataset of a ready record (loads it from its blobs on a miss). */
  async get(record: DatasetRecord): Promise<Dataset> {
    const hit = this.entries.get(record.id);
    if (hit) {
      this.entries.delete(record.id);
      this.entries.set(record.id, hit);
      return hit.dataset;
    }
    const loading = this.load(record).then((d) => {
      if (!d) throw new Error(`dataset ${record.id} has no content yet`);
      return d;
    });
    const entry = { dataset: loading, bytes: 0 };
    this.entries.set(record.id, entry);
    try {
      const dataset = await loading;
      this.account(record.id, entry, dataset);
      return dataset;
    } catch (error) {
      if (this.entries.get(record.id) === entry) this.entries.delete(record.id);
      throw error;
    }
  }

  /** Keeps a dataset parsed during its upload, so the first task does not parse it again. */
  put(id: string, dataset: Dataset): void {
    this.evict(id);
    const entry = { dataset: Promise.resolve(dataset), bytes: 0 };
    this.entries.set(id, entry);
    this.account(id, entry, dataset);
  }

  evict(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }

  private account(id: string, entry: { bytes: number }, dataset: Dataset): void {
    if (this.entries.get(id) !== entry) return;
    entry.bytes = datasetBytes(dataset);
    // A dataset larger than the whole budget is not kept at all (it used to stay as the
    // newest entry, holding memory beyond HANAMI_DATASET_CACHE_BYTES); whoever loaded it has
    // their own reference while they use it.
    if (entry.bytes > this.maxBytes) {
      this.entries.delete(id);
      entry.bytes = 0;
      return;
    }
    this.bytes += entry.bytes;
    // Least recently used first.
    for (const [key, other] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      if (key === id) continue;
      this.entries.delete(key);
      this.bytes -= other.bytes;
    }
  }
}
