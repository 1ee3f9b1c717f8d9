/**
 * The MongoDB Store (official `mongodb` driver), for several replicas sharing one database.
 * Blobs live in GridFS (bucket `blobs`).
 *
 * Written for what FerretDB v1 (our test server) supports as well as MongoDB:
 * - no transactions, change streams or `$lookup`: every write is one single-document
 *   operation, and "joins" are two queries (`$in`);
 * - unique indexes on top-level fields only (FerretDB on SQLite skips nested-field indexes);
 * - no NaN/±Infinity (FerretDB drops the connection) and no nested arrays: numbers are
 *   sanitised to null like JSON does, and free-form fields (task params and results, stats,
 *   dataset options) are stored as JSON text, whatever keys and nesting they have (task
 *   params and results are checked on their way in and out: task-codec.ts).
 * - our ids are the `_id`s; timestamps stay ISO strings, as in the embedded store.
 */
import { type Readable } from 'node:stream';
import { GridFSBucket, MongoClient, type Collection, type Db, type Filter, type MongoClientOptions } from 'mongodb';
import { type BlobPutOptions } from './blobs-fs.js';
import { claimable, guardedTransition, LeaseLog, UNOWNED, type LeaseDoc, type TransitionDoc } from './mongo-cas.js';
import { asStoreError, closedStoreError, notInitialisedError, pagedResult, resolvePage } from './errors.js';
import { metricFields, readMetricPoint, seqsToThin } from './metric-series.js';
import { checkTaskWrite, readTaskRecord } from './task-codec.js';
import {
  LEASE_FIELDS,
  NotFoundError,
  StoreError,
  type AuditEntry,
  type CheckpointRecord,
  type ClusterRecord,
  type DatasetRecord,
  type ErrorEntry,
  type Membership,
  type Page,
  type Paged,
  type Project,
  type ProjectCollection,
  type Store,
  type TaskRecord,
  type TaskState,
  type TemplateRecord,
  type User,
} from './types.js';

import {
  type StoredDoc,
  type Fields,
  MONGO_SCHEMA_VERSION,
  BLOB_BUCKET,
  encodeFields,
  COLLECTIONS,
  MEMBERSHIP_INDEXES,
  LEASE_COLLECTION,
  LEASE_INDEXES,
  TRANSITION_COLLECTION,
  TRANSITION_INDEXES,
  CANCEL_REQUEST_COLLECTION,
  METRIC_COLLECTION,
  METRIC_INDEXES,
  BLOB_FILE_INDEXES,
  BLOB_CHUNK_INDEXES,
  createIndexes,
  isDuplicateKey,
  cleanPatch,
  upsertWithRetry,
  RecordCollection,
} from './mongo-records.js';
import { GridFsBlobs, type BlobFileDoc } from './mongo-gridfs.js';

export { MONGO_SCHEMA_VERSION } from './mongo-records.js';

// ---------------------------------------------------------------------------------------
// The store

export interface MongoStoreOptions {
  /** Connection string (HANAMI_MONGO_URL). */
  url: string;
  /** Database name (HANAMI_MONGO_DB). */
  database: string;
  /** Extra driver options (tests shorten timeouts). */
  clientOptions?: MongoClientOptions;
}

type ProjectRecord = { id: string; projectId: string; name: string };
type LogFilter = { userId?: string; projectId?: string };

interface MembershipDoc extends StoredDoc {
  projectId: string;
  userId: string;
  role: Membership['role'];
  createdAt: string;
}

interface SettingDoc extends StoredDoc {
  value: string;
}

/** One point of a task's metric series: `_id` is `<taskId>:<seq>`. */
interface MetricDoc extends StoredDoc {
  taskId: string;
  projectId: string;
  seq: number;
}

interface CancelRequestDoc extends StoredDoc {
  projectId: string;
  by: string;
}

/** GridFS files document as we write it (metadata filled in before the doc is inserted). */

/** Hides credentials in a connection string used in descriptions and errors. */
export function redactMongoUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** A membership's `_id`: unambiguous whatever characters the two ids contain. */
function membershipId(projectId: string, userId: string): string {
  return JSON.stringify([projectId, userId]);
}

function membershipFromDoc(doc: MembershipDoc): Membership {
  return { projectId: doc.projectId, userId: doc.userId, role: doc.role, createdAt: doc.createdAt };
}

function logFilterQuery(filter: LogFilter): Filter<StoredDoc> {
  const query: Filter<StoredDoc> = {};
  if (filter.userId !== undefined) query.userId = filter.userId;
  if (filter.projectId !== undefined) query.projectId = filter.projectId;
  return query;
}

/** GridFS accepts any `_id` (we use our UUID strings); the driver's types only say ObjectId. */
export class MongoStore implements Store {
  readonly description: string;
  private readonly client: MongoClient;
  private database: Db | undefined;
  private gridFs: GridFSBucket | undefined;
  private closed = false;

  private readonly records = {
    users: new RecordCollection<User>(this, COLLECTIONS.users),
    projects: new RecordCollection<Project>(this, COLLECTIONS.projects),
    templates: new RecordCollection<TemplateRecord>(this, COLLECTIONS.templates),
    datasets: new RecordCollection<DatasetRecord>(this, COLLECTIONS.datasets),
    clusters: new RecordCollection<ClusterRecord>(this, COLLECTIONS.clusters),
    checkpoints: new RecordCollection<CheckpointRecord>(this, COLLECTIONS.checkpoints),
    tasks: new RecordCollection<TaskRecord>(this, COLLECTIONS.tasks, { read: readTaskRecord, checkWrite: checkTaskWrite }),
    audit: new RecordCollection<AuditEntry>(this, COLLECTIONS.audit),
    errors: new RecordCollection<ErrorEntry>(this, COLLECTIONS.errors),
  };

  constructor(private readonly options: MongoStoreOptions) {
    this.description = `mongodb (${redactMongoUrl(options.url)}, database ${options.database})`;
    // ignoreUndefined: an undefined field is left out, as JSON (the embedded store) does,
    // instead of being stored as null.
    this.client = new MongoClient(options.url, { appName: 'hanami', ignoreUndefined: true, ...options.clientOptions });
  }

  /** The database handle; throws StoreError when closed or not initialised. */
  get db(): Db {
    if (this.closed) throw closedStoreError();
    if (!this.database) throw notInitialisedError();
    return this.database;
  }

  private get memberships_(): Collection<MembershipDoc> {
    return this.db.collection<MembershipDoc>('memberships');
  }

  private get settings_(): Collection<SettingDoc> {
    return this.db.collection<SettingDoc>('settings');
  }

  private get transitions_(): Collection<TransitionDoc> {
    return this.db.collection<TransitionDoc>(TRANSITION_COLLECTION);
  }

  private get metrics_(): Collection<MetricDoc> {
    return this.db.collection<MetricDoc>(METRIC_COLLECTION);
  }

  private get cancelRequests_(): Collection<CancelRequestDoc> {
    return this.db.collection<CancelRequestDoc>(CANCEL_REQUEST_COLLECTION);
  }

  private readonly leases = new LeaseLog(() => this.db.collection<LeaseDoc>(LEASE_COLLECTION));

  /** One bucket per store: the driver checks the GridFS indexes on a bucket's first upload
   *  only, and init() has created them already. */
  private get bucket(): GridFSBucket {
    const db = this.db;
    this.gridFs ??= new GridFSBucket(db, { bucketName: BLOB_BUCKET });
    return this.gridFs;
  }

  private get blobFiles(): Collection<BlobFileDoc> {
    return this.db.collection<BlobFileDoc>(`${BLOB_BUCKET}.files`);
  }

  private get blobChunks(): Collection<{ _id: unknown; files_id: string; n: number }> {
    return this.db.collection(`${BLOB_BUCKET}.chunks`);
  }

  /** Runs one operation, turning every non-Store error into a StoreError. */
  private async run<T>(operation: string, body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (e) {
      throw asStoreError('mongodb', operation, e);
    }
  }

  async init(): Promise<void> {
    if (this.closed) throw closedStoreError();
    await this.run('init', async () => {
      await this.client.connect();
      const db = this.client.db(this.options.database);
      await this.checkSchemaVersion(db);
      for (const spec of Object.values(COLLECTIONS)) await createIndexes(db, spec.name, spec.indexes);
      await createIndexes(db, 'memberships', MEMBERSHIP_INDEXES);
      await createIndexes(db, LEASE_COLLECTION, LEASE_INDEXES);
      await createIndexes(db, TRANSITION_COLLECTION, TRANSITION_INDEXES);
      await createIndexes(db, METRIC_COLLECTION, METRIC_INDEXES);
      await createIndexes(db, `${BLOB_BUCKET}.files`, BLOB_FILE_INDEXES);
      await createIndexes(db, `${BLOB_BUCKET}.chunks`, BLOB_CHUNK_INDEXES);
      this.database = db;
    });
  }

  /** Records the schema version on first use; refuses a database a newer Hanami wrote. */
  private async checkSchemaVersion(db: Db): Promise<void> {
    const meta = db.collection<{ _id: string; version: number }>('meta');
    const doc = await upsertWithRetry(() => meta.findOneAndUpdate({ _id: 'schema' }, { $setOnInsert: { version: MONGO_SCHEMA_VERSION } }, { upsert: true, returnDocument: 'after' }));
    const version = doc?.version ?? MONGO_SCHEMA_VERSION;
    if (version > MONGO_SCHEMA_VERSION) {
      throw new StoreError(`database ${this.options.database} has schema version ${version}, newer than this Hanami understands (${MONGO_SCHEMA_VERSION}); upgrade Hanami`);
    }
    // Forward only: the new fields need no data migration (absent means null), but an older
    // Hanami must no longer start on this database (it would ignore the cluster leases).
    if (version < MONGO_SCHEMA_VERSION) await meta.updateOne({ _id: 'schema', version: { $lt: MONGO_SCHEMA_VERSION } }, { $set: { version: MONGO_SCHEMA_VERSION } });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.database = undefined;
    this.gridFs = undefined;
    await this.run('close', () => this.client.close());
  }

  ping(): Promise<void> {
    return this.run('ping', async () => {
      await this.db.command({ ping: 1 });
    });
  }

  readonly users: Store['users'] = {
    create: (user) => this.run('users.create', () => this.records.users.insert(user)),
    get: (id) => this.run('users.get', () => this.records.users.getOne({ _id: id }, id)),
    findByName: (name) => this.run('users.findByName', () => this.records.users.findOne({ name })),
    list: (page) => this.run('users.list', () => this.records.users.page({}, page)),
    update: (id, patch) => this.run('users.update', () => this.records.users.update({ _id: id }, id, cleanPatch(patch, ['id']))),
    delete: (id) => this.run('users.delete', () => this.records.users.delete({ _id: id }, id)),
    countAdmins: () => this.run('users.countAdmins', () => this.records.users.count({ isAdmin: true })),
  };

  readonly projects: Store['projects'] = {
    create: (project) => this.run('projects.create', () => this.records.projects.insert(project)),
    get: (id) => this.run('projects.get', () => this.records.projects.getOne({ _id: id }, id)),
    findByName: (name) => this.run('projects.findByName', () => this.records.projects.findOne({ name })),
    list: (page) => this.run('projects.list', () => this.records.projects.page({}, page)),
    listForUser: (userId, page) => this.run('projects.listForUser', () => this.projectsOfUser(userId, page)),
    update: (id, patch) => this.run('projects.update', () => this.records.projects.update({ _id: id }, id, cleanPatch(patch, ['id']))),
    delete: (id) => this.run('projects.delete', () => this.records.projects.delete({ _id: id }, id)),
  };

  /** Two queries instead of `$lookup` (FerretDB v1 has none): the user's project ids, then
   *  those projects. Memberships of deleted projects simply match nothing. */
  private async projectsOfUser(userId: string, page: Page | undefined): Promise<Paged<Project>> {
    const memberships = await this.memberships_.find({ userId }, { projection: { projectId: 1 } }).toArray();
    const projectIds = memberships.map((m) => m.projectId);
    return this.records.projects.page({ _id: { $in: projectIds } }, page);
  }

  readonly memberships: Store['memberships'] = {
    set: (membership) => this.run('memberships.set', () => this.setMembership(membership)),
    get: (projectId, userId) =>
      this.run('memberships.get', async () => {
        const doc = await this.memberships_.findOne({ _id: membershipId(projectId, userId) });
        return doc ? membershipFromDoc(doc) : null;
      }),
    listByProject: (projectId, page) =>
      this.run('memberships.listByProject', async () => {
        const resolved = resolvePage(page);
        const [docs, total] = await Promise.all([
          this.memberships_.find({ projectId }).sort({ createdAt: 1, userId: 1 }).skip(resolved.offset).limit(resolved.limit).toArray(),
          this.memberships_.countDocuments({ projectId }),
        ]);
        return pagedResult(docs.map(membershipFromDoc), total, resolved);
      }),
    listByUser: (userId) => this.run('memberships.listByUser', async () => (await this.memberships_.find({ userId }).sort({ createdAt: 1, projectId: 1 }).toArray()).map(membershipFromDoc)),
    remove: (projectId, userId) =>
      this.run('memberships.remove', async () => {
        const { deletedCount } = await this.memberships_.deleteOne({ _id: membershipId(projectId, userId) });
        if (deletedCount === 0) throw new NotFoundError('membership', `${projectId}/${userId}`);
      }),
  };

  /** Upsert in one document operation: a new membership is inserted; an existing one keeps
   *  its createdAt and takes the new role. Returns what is stored. */
  private async setMembership(m: Membership): Promise<Membership> {
    const doc = await upsertWithRetry(() =>
      this.memberships_.findOneAndUpdate(
        { _id: membershipId(m.projectId, m.userId) },
        { $set: { role: m.role }, $setOnInsert: { projectId: m.projectId, userId: m.userId, createdAt: m.createdAt } },
        { upsert: true, returnDocument: 'after' },
      ),
    );
    if (!doc) throw new StoreError('membership upsert returned no document');
    return membershipFromDoc(doc);
  }

  /** The eight methods every project collection shares; `(projectId, id)` is the key.
   *  `update` never changes `id`, `projectId` or the fields named in `fixed`. */
  private projectCollection<T extends ProjectRecord>(records: RecordCollection<T>, fixed: readonly string[] = []): ProjectCollection<T> {
    const name = records.spec.name;
    return {
      create: (record) => this.run(`${name}.create`, () => records.insert(record)),
      get: (projectId, id) => this.run(`${name}.get`, () => records.getOne({ _id: id, projectId }, id)),
      getAny: (id) => this.run(`${name}.getAny`, () => records.getOne({ _id: id }, id)),
      findByName: (projectId, recordName) => this.run(`${name}.findByName`, () => records.findOne({ projectId, name: recordName })),
      list: (projectId, page) => this.run(`${name}.list`, () => records.page({ projectId }, page)),
      listAll: (page) => this.run(`${name}.listAll`, () => records.page({}, page)),
      update: (projectId, id, patch) => this.run(`${name}.update`, () => records.update({ _id: id, projectId }, id, cleanPatch(patch, ['id', 'projectId', ...fixed]))),
      delete: (projectId, id) => this.run(`${name}.delete`, () => records.delete({ _id: id, projectId }, id)),
    };
  }

  readonly templates = this.projectCollection(this.records.templates);
  readonly datasets = this.projectCollection(this.records.datasets);
  /** Cluster records carry their lease, read from the lease log (mongo-cas.ts). */
  private async withLeases(records: ClusterRecord[]): Promise<ClusterRecord[]> {
    const leases = await this.leases.currentOf(records.map((r) => r.id));
    return records.map((r) => ({ ...r, ...(leases.get(r.id) ?? UNOWNED) }));
  }

  private async withLease(record: ClusterRecord): Promise<ClusterRecord> {
    return { ...record, ...(await this.leases.current(record.id)) };
  }

  /** The cluster documents never hold the lease (it lives in the lease log). */
  private readonly clusterBase = this.projectCollection(this.records.clusters, LEASE_FIELDS);

  readonly clusters: Store['clusters'] = {
    create: (record) =>
      this.run('clusters.create', async () => {
        const created = await this.records.clusters.insert(record);
        return this.withLease(created);
      }),
    get: (projectId, id) => this.run('clusters.get', async () => this.withLease(await this.clusterBase.get(projectId, id))),
    getAny: (id) => this.run('clusters.getAny', async () => this.withLease(await this.clusterBase.getAny(id))),
    findByName: (projectId, name) =>
      this.run('clusters.findByName', async () => {
        const found = await this.clusterBase.findByName(projectId, name);
        return found ? this.withLease(found) : null;
      }),
    list: (projectId, page) =>
      this.run('clusters.list', async () => {
        const listed = await this.clusterBase.list(projectId, page);
        return { ...listed, items: await this.withLeases(listed.items) };
      }),
    listAll: (page) =>
      this.run('clusters.listAll', async () => {
        const listed = await this.clusterBase.listAll(page);
        return { ...listed, items: await this.withLeases(listed.items) };
      }),
    update: (projectId, id, patch) => this.run('clusters.update', async () => this.withLease(await this.clusterBase.update(projectId, id, patch))),
    delete: (projectId, id) =>
      this.run('clusters.delete', async () => {
        await this.clusterBase.delete(projectId, id);
        await this.leases.drop(id);
      }),
    claim: (projectId, id, owner, leaseUntil, now) =>
      this.run('clusters.claim', async () => {
        const record = await this.clusterBase.get(projectId, id);
        const lease = await this.leases.change(id, (current) => (claimable(current, owner, now) ? { owner, leaseUntil } : null));
        return lease ? { ...record, ...lease } : null;
      }),
    renew: (projectId, id, owner, leaseUntil) =>
      this.run('clusters.renew', async () => {
        if (!(await this.records.clusters.findOne({ _id: id, projectId }))) return false;
        return (await this.leases.change(id, (current) => (current.owner === owner ? { owner, leaseUntil } : null))) !== null;
      }),
    release: (projectId, id, owner) =>
      this.run('clusters.release', async () => {
        if (!(await this.records.clusters.findOne({ _id: id, projectId }))) return false;
        return (await this.leases.change(id, (current) => (current.owner === owner ? UNOWNED : null))) !== null;
      }),
    listLeased: () =>
      this.run('clusters.listLeased', async () => {
        const owned = await this.leases.owned();
        const records = await this.records.clusters.findAll({ _id: { $in: [...owned.keys()] } });
        return records.map((r) => ({ ...r, ...(owned.get(r.id) ?? UNOWNED) }));
      }),
    updateIfOwner: (projectId, id, owner, patch) =>
      this.run('clusters.updateIfOwner', async () => {
        await this.clusterBase.get(projectId, id);
        if ((await this.leases.current(id)).owner !== owner) return null;
        return this.withLease(await this.clusterBase.update(projectId, id, patch));
      }),
  };
  readonly checkpoints = this.projectCollection(this.records.checkpoints);

  private readonly taskBase = this.projectCollection(this.records.tasks);

  readonly tasks: Store['tasks'] = {
    ...this.taskBase,
    delete: (projectId, id) =>
      this.run('tasks.delete', async () => {
        await this.taskBase.delete(projectId, id);
        await this.transitions_.deleteMany({ taskId: id });
        await this.cancelRequests_.deleteOne({ _id: id });
        await this.metrics_.deleteMany({ taskId: id, projectId });
      }),
    listByCluster: (projectId: string, clusterId: string, page?: Page) => this.run('tasks.listByCluster', () => this.records.tasks.page({ projectId, clusterId }, page)),
    listByState: (states: TaskState[], cluster?: { projectId: string; clusterId: string }) =>
      this.run('tasks.listByState', async () =>
        states.length === 0 ? [] : this.records.tasks.findAll({ state: { $in: states }, ...(cluster ? { projectId: cluster.projectId, clusterId: cluster.clusterId } : {}) }),
      ),
    updateIf: (projectId, id, condition, patch) => this.run('tasks.updateIf', () => this.updateTaskIf(projectId, id, condition, cleanPatch(patch, ['id', 'projectId']))),
    requestCancel: (projectId, id, by) =>
      this.run('tasks.requestCancel', async () => {
        try {
          await this.cancelRequests_.insertOne({ _id: id, projectId, by });
          return true;
        } catch (e) {
          if (isDuplicateKey(e)) return false;
          throw e;
        }
      }),
    cancelRequestOf: (projectId, id) => this.run('tasks.cancelRequestOf', async () => (await this.cancelRequests_.findOne({ _id: id, projectId }))?.by ?? null),
    appendMetrics: (projectId, taskId, points, limit) =>
      this.run('tasks.appendMetrics', async () => {
        // Only the task's runner appends, one call at a time: no two writers race here.
        if (points.length > 0) {
          await this.metrics_.insertMany(
            points.map((point) => {
              const fields = metricFields(point);
              return { ...fields, _id: `${taskId}:${fields.seq}`, taskId, projectId };
            }),
          );
        }
        const count = await this.metrics_.countDocuments({ taskId, projectId });
        if (count <= limit) return count;
        const seqs = (
          await this.metrics_
            .find({ taskId, projectId }, { projection: { _id: 0, seq: 1 } })
            .sort({ seq: 1 })
            .toArray()
        ).map((d) => d.seq);
        const drop = seqsToThin(seqs, limit);
        if (drop.length > 0) await this.metrics_.deleteMany({ taskId, projectId, seq: { $in: drop } });
        return seqs.length - drop.length;
      }),
    listMetrics: (projectId, taskId, page?: Page) =>
      this.run('tasks.listMetrics', async () => {
        const p = resolvePage(page);
        const total = await this.metrics_.countDocuments({ taskId, projectId });
        const docs = await this.metrics_.find({ taskId, projectId }).sort({ seq: 1 }).skip(p.offset).limit(p.limit).toArray();
        return pagedResult(
          docs.map((d) => readMetricPoint(d as unknown as Fields)),
          total,
          p,
        );
      }),
    lastMetric: (projectId, taskId) =>
      this.run('tasks.lastMetric', async () => {
        const doc = await this.metrics_.find({ taskId, projectId }).sort({ seq: -1 }).limit(1).next();
        return doc ? readMetricPoint(doc) : null;
      }),
  };

  /** A task compare-and-set: state changes through a guard (mongo-cas.ts), other fields by
   *  a filtered update (only the task's runner writes those while it runs). */
  private async updateTaskIf(projectId: string, id: string, condition: { states: TaskState[]; runBy?: string }, patch: Fields): Promise<TaskRecord | null> {
    const key = { _id: id, projectId };
    const current = await this.records.tasks.getOne(key, id);
    if (!condition.states.includes(current.state) || (condition.runBy !== undefined && current.runBy !== condition.runBy)) return null;
    const guard = { state: current.state, ...(condition.runBy !== undefined ? { runBy: condition.runBy } : {}) };
    if (patch.state !== undefined && patch.state !== current.state) {
      this.records.tasks.codec?.checkWrite(patch, id);
      const set = encodeFields(patch, this.records.tasks.spec.jsonFields);
      if (!(await guardedTransition(this.transitions_, this.records.tasks.collection, key, id, current.state, set))) return null;
      return this.records.tasks.getOne(key, id);
    }
    return this.records.tasks.updateIf(key, guard, id, patch);
  }

  readonly settings: Store['settings'] = {
    get: (key) => this.run('settings.get', async () => (await this.settings_.findOne({ _id: key }))?.value ?? null),
    setIfAbsent: (key, value) =>
      this.run('settings.setIfAbsent', async () => {
        // $setOnInsert writes only when the upsert inserts; the returned document holds the
        // value that won, whichever replica wrote it.
        const doc = await upsertWithRetry(() => this.settings_.findOneAndUpdate({ _id: key }, { $setOnInsert: { value } }, { upsert: true, returnDocument: 'after' }));
        if (!doc) throw new StoreError(`setting ${key}: upsert returned no document`);
        return doc.value;
      }),
    set: (key, value) =>
      this.run('settings.set', async () => {
        await upsertWithRetry(() => this.settings_.updateOne({ _id: key }, { $set: { value } }, { upsert: true }));
      }),
  };

  private logOf<T extends AuditEntry | ErrorEntry>(records: RecordCollection<T>): { append(entry: T): Promise<void>; list(filter: LogFilter, page?: Page): Promise<Paged<T>> } {
    const name = records.spec.name;
    return {
      append: (entry) =>
        this.run(`${name}.append`, async () => {
          await records.insert(entry);
        }),
      list: (filter, page) => this.run(`${name}.list`, () => records.page(logFilterQuery(filter), page)),
    };
  }

  readonly audit: Store['audit'] = this.logOf(this.records.audit);
  readonly errors: Store['errors'] = this.logOf(this.records.errors);

  private readonly gridFs_ = new GridFsBlobs(
    () => this.bucket,
    () => this.blobFiles,
    () => this.blobChunks,
  );

  readonly blobs: Store['blobs'] = {
    put: (data: Readable | Uint8Array, options?: BlobPutOptions) => this.run('blobs.put', () => this.gridFs_.put(data, options)),
    open: (id) => this.run('blobs.open', () => this.gridFs_.open(id)),
    read: (id) => this.run('blobs.read', () => this.gridFs_.read(id)),
    stat: (id) => this.run('blobs.stat', () => this.gridFs_.stat(id)),
    delete: (id) => this.run('blobs.delete', () => this.gridFs_.delete(id)),
  };
}
