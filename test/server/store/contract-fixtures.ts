/**
 * What the Store contract suites share: record makers with controlled creation times and
 * unique names, assertion helpers (not found, conflicts, order), and streams for blob tests.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  ConflictError,
  NotFoundError,
  type AuditEntry,
  type CheckpointRecord,
  type ClusterRecord,
  type DatasetRecord,
  type ErrorEntry,
  type Project,
  type Store,
  type TemplateRecord,
  type TrainTaskRecord,
  type User,
} from '../../../server/store/types.js';

export interface StoreContractHooks {
  /** What a failed blob write may have left behind (temp files, chunks without a files
   *  document); must be empty once put() has rejected. */
  blobLeftovers?(store: Store): Promise<string[]>;
}

export type ProjectRecord = { id: string; projectId: string; name: string };

// ---------------------------------------------------------------------------------------
// Record makers

export const BASE_TIME = Date.UTC(2026, 0, 1);

/** A timestamp `seconds` after a fixed base, so tests control the creation order. */
export function at(seconds: number): string {
  return new Date(BASE_TIME + seconds * 1000).toISOString();
}

export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function makeUser(overrides: Partial<User> = {}): User {
  return {
    id: randomUUID(),
    name: unique('user'),
    isAdmin: false,
    passphraseHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==',
    tokenVersion: 0,
    createdAt: at(0),
    createdBy: 'system',
    ...overrides,
  };
}

export function makeProject(overrides: Partial<Project> = {}): Project {
  return { id: randomUUID(), name: unique('project'), description: 'a project', createdAt: at(0), createdBy: 'admin', ...overrides };
}

export function makeTemplate(projectId: string, name = unique('template'), createdAt = at(0)): TemplateRecord {
  return { id: randomUUID(), projectId, name, text: 'version: 1\nhexagons:\n  - input: 784\n', createdAt, createdBy: 'u1' };
}

export function makeDataset(projectId: string, name = unique('dataset'), createdAt = at(0)): DatasetRecord {
  return {
    id: randomUUID(),
    projectId,
    name,
    format: 'csv',
    status: 'uploading',
    receivedBytes: 0,
    expectedBytes: 1234,
    blobs: [{ role: 'csv', blobId: randomUUID(), bytes: 1234, sha256: 'ab'.repeat(32) }],
    rows: null,
    inputColumns: ['a', 'b'],
    inputWidth: 2,
    targets: { kind: 'class', classes: ['cat', 'dog'] },
    options: { delimiter: ';', 'header.row': 1 },
    error: null,
    createdAt,
    createdBy: 'u1',
  };
}

export function makeCluster(projectId: string, name = unique('cluster'), createdAt = at(0)): ClusterRecord {
  return {
    id: randomUUID(),
    projectId,
    name,
    templateText: 'version: 1',
    seed: 4294967295,
    backend: 'auto',
    mode: 'tasks',
    stateBlobId: null,
    stats: { neurons: 10, synapses: 250 },
    owner: null,
    leaseUntil: null,
    createdAt,
    updatedAt: createdAt,
    createdBy: 'u1',
  };
}

export function makeCheckpoint(projectId: string, name = unique('checkpoint'), createdAt = at(0)): CheckpointRecord {
  return {
    id: randomUUID(),
    projectId,
    clusterId: randomUUID(),
    name,
    blobId: randomUUID(),
    bytes: 99,
    sha256: 'cd'.repeat(32),
    stats: { neurons: 1.5 },
    createdAt,
    createdBy: 'u1',
  };
}

export function makeTask(projectId: string, name = unique('task'), createdAt = at(0), overrides: Partial<TrainTaskRecord> = {}): TrainTaskRecord {
  return {
    id: randomUUID(),
    projectId,
    clusterId: randomUUID(),
    kind: 'train',
    name,
    state: 'queued',
    // Names with dots and dollars: MongoDB field-name rules must not touch them.
    params: {
      datasetId: randomUUID(),
      epochs: 2,
      inputs: [
        { name: 'in.put', column: 0, size: 2 },
        { name: '$dollar', column: 2 },
      ],
      output: 'out.$',
    },
    progress: { done: 0, total: 10 },
    result: null,
    resultBlobId: null,
    error: null,
    runBy: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    createdBy: 'u1',
    ...overrides,
  };
}

export function makeAudit(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { id: randomUUID(), time: at(0), userId: null, projectId: null, method: 'GET', path: '/v1/projects', status: 200, requestId: randomUUID(), ...overrides };
}

export function makeErrorEntry(overrides: Partial<ErrorEntry> = {}): ErrorEntry {
  return {
    id: randomUUID(),
    time: at(0),
    userId: null,
    projectId: null,
    requestId: null,
    component: 'task',
    message: 'boom',
    detail: 'stack…',
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------
// Assertion helpers

export async function rejectsWith(promise: Promise<unknown>, errorClass: new (...args: never[]) => Error, check?: (e: Error) => void): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof errorClass, `expected ${errorClass.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    check?.(e);
    return true;
  });
}

export function notFound(promise: Promise<unknown>): Promise<void> {
  return rejectsWith(promise, NotFoundError);
}

export function conflict(promise: Promise<unknown>, field: string, value: string): Promise<void> {
  return rejectsWith(promise, ConflictError, (e) => {
    assert.ok(e instanceof ConflictError);
    assert.equal(e.field, field);
    assert.equal(e.value, value);
  });
}

export function byCreation<T extends { createdAt: string; id: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export function ids(records: { id: string }[]): string[] {
  return records.map((r) => r.id);
}

/** The ids of `wanted` in the order they appear in `listed`. */
export function orderAmong(listed: { id: string }[], wanted: { id: string }[]): string[] {
  const set = new Set(ids(wanted));
  return ids(listed).filter((id) => set.has(id));
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stream of `data` in chunks of `chunkBytes`. */
export function streamOf(data: Buffer, chunkBytes = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.byteLength; i += chunkBytes) chunks.push(data.subarray(i, i + chunkBytes));
  return Readable.from(chunks, { objectMode: false });
}

/** A stream that yields some bytes and then fails, like a client that disconnects. */
export function failingStream(bytesBeforeError: number): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(bytesBeforeError);
      throw new Error('client went away');
    })(),
    { objectMode: false },
  );
}

export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------
// The suite

/**
 * @param makeStore a new, not yet initialised Store over this run's location (called more
 *   than once: reopening must see the same data)
 * @param cleanup removes the location once the suite is done
 */
