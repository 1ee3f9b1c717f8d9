/**
 * One part upload: the request body streams through the size cap into a blob (progress
 * written to the dataset as bytes arrive), then the stored parts are parsed. A malformed
 * part is dropped and the dataset says why; a good one makes the dataset ready and its parsed
 * form goes into the dataset cache.
 */
import type { Request, Response } from 'express';
import type { Dataset } from '../../datasets/types.js';
import { BlobTooLargeError, type DatasetRecord } from '../../store/types.js';
import { parseDatasetParts, type DatasetPart } from '../../tasks/dataset-loader.js';
import { ProgressWriter } from '../../tasks/progress-writer.js';
import { dropBlob } from '../cleanup.js';
import type { ApiError } from '../problem.js';
import type { Services } from '../services.js';

function declaredLength(req: Request): number | null {
  const header = req.headers['content-length'];
  if (header === undefined) return null;
  const n = Number(header);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Refusing an upload before reading it: the connection closes, so the client stops sending. */
export function refuseUpload(res: Response, error: ApiError | BlobTooLargeError): never {
  res.setHeader('Connection', 'close');
  throw error;
}

export async function upload(services: Services, record: DatasetRecord, part: DatasetPart, req: Request, res: Response): Promise<DatasetRecord> {
  const { store, config } = services;
  const declared = declaredLength(req);
  if (declared !== null && declared > config.maxUploadBytes) refuseUpload(res, new BlobTooLargeError(config.maxUploadBytes));
  const base = record.blobs.reduce((sum, b) => sum + b.bytes, 0);
  let current = await store.datasets.update(record.projectId, record.id, {
    status: 'uploading',
    receivedBytes: base,
    expectedBytes: declared === null ? null : base + declared,
    error: null,
  });
  const progress = new ProgressWriter((received) => store.datasets.update(record.projectId, record.id, { receivedBytes: base + received }), 250);
  let blob;
  try {
    blob = await store.blobs.put(req, { maxBytes: config.maxUploadBytes, onProgress: (bytes) => progress.report(bytes, declared ?? 0) });
  } catch (error) {
    await progress.flush();
    const message = error instanceof BlobTooLargeError ? `the ${part} part is larger than the upload limit of ${config.maxUploadBytes} bytes` : `the upload of the ${part} part broke off`;
    await store.datasets.update(record.projectId, record.id, { status: 'failed', receivedBytes: base, error: message });
    if (error instanceof BlobTooLargeError) refuseUpload(res, error);
    throw error;
  }
  await progress.flush();
  const stored = [...current.blobs, { role: part, blobId: blob.id, bytes: blob.bytes, sha256: blob.sha256 }];
  const candidate: DatasetRecord = { ...current, blobs: stored, receivedBytes: base + blob.bytes };
  let dataset: Dataset | undefined;
  try {
    dataset = await parseDatasetParts(store, candidate);
  } catch (error) {
    // The part is refused: drop its blob, say why on the dataset, answer 422 with the place.
    await dropBlob(services, blob.id);
    const message = error instanceof Error ? error.message : String(error);
    await store.datasets.update(record.projectId, record.id, { status: 'failed', receivedBytes: base, error: `${part}: ${message}` });
    throw error;
  }
  current = await store.datasets.update(record.projectId, record.id, {
    blobs: stored,
    receivedBytes: base + blob.bytes,
    status: dataset ? 'ready' : 'uploading',
    ...(dataset ? shapeOf(dataset) : {}),
  });
  if (dataset) services.datasets.put(record.id, dataset);
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
