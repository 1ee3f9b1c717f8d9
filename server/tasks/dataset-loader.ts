/**
 * Datasets as the engine needs them, read from their stored blobs: IDX images (+ labels) or
 * CSV with the options the dataset was created with. Parsed datasets are kept in a bounded
 * LRU cache, since tasks often reuse the same data (train, then request, then check).
 * Stored dataset content never changes (a part is uploaded once), so entries never go stale.
 */
import type { Readable } from 'node:stream';
import { readCsvDataset, type CsvDatasetOptions } from '../datasets/csv.js';
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

export class DatasetCache {
  /** Insertion order = recency order (entries are re-inserted on use). */
  private readonly entries = new Map<string, { dataset: Promise<Dataset>; bytes: number }>();
  private bytes = 0;

  constructor(
    private readonly store: Store,
    private readonly maxBytes: number,
  ) {}

  /** The parsed dataset of a ready record (loads it from its blobs on a miss). */
  async get(record: DatasetRecord): Promise<Dataset> {
    const hit = this.entries.get(record.id);
    if (hit) {
      this.entries.delete(record.id);
      this.entries.set(record.id, hit);
      return hit.dataset;
    }
    const loading = parseDatasetParts(this.store, record).then((d) => {
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
