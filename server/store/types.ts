/**
 * The Store: everything the service persists, behind one interface with two
 * implementations — embedded SQLite + a blob folder (the default) and MongoDB + GridFS (for
 * several replicas). Both pass one contract test suite (test/server/store/).
 *
 * Conventions:
 * - ids are UUIDs (strings) made by the caller (`crypto.randomUUID()`), so both backends
 *   agree on them; timestamps are ISO-8601 strings in UTC.
 * - every project resource is looked up by (projectId, id): a caller can never reach another
 *   project's resource by guessing an id.
 * - names are unique: users and projects globally, templates/datasets/clusters/checkpoints
 *   per project. A violation throws ConflictError, an unknown id NotFoundError; other driver
 *   errors never leak out (they become StoreError).
 * - updates are single-record and atomic; nothing needs multi-record transactions (FerretDB
 *   v1 has none). The compare-and-set operations (cluster leases, task state changes) are
 *   exclusive across processes on every backend (docs/storage.md says how).
 * - lists are ordered by createdAt then id, and paged with offset/limit.
 */
import { DomainError, type ErrorCode, type ErrorDetails } from '../errors.js';
import type { Readable } from 'node:stream';

export type Role = 'project-admin' | 'member';

export interface User {
  id: string;
  name: string;
  /** Global administrator (sees and manages everything). */
  isAdmin: boolean;
  /** scrypt hash as `scrypt$N$r$p$salt(base64)$hash(base64)` — never leaves the service. */
  passphraseHash: string;
  /** Bumped when the passphrase changes or the user is disabled: older tokens stop working. */
  tokenVersion: number;
  createdAt: string;
  createdBy: string;
}

export interface Project {
  id: string;
  name: string;
  description: string;
  createdAt: string;
  createdBy: string;
}

export interface Membership {
  projectId: string;
  userId: string;
  role: Role;
  createdAt: string;
}

export interface TemplateRecord {
  id: string;
  projectId: string;
  name: string;
  /** Canonical text form (server/network/template.ts templateToText). */
  text: string;
  /** What lists show of it (hexagon count, input and output names), kept at creation so a
   *  list never parses templates. Records from before issue 13 lack it until it is filled in. */
  summary?: { hexagons: number; inputs: string[]; outputs: string[] };
  createdAt: string;
  createdBy: string;
}

export type DatasetFormat = 'idx' | 'csv';
export type DatasetStatus = 'uploading' | 'ready' | 'failed';

export interface DatasetRecord {
  id: string;
  projectId: string;
  name: string;
  format: DatasetFormat;
  status: DatasetStatus;
  /** Bytes received so far / expected (upload progress). */
  receivedBytes: number;
  expectedBytes: number | null;
  /** Blob ids of the stored files (IDX: images and optional labels; CSV: the file). */
  blobs: {
    role: 'images' | 'labels' | 'csv';
    blobId: string;
    bytes: number;
    sha256: string;
    /** Bytes once decompressed (counted against HANAMI_PROJECT_MAX_DECODED_BYTES); absent in
     *  records from before issue 13, which count as `bytes`. */
    decodedBytes?: number;
    /** CSV: blob of the parsed columns (datasets/parsed-form.ts), read instead of the text by
     *  the first task after a restart. Derived data: not counted against quotas (its size is
     *  bounded by HANAMI_MAX_DATASET_BYTES), deleted with the part. */
    parsedBlobId?: string;
  }[];
  /** Shape once parsed: rows, input columns, targets. */
  rows: number | null;
  inputColumns: string[] | null;
  inputWidth: number | null;
  targets: { kind: 'class'; classes: string[] } | { kind: 'values'; columns: string[] } | null;
  /** CSV options the dataset was parsed with. */
  options: Record<string, unknown>;
  error: string | null;
  createdAt: string;
  createdBy: string;
}

export interface ClusterRecord {
  id: string;
  projectId: string;
  name: string;
  templateText: string;
  seed: number;
  /** Backend the cluster should run on ('auto' follows the host). */
  backend: 'auto' | 'cpu' | 'webgpu';
  /** `tasks`: driven by tasks; `direct`: attached to a Socket.IO client. */
  mode: 'tasks' | 'direct';
  /** Blob id of the latest saved state (checkpoint bytes), or null for a fresh cluster. */
  stateBlobId: string | null;
  /** Statistics at the last save (neurons, synapses, ...). */
  stats: Record<string, number>;
  /** The service instance (HANAMI_INSTANCE_ID) hosting the cluster in its memory, or null.
   *  Changed only through `clusters.claim/renew/release` (`update` ignores it). */
  owner: string | null;
  /** Until when `owner` holds its lease (ISO time); past it, another instance may claim it. */
  leaseUntil: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string;
}

export interface CheckpointRecord {
  id: string;
  projectId: string;
  /** Cluster it was saved from (may since have been deleted). */
  clusterId: string;
  name: string;
  blobId: string;
  bytes: number;
  sha256: string;
  stats: Record<string, number>;
  createdAt: string;
  createdBy: string;
}

export type TaskKind = 'train' | 'request';
export type TaskState = 'queued' | 'running' | 'finished' | 'failed' | 'cancelled';

/** Which dataset columns feed one input interface of the template. */
export interface InputMapping {
  /** Input interface name from the template. */
  name: string;
  /** First dataset column feeding it (default 0). */
  column?: number;
  /** Number of columns (default: the rest of the row). */
  size?: number;
}

/** What a train task runs: the dataset, how its columns map onto the template's interfaces,
 *  the output its targets teach, and how many passes over the data. */
export interface TrainParams {
  datasetId: string;
  epochs: number;
  inputs?: InputMapping[];
  output?: string;
}

/** What a request task runs: the dataset and its mapping; `output` is the one scored. */
export interface RequestParams {
  datasetId: string;
  inputs?: InputMapping[];
  output?: string;
}

/** Where one output interface sits in a prediction row, and what its values mean. */
export interface OutputLayout {
  name: string;
  mode: 'class' | 'value';
  /** First value of the interface in a row of `width` values. */
  column: number;
  size: number;
  /** Class names (class outputs) or target column names (value outputs). */
  labels: string[];
}

/** How a request task's result blob reads: `rows` rows of `width` float32 values. */
export interface ResultLayout {
  rows: number;
  width: number;
  outputs: OutputLayout[];
}

/** How much a task processed, and how fast. */
export interface Throughput {
  /** Train: rows × epochs; request: rows. */
  samples: number;
  seconds: number;
  samplesPerSecond: number;
}

/** A finished train task: throughput and the network's statistics after it. */
export interface TrainResult extends Throughput {
  stats: Record<string, number>;
}

/** A finished request task: the layout of its outputs (in the result blob) and, when the
 *  dataset is labelled, its score. */
export interface RequestResult extends ResultLayout, Throughput {
  accuracy?: number;
  rmse?: number;
  mae?: number;
  /** Class outputs with at most MAX_CONFUSION_CLASSES classes: `confusion[actual][predicted]`
   *  counts rows, in the order of the scored output's labels. */
  confusion?: number[][];
  /** Class outputs: per class (by its label), the rows labelled so and the fraction of them
   *  predicted right (null when no row has the class). */
  perClass?: ClassScore[];
}

export interface ClassScore {
  label: string;
  samples: number;
  accuracy: number | null;
}

/**
 * One point of a task's metric series, recorded while it runs (every `HANAMI_TASK_METRIC_SAMPLES`
 * samples, at the next slice or batch boundary) and once at its end (`final`). Stored apart
 * from the task record (`tasks.appendMetrics`), at most a bounded number per task.
 */
export interface MetricPoint {
  /** 0, 1, 2, ... in recording order; unique within the task (thinning leaves gaps). */
  seq: number;
  /** When it was recorded (ISO 8601). */
  time: string;
  /** Samples done so far and in all (train: rows × epochs). */
  done: number;
  total: number;
  /** Samples per second since the previous point (the first: since the task started). */
  samplesPerSecond: number;
  /** Train: the samples the running score covers (those since the previous point, scored
   *  by the forward pass each made just before it learned); request: every row. 0: no score. */
  window: number;
  /** The score over `window`: class outputs give accuracy, value outputs RMSE and MAE. */
  accuracy?: number;
  rmse?: number;
  mae?: number;
  /** The network's size when the point was taken. */
  neurons: number;
  synapses: number;
  sections: number;
  bytes: number;
  /** The task's last point: its end (finished, cancelled or failed). */
  final: boolean;
}

export type TaskParams = TrainParams | RequestParams;
export type TaskResult = TrainResult | RequestResult;

/** What every task record has, whatever its kind. */
interface TaskFields {
  id: string;
  projectId: string;
  clusterId: string;
  name: string;
  state: TaskState;
  progress: { done: number; total: number };
  /** The blob holding a finished request task's outputs (float32, `result` says the layout). */
  resultBlobId: string | null;
  error: string | null;
  /** The service instance (HANAMI_INSTANCE_ID) that started the task, or null. */
  runBy: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  createdBy: string;
}

export interface TrainTaskRecord extends TaskFields {
  kind: 'train';
  params: TrainParams;
  /** Set when it finished. */
  result: TrainResult | null;
}

export interface RequestTaskRecord extends TaskFields {
  kind: 'request';
  params: RequestParams;
  /** Set when it finished. */
  result: RequestResult | null;
}

/**
 * A task, by kind. Params and result are checked where they cross the store (both
 * implementations read them through task-codec.ts), so no caller narrows them again.
 */
export type TaskRecord = TrainTaskRecord | RequestTaskRecord;

/** What a change of a task may set: never its identity, kind or params (fixed at creation). */
export type TaskPatch = Partial<Omit<TaskFields, 'id' | 'projectId'>> & { result?: TaskResult | null };

export interface AuditEntry {
  id: string;
  time: string;
  userId: string | null;
  projectId: string | null;
  method: string;
  path: string;
  status: number;
  requestId: string;
}

export interface ErrorEntry {
  id: string;
  time: string;
  userId: string | null;
  projectId: string | null;
  requestId: string | null;
  /** Where it happened (e.g. "task", "api", "io"). */
  component: string;
  message: string;
  detail: string;
}

export interface Page {
  offset?: number;
  /** Default 100, maximum 1000. */
  limit?: number;
}

export interface Paged<T> {
  items: T[];
  total: number;
  offset: number;
  limit: number;
}

export interface BlobInfo {
  id: string;
  bytes: number;
  sha256: string;
}

/** Fields only the lease operations change; `update` and `updateIfOwner` ignore them. */
export const LEASE_FIELDS = ['owner', 'leaseUntil'] as const;

/** A collection of records that belong to a project. */
export interface ProjectCollection<T extends { id: string; projectId: string; name: string }> {
  create(record: T): Promise<T>;
  get(projectId: string, id: string): Promise<T>;
  /** Admin/internal use: look a record up by id across projects. */
  getAny(id: string): Promise<T>;
  findByName(projectId: string, name: string): Promise<T | null>;
  list(projectId: string, page?: Page): Promise<Paged<T>>;
  /** Every record of every project (service start-up, admin views). */
  listAll(page?: Page): Promise<Paged<T>>;
  /** Replaces the given fields; returns the updated record. */
  update(projectId: string, id: string, patch: Partial<Omit<T, 'id' | 'projectId'>>): Promise<T>;
  delete(projectId: string, id: string): Promise<void>;
}

export interface Store {
  /** Which implementation ("sqlite" or "mongodb") and where. */
  readonly description: string;
  /** Creates tables/collections and indexes. Safe to call on an existing store. */
  init(): Promise<void>;
  close(): Promise<void>;
  /** Cheap round trip for /readyz. */
  ping(): Promise<void>;

  users: {
    create(user: User): Promise<User>;
    get(id: string): Promise<User>;
    findByName(name: string): Promise<User | null>;
    list(page?: Page): Promise<Paged<User>>;
    update(id: string, patch: Partial<Omit<User, 'id'>>): Promise<User>;
    delete(id: string): Promise<void>;
    countAdmins(): Promise<number>;
  };

  projects: {
    create(project: Project): Promise<Project>;
    get(id: string): Promise<Project>;
    findByName(name: string): Promise<Project | null>;
    list(page?: Page): Promise<Paged<Project>>;
    /** Projects a user is a member of. */
    listForUser(userId: string, page?: Page): Promise<Paged<Project>>;
    update(id: string, patch: Partial<Omit<Project, 'id'>>): Promise<Project>;
    delete(id: string): Promise<void>;
  };

  memberships: {
    /** Adds or changes a membership (upsert). */
    set(membership: Membership): Promise<Membership>;
    get(projectId: string, userId: string): Promise<Membership | null>;
    listByProject(projectId: string, page?: Page): Promise<Paged<Membership>>;
    listByUser(userId: string): Promise<Membership[]>;
    remove(projectId: string, userId: string): Promise<void>;
  };

  templates: ProjectCollection<TemplateRecord>;
  datasets: ProjectCollection<DatasetRecord>;
  /**
   * Clusters, with a lease per cluster: the instance named `owner` may host the cluster in
   * its memory until `leaseUntil`. Every lease change is one atomic compare-and-set, so two
   * instances can never both hold a live lease. Times are ISO strings compared as text
   * (always `Date.toISOString()`, so text order is time order).
   */
  clusters: ProjectCollection<ClusterRecord> & {
    /** Takes or renews the lease: succeeds when the cluster has no owner, is owned by
     *  `owner`, or its lease ended before `now`; returns the updated record, or null when
     *  another owner's lease is still running. NotFoundError for an unknown cluster. */
    claim(projectId: string, id: string, owner: string, leaseUntil: string, now: string): Promise<ClusterRecord | null>;
    /** Extends the lease only while `owner` still holds it (expired or not: nobody took it
     *  since). False when another instance took it or the cluster is gone. */
    renew(projectId: string, id: string, owner: string, leaseUntil: string): Promise<boolean>;
    /** Gives the lease up if `owner` holds it; false otherwise (or when the cluster is gone). */
    release(projectId: string, id: string, owner: string): Promise<boolean>;
    /** Every cluster that names an owner (live lease or not), any project. */
    listLeased(): Promise<ClusterRecord[]>;
    /** `update`, applied only while `owner` holds the lease (fencing: an instance that lost
     *  its lease cannot overwrite the new owner's state). Null when it does not hold it;
     *  NotFoundError for an unknown cluster. */
    updateIfOwner(projectId: string, id: string, owner: string, patch: Partial<Omit<ClusterRecord, 'id' | 'projectId'>>): Promise<ClusterRecord | null>;
  };
  checkpoints: ProjectCollection<CheckpointRecord>;
  tasks: Omit<ProjectCollection<TaskRecord>, 'update'> & {
    /** Replaces the given fields (never the kind or params); returns the updated record. */
    update(projectId: string, id: string, patch: TaskPatch): Promise<TaskRecord>;
    listByCluster(projectId: string, clusterId: string, page?: Page): Promise<Paged<TaskRecord>>;
    /** Tasks in the given states across all projects, or of one cluster (recovery, queues,
     *  busy checks), in creation order. */
    listByState(states: TaskState[], cluster?: { projectId: string; clusterId: string }): Promise<TaskRecord[]>;
    /** `update` as a compare-and-set: applied only when the task is in one of `states` (and,
     *  with `runBy`, was started by that instance). A patch that changes the state moves the
     *  task out of its current state exactly once, however many instances try at the same
     *  time. Null when the condition does not hold; NotFoundError for an unknown task. */
    updateIf(projectId: string, id: string, condition: { states: TaskState[]; runBy?: string }, patch: TaskPatch): Promise<TaskRecord | null>;
    /** Records that `by` asked to stop the task, for the instance running it (which may be
     *  another one); kept apart from the task record, which only its runner writes. True for
     *  the first request. */
    requestCancel(projectId: string, id: string, by: string): Promise<boolean>;
    /** Who asked to stop the task, or null. */
    cancelRequestOf(projectId: string, id: string): Promise<string | null>;
    /**
     * Appends points (in `seq` order, each larger than any stored) to the task's metric series
     * and bounds it: while it holds more than `limit` points, every second point is dropped,
     * oldest first, keeping the first and the newest (so the series halves and the kept points
     * stay spread over the whole run). Returns how many points are kept. Only the task's runner
     * appends, one call at a time. Deleting the task deletes its series.
     */
    appendMetrics(projectId: string, taskId: string, points: MetricPoint[], limit: number): Promise<number>;
    /** The task's metric series in `seq` order, paged (empty for an unknown task). */
    listMetrics(projectId: string, taskId: string, page?: Page): Promise<Paged<MetricPoint>>;
    /** The newest point of the task's series, or null. */
    lastMetric(projectId: string, taskId: string): Promise<MetricPoint | null>;
  };

  /** Small service-wide values (e.g. the generated JWT key), by key. */
  settings: {
    get(key: string): Promise<string | null>;
    /** Sets the value only if the key has none yet; returns the value now stored (so two
     *  replicas starting at once agree on one generated key). */
    setIfAbsent(key: string, value: string): Promise<string>;
    set(key: string, value: string): Promise<void>;
  };

  audit: {
    append(entry: AuditEntry): Promise<void>;
    list(filter: { userId?: string; projectId?: string }, page?: Page): Promise<Paged<AuditEntry>>;
  };

  errors: {
    append(entry: ErrorEntry): Promise<void>;
    list(filter: { userId?: string; projectId?: string }, page?: Page): Promise<Paged<ErrorEntry>>;
  };

  /** Opaque binary objects (dataset files, checkpoints, results). Writes are atomic: a blob
   *  is visible only once fully written and its SHA-256 computed. */
  blobs: {
    /** Streams data into a new blob. `maxBytes` aborts (BlobTooLargeError) when exceeded;
     *  `onProgress` reports bytes received. Nothing is left behind on error. */
    put(data: Readable | Uint8Array, options?: { maxBytes?: number; onProgress?: (bytes: number) => void }): Promise<BlobInfo>;
    open(id: string): Promise<Readable>;
    read(id: string): Promise<Buffer>;
    stat(id: string): Promise<BlobInfo>;
    delete(id: string): Promise<void>;
  };
}

/** A failure of the store (a driver error, a closed store): `internal` unless a subclass says
 *  what it is. Its message is for the log; clients see a generic one. */
export class StoreError extends DomainError {
  constructor(message: string, code: ErrorCode = 'internal', details: ErrorDetails = {}) {
    super(code, message, details);
    this.name = 'StoreError';
  }
}

export class NotFoundError extends StoreError {
  constructor(
    readonly kind: string,
    readonly key: string,
  ) {
    super(`${kind} ${key} not found`, 'not_found');
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends StoreError {
  constructor(
    readonly kind: string,
    readonly field: string,
    readonly value: string,
  ) {
    super(`${kind} with ${field} "${value}" already exists`, 'duplicate', { field: `/body/${field}` });
    this.name = 'ConflictError';
  }
}

export class BlobTooLargeError extends StoreError {
  constructor(readonly limit: number) {
    super(`data exceeds the limit of ${limit} bytes (HANAMI_MAX_UPLOAD_BYTES)`, 'upload_too_large');
    this.name = 'BlobTooLargeError';
  }
}
