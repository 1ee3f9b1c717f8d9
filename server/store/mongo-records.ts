/**
 * How records lie in MongoDB: the document codec (numbers sanitised, free-form fields as JSON
 * text), one spec per collection (indexes, sort, defaults), and `RecordCollection`, the
 * operations every kind of record needs (insert with conflict detection, find, page, update,
 * compare-and-set update, delete, count). `MongoStore` (mongo.ts) puts them together.
 */
import { MongoServerError, type Collection, type Db, type Filter, type IndexDescription, type Sort } from 'mongodb';
import { pagedResult, resolvePage } from './errors.js';
import { ConflictError, LEASE_FIELDS, NotFoundError, type Page, type Paged } from './types.js';

/** Every document we store: our string id as `_id`, then the record's other fields. */
export interface StoredDoc {
  _id: string;
  [field: string]: unknown;
}

export type Fields = Record<string, unknown>;

/** 2: cluster leases (`owner`, `leaseUntil`) and the instance running a task (`runBy`). */
export const MONGO_SCHEMA_VERSION = 2;
export const BLOB_BUCKET = 'blobs';
export const UPSERT_RETRIES = 5;

// ---------------------------------------------------------------------------------------
// Documents <-> records

/** NaN and ±Infinity become null, as JSON (and therefore the embedded store) does. */
export function sanitizeNumbers(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.map(sanitizeNumbers);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sanitizeNumbers(v)]));
  return value;
}

export function isPlainObject(value: unknown): value is Fields {
  if (value === null || typeof value !== 'object') return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Encodes record fields for storage: free-form fields as JSON text, the rest sanitised. */
export function encodeFields(fields: Fields, jsonFields: readonly string[]): Fields {
  const out: Fields = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    out[key] = jsonFields.includes(key) ? JSON.stringify(value) : sanitizeNumbers(value);
  }
  return out;
}

export function decodeFields(fields: Fields, jsonFields: readonly string[]): Fields {
  const out: Fields = { ...fields };
  for (const key of jsonFields) {
    if (typeof out[key] === 'string') out[key] = JSON.parse(out[key]);
  }
  return out;
}

export interface CollectionSpec {
  name: string;
  /** Name used in errors ("user", "template", ...). */
  kind: string;
  /** The field guarded by the collection's one unique index besides `_id`... */
  uniqueField?: string | undefined;
  /** ...together with these fields (per-project names: `projectId`). */
  uniqueScope?: readonly string[];
  /** Free-form fields stored as JSON text (see the file comment). */
  jsonFields: readonly string[];
  /** Values of fields that documents written before the field existed lack. */
  defaults?: Record<string, null>;
  /** Record fields kept elsewhere, never written into the documents. */
  omit?: readonly string[];
  sort: Sort;
  indexes: IndexDescription[];
}

export const BY_CREATION: Sort = { createdAt: 1, _id: 1 };
export const BY_TIME: Sort = { time: 1, _id: 1 };

export function projectCollectionSpec(
  name: string,
  kind: string,
  options: { unique: boolean; jsonFields?: string[]; indexes?: IndexDescription[]; defaults?: Record<string, null>; omit?: readonly string[] },
): CollectionSpec {
  return {
    name,
    kind,
    uniqueField: options.unique ? 'name' : undefined,
    uniqueScope: ['projectId'],
    jsonFields: options.jsonFields ?? [],
    ...(options.defaults ? { defaults: options.defaults } : {}),
    ...(options.omit ? { omit: options.omit } : {}),
    sort: BY_CREATION,
    indexes: [
      { key: { projectId: 1, name: 1 }, name: 'project_name', unique: options.unique },
      { key: { projectId: 1, createdAt: 1, _id: 1 }, name: 'project_order' },
      { key: { createdAt: 1, _id: 1 }, name: 'order' },
      ...(options.indexes ?? []),
    ],
  };
}

export function logCollectionSpec(name: string, kind: string): CollectionSpec {
  return {
    name,
    kind,
    jsonFields: [],
    sort: BY_TIME,
    indexes: [
      { key: { time: 1, _id: 1 }, name: 'order' },
      { key: { userId: 1, time: 1, _id: 1 }, name: 'user_order' },
      { key: { projectId: 1, time: 1, _id: 1 }, name: 'project_order' },
    ],
  };
}

export type RecordKind = 'users' | 'projects' | 'templates' | 'datasets' | 'clusters' | 'checkpoints' | 'tasks' | 'audit' | 'errors';

export const COLLECTIONS: Record<RecordKind, CollectionSpec> = {
  users: {
    name: 'users',
    kind: 'user',
    uniqueField: 'name',
    jsonFields: [],
    sort: BY_CREATION,
    indexes: [
      { key: { name: 1 }, name: 'name', unique: true },
      { key: { createdAt: 1, _id: 1 }, name: 'order' },
      { key: { isAdmin: 1 }, name: 'admin' },
    ],
  },
  projects: {
    name: 'projects',
    kind: 'project',
    uniqueField: 'name',
    jsonFields: [],
    sort: BY_CREATION,
    indexes: [
      { key: { name: 1 }, name: 'name', unique: true },
      { key: { createdAt: 1, _id: 1 }, name: 'order' },
    ],
  },
  templates: projectCollectionSpec('templates', 'template', { unique: true }),
  datasets: projectCollectionSpec('datasets', 'dataset', { unique: true, jsonFields: ['options'] }),
  // The lease (owner, leaseUntil) lives in the lease log; reads join it in.
  clusters: projectCollectionSpec('clusters', 'cluster', { unique: true, jsonFields: ['stats'], omit: LEASE_FIELDS }),
  checkpoints: projectCollectionSpec('checkpoints', 'checkpoint', { unique: true, jsonFields: ['stats'] }),
  tasks: projectCollectionSpec('tasks', 'task', {
    unique: false,
    jsonFields: ['params', 'result'],
    defaults: { runBy: null },
    indexes: [
      { key: { projectId: 1, clusterId: 1, createdAt: 1, _id: 1 }, name: 'cluster_order' },
      { key: { state: 1, createdAt: 1, _id: 1 }, name: 'state_order' },
    ],
  }),
  audit: logCollectionSpec('audit', 'audit entry'),
  errors: logCollectionSpec('errors', 'error entry'),
};

/** Collections that are not records with a spec above. */
export const MEMBERSHIP_INDEXES: IndexDescription[] = [
  { key: { projectId: 1, createdAt: 1, userId: 1 }, name: 'project_order' },
  { key: { userId: 1, createdAt: 1, projectId: 1 }, name: 'user_order' },
];
/** The lease log and the task guards (mongo-cas.ts); cancel requests are keyed by task id. */
export const LEASE_COLLECTION = 'clusterLeases';
export const LEASE_INDEXES: IndexDescription[] = [
  { key: { clusterId: 1, epoch: -1 }, name: 'cluster_epoch' },
  { key: { owner: 1 }, name: 'owner' },
];
export const TRANSITION_COLLECTION = 'taskTransitions';
export const TRANSITION_INDEXES: IndexDescription[] = [{ key: { taskId: 1 }, name: 'task' }];
export const CANCEL_REQUEST_COLLECTION = 'taskCancelRequests';
/** Tasks' metric series, one document per point (metric-series.ts bounds them). */
export const METRIC_COLLECTION = 'taskMetrics';
export const METRIC_INDEXES: IndexDescription[] = [{ key: { taskId: 1, seq: 1 }, name: 'task_seq', unique: true }];
/** The indexes the driver's GridFSBucket expects (it would create them on first upload). */
export const BLOB_FILE_INDEXES: IndexDescription[] = [{ key: { filename: 1, uploadDate: 1 } }];
export const BLOB_CHUNK_INDEXES: IndexDescription[] = [{ key: { files_id: 1, n: 1 }, unique: true }];

/** One index per createIndexes call: FerretDB v1.24 panics (and drops the connection) when
 *  one call names several indexes that already exist, i.e. on every start after the first.
 *  Creating an existing index with the same spec is a no-op. */
export async function createIndexes(db: Db, collection: string, indexes: IndexDescription[]): Promise<void> {
  for (const index of indexes) await db.collection(collection).createIndexes([index]);
}

export function isDuplicateKey(e: unknown): e is MongoServerError {
  return e instanceof MongoServerError && e.code === 11000;
}

/** Patch fields that may change: drops undefined values and the identifying fields. */
export function cleanPatch(patch: object, fixed: readonly string[]): Fields {
  return Object.fromEntries(Object.entries(patch).filter(([key, value]) => value !== undefined && !fixed.includes(key)));
}

/** Retries an upsert that lost a race: two concurrent upserts of one new `_id` can both
 *  miss and both insert; the loser gets a duplicate key error and, retried, finds the doc. */
export async function upsertWithRetry<T>(body: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await body();
    } catch (e) {
      if (!isDuplicateKey(e) || attempt >= UPSERT_RETRIES) throw e;
    }
  }
}

/** Where a kind of record is checked as it crosses the store (tasks: task-codec.ts). */
export interface RecordCodec<T> {
  read(fields: Fields): T;
  checkWrite(fields: Fields, id: string): void;
}

/** One collection of records, with the operations every kind needs. */
export class RecordCollection<T extends { id: string }> {
  constructor(
    private readonly store: { readonly db: Db },
    readonly spec: CollectionSpec,
    readonly codec?: RecordCodec<T>,
  ) {}

  get collection(): Collection<StoredDoc> {
    return this.store.db.collection<StoredDoc>(this.spec.name);
  }

  toDocument(record: T): StoredDoc {
    const { id, ...rest } = record as T & Fields;
    for (const field of this.spec.omit ?? []) delete rest[field];
    return { _id: id, ...encodeFields(rest, this.spec.jsonFields) };
  }

  fromDocument(doc: StoredDoc): T {
    const { _id, ...rest } = doc;
    const fields: Fields = { id: _id, ...this.spec.defaults, ...decodeFields(rest, this.spec.jsonFields) };
    return this.codec ? this.codec.read(fields) : (fields as unknown as T);
  }

  /** Which unique index a duplicate key error hit. MongoDB names it in keyPattern; FerretDB
   *  does not, so then we look whether the id is taken. */
  private async conflictFor(e: MongoServerError, record: Fields): Promise<ConflictError> {
    const field = await this.conflictingField(e, String(record.id));
    return new ConflictError(this.spec.kind, field, String(record[field]));
  }

  private async conflictingField(e: MongoServerError, id: string): Promise<string> {
    const { uniqueField } = this.spec;
    if (!uniqueField) return 'id';
    const pattern: unknown = e.keyPattern;
    if (isPlainObject(pattern)) return '_id' in pattern ? 'id' : uniqueField;
    const idTaken = (await this.collection.countDocuments({ _id: id }, { limit: 1 })) > 0;
    return idTaken ? 'id' : uniqueField;
  }

  async insert(record: T): Promise<T> {
    this.codec?.checkWrite(record, record.id);
    const doc = this.toDocument(record);
    try {
      await this.collection.insertOne(doc);
    } catch (e) {
      if (isDuplicateKey(e)) throw await this.conflictFor(e, record);
      throw e;
    }
    return this.fromDocument(doc);
  }

  async findOne(filter: Filter<StoredDoc>): Promise<T | null> {
    const doc = await this.collection.find(filter).sort(this.spec.sort).limit(1).next();
    return doc ? this.fromDocument(doc) : null;
  }

  async getOne(filter: Filter<StoredDoc>, key: string): Promise<T> {
    const record = await this.findOne(filter);
    if (!record) throw new NotFoundError(this.spec.kind, key);
    return record;
  }

  async findAll(filter: Filter<StoredDoc>): Promise<T[]> {
    const docs = await this.collection.find(filter).sort(this.spec.sort).toArray();
    return docs.map((doc) => this.fromDocument(doc));
  }

  async page(filter: Filter<StoredDoc>, page: Page | undefined): Promise<Paged<T>> {
    const resolved = resolvePage(page);
    const [docs, total] = await Promise.all([this.collection.find(filter).sort(this.spec.sort).skip(resolved.offset).limit(resolved.limit).toArray(), this.collection.countDocuments(filter)]);
    return pagedResult(
      docs.map((doc) => this.fromDocument(doc)),
      total,
      resolved,
    );
  }

  /** One atomic findOneAndUpdate; an empty patch just reads the record. */
  async update(filter: Filter<StoredDoc>, key: string, patch: Fields): Promise<T> {
    const updated = await this.updateIf(filter, {}, key, patch);
    if (!updated) throw new NotFoundError(this.spec.kind, key);
    return updated;
  }

  /**
   * A compare-and-set: one findOneAndUpdate whose filter is the record's key plus
   * `condition`. Null when the record exists but the condition does not hold; NotFoundError
   * when it does not exist.
   */
  async updateIf(filter: Filter<StoredDoc>, condition: Filter<StoredDoc>, key: string, patch: Fields): Promise<T | null> {
    this.codec?.checkWrite(patch, key);
    const guarded: Filter<StoredDoc> = { ...filter, ...condition };
    let doc: StoredDoc | null;
    if (Object.keys(patch).length === 0) {
      doc = await this.collection.findOne(guarded);
    } else {
      try {
        doc = await this.collection.findOneAndUpdate(guarded, { $set: encodeFields(patch, this.spec.jsonFields) }, { returnDocument: 'after' });
      } catch (e) {
        const { uniqueField } = this.spec;
        if (uniqueField && (await this.updateHitUniqueIndex(e, filter, patch))) throw new ConflictError(this.spec.kind, uniqueField, String(patch[uniqueField]));
        throw e;
      }
    }
    if (doc) return this.fromDocument(doc);
    if ((await this.collection.countDocuments(filter, { limit: 1 })) === 0) throw new NotFoundError(this.spec.kind, key);
    return null;
  }

  /** Whether a failed update broke the unique index. The id cannot change, so a duplicate
   *  key is the unique field. FerretDB v1.24 reports a unique violation in findAndModify as
   *  an internal error instead of code 11000; there we look whether another record holds the
   *  new value. */
  private async updateHitUniqueIndex(e: unknown, filter: Filter<StoredDoc>, patch: Fields): Promise<boolean> {
    if (isDuplicateKey(e)) return true;
    const uniqueField = this.spec.uniqueField;
    if (!uniqueField || !(uniqueField in patch)) return false;
    const current = await this.collection.findOne(filter);
    if (!current) return false;
    const clash: Filter<StoredDoc> = { _id: { $ne: current._id }, [uniqueField]: patch[uniqueField] };
    for (const field of this.spec.uniqueScope ?? []) clash[field] = current[field];
    return (await this.collection.countDocuments(clash, { limit: 1 })) > 0;
  }

  async delete(filter: Filter<StoredDoc>, key: string): Promise<void> {
    const { deletedCount } = await this.collection.deleteOne(filter);
    if (deletedCount === 0) throw new NotFoundError(this.spec.kind, key);
  }

  count(filter: Filter<StoredDoc>): Promise<number> {
    return this.collection.countDocuments(filter);
  }
}
