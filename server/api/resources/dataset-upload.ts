/**
 * One part upload: the request body streams through the size cap and a check of its first
 * bytes (datasets/head-check.ts: an IDX header or a CSV header and first rows; junk is
 * refused at once, not after it was stored) into a blob, with progress written to the
 * dataset as bytes arrive; then the stored parts are parsed under the decoded-size, row,
 * column and memory limits, in a worker thread (one parse at a time per process). A malformed or oversized part
 * is dropped and the dataset says why; a good one makes the dataset ready and its parsed form
 * goes into the dataset cache (and, for CSV, into a blob beside the text: parsed-form.ts).
 */
import type { Request, Response } from 'express';
import { finished } from 'node:stream';
import { UploadHeadCheck } from '../../datasets/head-check.js';
import type { ParseResult } from '../../datasets/parse-in-worker.js';
import type { PlainLimits } from '../../datasets/parse-worker.js';
import type { Dataset } from '../../datasets/types.js';
import { readAll } from '../paging.js';
import { BlobTooLargeError, type DatasetRecord } from '../../store/types.js';
import { fullCode, isStorageFull } from '../../store/write-probe.js';
import { csvOptionsOf, type DatasetPart } from '../../tasks/dataset-loader.js';
import { ProgressWriter } from '../../tasks/progress-writer.js';
import { dropBlob } from '../cleanup.js';
import { storageLeft, storageQuotaExceeded } from '../quotas.js';
import type { ApiError } from '../problem.js';
import type { Services } from '../services.js';

function declaredLength(req: Request): number | null {
  const header = req.headers['content-length'];
  if (header === undefined) return null;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Refusing an upload before reading it: the connection closes, so the client stops sending. */
export function refuseUpload(res: Response, error: ApiError | Error): never {
  res.setHeader('Connection', 'close');
  throw error;
}

/** The new part's limits, and the per-part decoded limit the parts stored before it are read under. */
type UploadLimits = PlainLimits & { partMaxDecodedBytes: number };

/** Decoded bytes of a part: measured at upload, or (older records) its stored size. */
function decodedOf(blob: DatasetRecord['blobs'][number]): number {
  return blob.decodedBytes ?? blob.bytes;
}

/**
 * The limits a part of `record` is read under: HANAMI_MAX_DECODED_BYTES per part, or what
 * is left of HANAMI_PROJECT_MAX_DECODED_BYTES when that is less (the other datasets' parts
 * and this dataset's other parts count).
 */
async function limitsFor(services: Services, record: DatasetRecord): Promise<UploadLimits> {
  const { config, store } = services;
  const datasets = await readAll((page) => store.datasets.list(record.projectId, page));
  const used = datasets.reduce((sum, d) => sum + d.blobs.reduce((s, b) => s + decodedOf(b), 0), 0);
  const left = Math.max(0, config.projectMaxDecodedBytes - used);
  const limits: UploadLimits = {
    maxDecodedBytes: config.maxDecodedBytes,
    partMaxDecodedBytes: config.maxDecodedBytes,
    maxDatasetBytes: config.maxDatasetBytes,
    maxRows: config.csvMaxRows,
    maxColumns: config.csvMaxColumns,
  };
  if (left < config.maxDecodedBytes) {
    limits.maxDecodedBytes = left;
    limits.decodedLimit = { name: 'HANAMI_PROJECT_MAX_DECODED_BYTES', value: config.projectMaxDecodedBytes };
    limits.decodedUsage = used;
  }
  return limits;
}

/**
 * Reads what the record's parts hold, in the dataset worker (off the event loop, one parse at
 * a time): the new part under `limits`, the parts stored before it (already counted against
 * the project) under the per-part limit only.
 */
function parseParts(services: Services, record: DatasetRecord, newPart: DatasetPart, limits: UploadLimits): Promise<ParseResult> {
  const { partMaxDecodedBytes, ...forNew } = limits;
  const stored: PlainLimits = { ...forNew, maxDecodedBytes: partMaxDecodedBytes, decodedLimit: undefined, decodedUsage: undefined };
  return services.datasetParser.parse({
    format: record.format,
    name: record.name,
    csv: csvOptionsOf(record),
    parts: record.blobs.map((b) => ({ part: b.role, limits: b.role === newPart ? forNew : stored, open: () => services.store.blobs.open(b.blobId) })),
  });
}

export async function upload(services: Services, record: DatasetRecord, part: DatasetPart, req: Request, res: Response): Promise<DatasetRecord> {
  const { store, config } = services;
  const declared = declaredLength(req);
  if (declared !== null && declared > config.maxUploadBytes) refuseUpload(res, new BlobTooLargeError(config.maxUploadBytes));
  // The storage quota: refused before reading when nothing (or less than declared) is left;
  // otherwise what is left caps the stream.
  let quota: { usage: number; left: number };
  try {
    quota = await storageLeft(services, record.projectId, `the ${part} part`, Math.max(1, declared ?? 1));
  } catch (error) {
    refuseUpload(res, error as Error);
  }
  const byQuota = quota.left < config.maxUploadBytes;
  const limits = await limitsFor(services, record);
  const base = record.blobs.reduce((sum, b) => sum + b.bytes, 0);
  let current = await store.datasets.update(record.projectId, record.id, {
    status: 'uploading',
    receivedBytes: base,
    expectedBytes: declared === null ? null : base + declared,
    error: null,
  });
  const progress = new ProgressWriter((received) => store.datasets.update(record.projectId, record.id, { receivedBytes: base + received }), 250);
  // The first bytes are checked as they arrive; a failure there stops the upload.
  const head = new UploadHeadCheck({ part, csv: csvOptionsOf(record), limits });
  finished(req, (error) => {
    if (error) head.destroy(error);
  });
  req.pipe(head);
  let blob;
  try {
    blob = await store.blobs.put(head, { maxBytes: Math.min(config.maxUploadBytes, quota.left), onProgress: (bytes) => progress.report(bytes, declared ?? 0) });
  } catch (error) {
    await progress.flush();
    const refused = head.failure;
    const full = !refused && isStorageFull(error);
    const overQuota = error instanceof BlobTooLargeError && byQuota;
    const message = refused
      ? `${part}: ${refused.message}`
      : overQuota
        ? `the ${part} part would take the project over its storage quota of ${config.quotaBytes} bytes (HANAMI_QUOTA_BYTES)`
        : error instanceof BlobTooLargeError
          ? `the ${part} part is larger than the upload limit of ${config.maxUploadBytes} bytes`
          : full
            ? `the store ran out of space (${fullCode(error)}) while the ${part} part was stored; nothing of it was kept`
            : `the upload of the ${part} part broke off`;
    // With a full disk this record update may fail too; the answer says what happened anyway.
    await store.datasets.update(record.projectId, record.id, { status: 'failed', receivedBytes: base, error: message }).catch((e: unknown) => {
      if (!isStorageFull(e)) throw e;
    });
    if (refused) refuseUpload(res, refused);
    if (overQuota) refuseUpload(res, storageQuotaExceeded(services, quota.usage, `the ${part} part`));
    if (error instanceof BlobTooLargeError) refuseUpload(res, error);
    // The rest of the body is not read: the connection closes once the 507 is sent.
    if (full) refuseUpload(res, error as Error);
    throw error;
  }
  await progress.flush();
  const stored: DatasetRecord['blobs'] = [...current.blobs, { role: part, blobId: blob.id, bytes: blob.bytes, sha256: blob.sha256 }];
  const candidate: DatasetRecord = { ...current, blobs: stored, receivedBytes: base + blob.bytes };
  let dataset: Dataset | undefined;
  let decoded: ParseResult['decoded'] = {};
  try {
    // A check that finished after the last byte (a CSV head) may still have refused it.
    if (head.failure) throw head.failure;
    ({ dataset, decoded } = await parseParts(services, candidate, part, limits));
  } catch (error) {
    // The part is refused: drop its blob, say why on the dataset, answer 422 with the place.
    await dropBlob(services, blob.id);
    const message = error instanceof Error ? error.message : String(error);
    await store.datasets.update(record.projectId, record.id, { status: 'failed', receivedBytes: base, error: `${part}: ${message}` });
    throw error;
  }
  const measured = stored.map((b) => (b.role === part && decoded[part] !== undefined ? { ...b, decodedBytes: decoded[part] } : b));
  current = await store.datasets.update(record.projectId, record.id, {
    blobs: measured,
    receivedBytes: base + blob.bytes,
    status: dataset ? 'ready' : 'uploading',
    ...(dataset ? shapeOf(dataset) : {}),
  });
  if (dataset) services.datasets.put(record.id, dataset);
  // A CSV's parsed columns are stored beside it, after the answer: after a restart, no task
  // parses the text again.
  if (dataset && record.format === 'csv') services.datasets.keepParsedFormLater(current, dataset);
  return current;
}

function shapeOf(d: Dataset): Pick<DatasetRecord, 'rows' | 'inputWidth' | 'inputColumns' | 'targets'> {
  return {
    rows: d.rows,
    inputWidth: d.inputWidth,
    inputColumns: d.inputColumns,
    targets: d.targets ? (d.targets.kind === 'class' ? { kind: 'class', classes: d.targets.classes } : { kind: 'values', columns: d.targets.columns }) : null,
  };
}
