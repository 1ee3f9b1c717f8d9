/**
 * The embedded Store: one SQLite file (`<dataDir>/store.sqlite`, better-sqlite3) plus blob
 * files under `<dataDir>/blobs` (blobs-fs.ts).
 *
 * Each record is a row: the fields we filter, sort or unique-check on are columns, the rest is
 * one JSON column (`data`). WAL with synchronous=FULL: a call that has returned survives a
 * SIGKILL or power cut. better-sqlite3 is synchronous; every statement here is a short
 * indexed lookup, so blocking the event loop for it is cheaper than a thread hop.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { FsBlobStore, type BlobPutOptions } from './blobs-fs.js';
import { asStoreError, closedStoreError, notInitialisedError, pagedResult, resolvePage } from './errors.js';
import { metricFields, readMetricPoint, seqsToThin } from './metric-series.js';
import { checkTaskWrite, readTaskRecord } from './task-codec.js';
import {
  LEASE_FIELDS,
  NotFoundError,
  StoreError,
  type AuditEntry,
  type BlobInfo,
  type CheckpointRecord,
  type ClusterRecord,
  type DatasetRecord,
  type ErrorEntry,
  type Membership,
  type MetricPoint,
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

import { type Db, type Row, type SqlValue, migrate } from './sqlite-schema.js';
import { TABLES, cleanPatch, RecordTable } from './sqlite-records.js';

export { SQLITE_SCHEMA_VERSION } from './sqlite-schema.js';

export const SQLITE_FILE = 'store.sqlite';

// ---------------------------------------------------------------------------------------
// The store

export interface SqliteStoreOptions {
  /** Folder holding store.sqlite and blobs/ (created when missing). */
  dataDir: string;
  /** How long a statement waits for another process's write lock (default 5000 ms). */
  busyTimeoutMs?: number;
}

type ProjectRecord = { id: string; projectId: string; name: string };

function metricOf(data: string): MetricPoint {
  return readMetricPoint(JSON.parse(data) as Record<string, unknown>);
}

/** The key of a project record. */
const SCOPED = 'project_id = ? AND id = ?';

export class SqliteStore implements Store {
  readonly description: string;
  readonly file: string;
  private connection: Db | undefined;
  private closed = false;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly fileBlobs: FsBlobStore;

  private readonly tables = {
    users: new RecordTable<User>(this, TABLES.users),
    projects: new RecordTable<Project>(this, TABLES.projects),
    templates: new RecordTable<TemplateRecord>(this, TABLES.templates),
    datasets: new RecordTable<DatasetRecord>(this, TABLES.datasets),
    clusters: new RecordTable<ClusterRecord>(this, TABLES.clusters),
    checkpoints: new RecordTable<CheckpointRecord>(this, TABLES.checkpoints),
    tasks: new RecordTable<TaskRecord>(this, TABLES.tasks, { read: readTaskRecord, checkWrite: checkTaskWrite }),
    audit: new RecordTable<AuditEntry>(this, TABLES.audit),
    errors: new RecordTable<ErrorEntry>(this, TABLES.errors),
  };

  constructor(private readonly options: SqliteStoreOptions) {
    this.file = join(options.dataDir, SQLITE_FILE);
    this.description = `sqlite (${this.file})`;
    this.fileBlobs = new FsBlobStore(join(options.dataDir, 'blobs'));
  }

  /** The open database; throws StoreError when closed or not initialised. */
  get db(): Db {
    if (this.closed) throw closedStoreError();
    if (!this.connection) throw notInitialisedError();
    return this.connection;
  }

  /** Prepared statements are cached per SQL text: preparing costs more than running. */
  statement(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs a synchronous body, turning every non-Store error into a StoreError. */
  private run<T>(operation: string, body: () => T): Promise<T> {
    try {
      return Promise.resolve(body());
    } catch (e) {
      return Promise.reject(asStoreError('sqlite', operation, e));
    }
  }

  async init(): Promise<void> {
    if (this.closed) throw closedStoreError();
    try {
      if (!this.connection) this.connection = this.openDatabase();
      migrate(this.connection, this.file);
    } catch (e) {
      throw asStoreError('sqlite', 'init', e);
    }
    await this.fileBlobs.init();
  }

  private openDatabase(): Db {
    mkdirSync(this.options.dataDir, { recursive: true });
    const db = new Database(this.file);
    try {
      db.pragma('journal_mode = WAL');
      // FULL: each commit is fsynced, so what a call has returned survives a power cut, not
      // only a process crash (NORMAL in WAL mode may lose the last commits on power loss).
      db.pragma('synchronous = FULL');
      db.pragma(`busy_timeout = ${Math.floor(this.options.busyTimeoutMs ?? 5000)}`);
      return db;
    } catch (e) {
      db.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.statements.clear();
    const connection = this.connection;
    this.connection = undefined;
    try {
      connection?.close();
    } catch (e) {
      throw asStoreError('sqlite', 'close', e);
    }
  }

  ping(): Promise<void> {
    return this.run('ping', () => {
      this.statement('SELECT 1').get();
    });
  }

  readonly users: Store['users'] = {
    create: (user) => this.run('users.create', () => this.tables.users.insert(user)),
    get: (id) => this.run('users.get', () => this.tables.users.getOne('id = ?', [id], id)),
    findByName: (name) => this.run('users.findByName', () => this.tables.users.findOne('name = ?', [name]) ?? null),
    list: (page) => this.run('users.list', () => this.tables.users.page('1 = 1', [], page)),
    update: (id, patch) => this.run('users.update', () => this.tables.users.update('id = ?', [id], id, cleanPatch(patch, ['id']))),
    delete: (id) => this.run('users.delete', () => this.tables.users.delete('id = ?', [id], id)),
    countAdmins: () => this.run('users.countAdmins', () => this.tables.users.count('is_admin = 1', [])),
  };

  readonly projects: Store['projects'] = {
    create: (project) => this.run('projects.create', () => this.tables.projects.insert(project)),
    get: (id) => this.run('projects.get', () => this.tables.projects.getOne('id = ?', [id], id)),
    findByName: (name) => this.run('projects.findByName', () => this.tables.projects.findOne('name = ?', [name]) ?? null),
    list: (page) => this.run('projects.list', () => this.tables.projects.page('1 = 1', [], page)),
    listForUser: (userId, page) => this.run('projects.listForUser', () => this.tables.projects.page('id IN (SELECT project_id FROM memberships WHERE user_id = ?)', [userId], page)),
    update: (id, patch) => this.run('projects.update', () => this.tables.projects.update('id = ?', [id], id, cleanPatch(patch, ['id']))),
    delete: (id) => this.run('projects.delete', () => this.tables.projects.delete('id = ?', [id], id)),
  };

  readonly memberships: Store['memberships'] = {
    set: (membership) => this.run('memberships.set', () => this.setMembership(membership)),
    get: (projectId, userId) => this.run('memberships.get', () => this.findMembership(projectId, userId)),
    listByProject: (projectId, page) => this.run('memberships.listByProject', () => this.membershipsOfProject(projectId, page)),
    listByUser: (userId) =>
      this.run('memberships.listByUser', () => (this.statement('SELECT * FROM memberships WHERE user_id = ? ORDER BY created_at, project_id').all(userId) as Row[]).map(membershipFromRow)),
    remove: (projectId, userId) =>
      this.run('memberships.remove', () => {
        const { changes } = this.statement('DELETE FROM memberships WHERE project_id = ? AND user_id = ?').run(projectId, userId);
        if (changes === 0) throw new NotFoundError('membership', `${projectId}/${userId}`);
      }),
  };

  /** Upsert: a new membership is inserted; an existing one keeps its createdAt and takes the
   *  new role. Returns what is stored. */
  private setMembership(m: Membership): Membership {
    this.statement(
      `INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (project_id, user_id) DO UPDATE SET role = excluded.role`,
    ).run(m.projectId, m.userId, m.role, m.createdAt);
    const stored = this.findMembership(m.projectId, m.userId);
    if (!stored) throw new StoreError('membership vanished right after it was written');
    return stored;
  }

  private findMembership(projectId: string, userId: string): Membership | null {
    const row = this.statement('SELECT * FROM memberships WHERE project_id = ? AND user_id = ?').get(projectId, userId) as Row | undefined;
    return row ? membershipFromRow(row) : null;
  }

  private membershipsOfProject(projectId: string, page: Page | undefined): Paged<Membership> {
    const resolved = resolvePage(page);
    const rows = this.statement('SELECT * FROM memberships WHERE project_id = ? ORDER BY created_at, user_id LIMIT ? OFFSET ?').all(projectId, resolved.limit, resolved.offset) as Row[];
    const { total } = this.statement('SELECT count(*) AS total FROM memberships WHERE project_id = ?').get(projectId) as { total: number };
    return pagedResult(rows.map(membershipFromRow), total, resolved);
  }

  /** The eight methods every project collection shares; `(projectId, id)` is the key.
   *  `update` never changes `id`, `projectId` or the fields named in `fixed`. */
  private projectCollection<T extends ProjectRecord>(table: RecordTable<T>, fixed: readonly string[] = []): ProjectCollection<T> {
    const name = table.spec.table;
    const scoped = SCOPED;
    return {
      create: (record) => this.run(`${name}.create`, () => table.insert(record)),
      get: (projectId, id) => this.run(`${name}.get`, () => table.getOne(scoped, [projectId, id], id)),
      getAny: (id) => this.run(`${name}.getAny`, () => table.getOne('id = ?', [id], id)),
      findByName: (projectId, recordName) => this.run(`${name}.findByName`, () => table.findAll('project_id = ? AND name = ?', [projectId, recordName])[0] ?? null),
      list: (projectId, page) => this.run(`${name}.list`, () => table.page('project_id = ?', [projectId], page)),
      listAll: (page) => this.run(`${name}.listAll`, () => table.page('1 = 1', [], page)),
      update: (projectId, id, patch) => this.run(`${name}.update`, () => table.update(scoped, [projectId, id], id, cleanPatch(patch, ['id', 'projectId', ...fixed]))),
      delete: (projectId, id) => this.run(`${name}.delete`, () => table.delete(scoped, [projectId, id], id)),
    };
  }

  readonly templates = this.projectCollection(this.tables.templates);
  readonly datasets = this.projectCollection(this.tables.datasets);
  readonly clusters: Store['clusters'] = {
    ...this.projectCollection(this.tables.clusters, LEASE_FIELDS),
    claim: (projectId, id, owner, leaseUntil, now) =>
      this.run('clusters.claim', () =>
        this.db
          .transaction(() => {
            const taken = this.tables.clusters.setColumns('owner = ?, lease_until = ?', [owner, leaseUntil], `${SCOPED} AND (owner IS NULL OR owner = ? OR lease_until IS NULL OR lease_until < ?)`, [
              projectId,
              id,
              owner,
              now,
            ]);
            const record = this.tables.clusters.getOne(SCOPED, [projectId, id], id);
            return taken ? record : null;
          })
          .immediate(),
      ),
    renew: (projectId, id, owner, leaseUntil) => this.run('clusters.renew', () => this.tables.clusters.setColumns('lease_until = ?', [leaseUntil], `${SCOPED} AND owner = ?`, [projectId, id, owner])),
    release: (projectId, id, owner) => this.run('clusters.release', () => this.tables.clusters.setColumns('owner = NULL, lease_until = NULL', [], `${SCOPED} AND owner = ?`, [projectId, id, owner])),
    listLeased: () => this.run('clusters.listLeased', () => this.tables.clusters.findAll('owner IS NOT NULL', [])),
    updateIfOwner: (projectId, id, owner, patch) =>
      this.run('clusters.updateIfOwner', () => this.tables.clusters.updateIf(SCOPED, [projectId, id], 'owner = ?', [owner], id, cleanPatch(patch, ['id', 'projectId', ...LEASE_FIELDS]))),
  };
  readonly checkpoints = this.projectCollection(this.tables.checkpoints);
  readonly tasks: Store['tasks'] = {
    ...this.projectCollection(this.tables.tasks),
    listByCluster: (projectId: string, clusterId: string, page?: Page) =>
      this.run('tasks.listByCluster', () => this.tables.tasks.page('project_id = ? AND cluster_id = ?', [projectId, clusterId], page)),
    listByState: (states: TaskState[], cluster?: { projectId: string; clusterId: string }) =>
      this.run('tasks.listByState', () => {
        if (states.length === 0) return [];
        const inStates = `state IN (${states.map(() => '?').join(', ')})`;
        return cluster
          ? this.tables.tasks.findAll(`${inStates} AND project_id = ? AND cluster_id = ?`, [...states, cluster.projectId, cluster.clusterId])
          : this.tables.tasks.findAll(inStates, states);
      }),
    updateIf: (projectId, id, condition, patch) =>
      this.run('tasks.updateIf', () => {
        const clauses = [`state IN (${condition.states.map(() => '?').join(', ') || 'NULL'})`];
        const params: SqlValue[] = [...condition.states];
        if (condition.runBy !== undefined) {
          clauses.push('run_by = ?');
          params.push(condition.runBy);
        }
        return this.tables.tasks.updateIf(SCOPED, [projectId, id], clauses.join(' AND '), params, id, cleanPatch(patch, ['id', 'projectId']));
      }),
    requestCancel: (projectId, id, by) =>
      this.run(
        'tasks.requestCancel',
        () => this.statement('INSERT INTO task_cancel_requests (task_id, project_id, requested_by) VALUES (?, ?, ?) ON CONFLICT (task_id) DO NOTHING').run(id, projectId, by).changes > 0,
      ),
    cancelRequestOf: (projectId, id) =>
      this.run(
        'tasks.cancelRequestOf',
        () => (this.statement('SELECT requested_by FROM task_cancel_requests WHERE task_id = ? AND project_id = ?').get(id, projectId) as { requested_by: string } | undefined)?.requested_by ?? null,
      ),
    delete: (projectId, id) =>
      this.run('tasks.delete', () =>
        this.db
          .transaction(() => {
            this.tables.tasks.delete(SCOPED, [projectId, id], id);
            this.statement('DELETE FROM task_cancel_requests WHERE task_id = ? AND project_id = ?').run(id, projectId);
            this.statement('DELETE FROM task_metrics WHERE task_id = ? AND project_id = ?').run(id, projectId);
          })
          .immediate(),
      ),
    appendMetrics: (projectId, taskId, points, limit) =>
      this.run('tasks.appendMetrics', () =>
        this.db
          .transaction(() => {
            const insert = this.statement('INSERT INTO task_metrics (task_id, project_id, seq, data) VALUES (?, ?, ?, ?)');
            for (const point of points) {
              const fields = metricFields(point);
              insert.run(taskId, projectId, fields.seq, JSON.stringify(fields));
            }
            const count = (this.statement('SELECT COUNT(*) AS n FROM task_metrics WHERE task_id = ? AND project_id = ?').get(taskId, projectId) as { n: number }).n;
            if (count <= limit) return count;
            const seqs = (this.statement('SELECT seq FROM task_metrics WHERE task_id = ? AND project_id = ? ORDER BY seq').all(taskId, projectId) as { seq: number }[]).map((r) => r.seq);
            const drop = seqsToThin(seqs, limit);
            const remove = this.statement('DELETE FROM task_metrics WHERE task_id = ? AND project_id = ? AND seq = ?');
            for (const seq of drop) remove.run(taskId, projectId, seq);
            return seqs.length - drop.length;
          })
          .immediate(),
      ),
    listMetrics: (projectId, taskId, page?: Page) =>
      this.run('tasks.listMetrics', () => {
        const p = resolvePage(page);
        const total = (this.statement('SELECT COUNT(*) AS n FROM task_metrics WHERE task_id = ? AND project_id = ?').get(taskId, projectId) as { n: number }).n;
        const rows = this.statement('SELECT data FROM task_metrics WHERE task_id = ? AND project_id = ? ORDER BY seq LIMIT ? OFFSET ?').all(taskId, projectId, p.limit, p.offset) as { data: string }[];
        return pagedResult(
          rows.map((r) => metricOf(r.data)),
          total,
          p,
        );
      }),
    lastMetric: (projectId, taskId) =>
      this.run('tasks.lastMetric', () => {
        const row = this.statement('SELECT data FROM task_metrics WHERE task_id = ? AND project_id = ? ORDER BY seq DESC LIMIT 1').get(taskId, projectId) as { data: string } | undefined;
        return row ? metricOf(row.data) : null;
      }),
  };

  readonly settings: Store['settings'] = {
    get: (key) => this.run('settings.get', () => (this.statement('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined)?.value ?? null),
    setIfAbsent: (key, value) =>
      this.run('settings.setIfAbsent', () => {
        // INSERT ... DO NOTHING then SELECT: whoever inserted first wins, in this process or
        // another one sharing the file; everybody reads back the winner's value.
        this.statement('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING').run(key, value);
        return (this.statement('SELECT value FROM settings WHERE key = ?').get(key) as { value: string }).value;
      }),
    set: (key, value) =>
      this.run('settings.set', () => {
        this.statement('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
      }),
  };

  private logOf<T extends AuditEntry | ErrorEntry>(table: RecordTable<T>): { append(entry: T): Promise<void>; list(filter: LogFilter, page?: Page): Promise<Paged<T>> } {
    const name = table.spec.table;
    return {
      append: (entry) => this.run(`${name}.append`, () => void table.insert(entry)),
      list: (filter, page) =>
        this.run(`${name}.list`, () => {
          const { where, params } = logFilterSql(filter);
          return table.page(where, params, page);
        }),
    };
  }

  readonly audit: Store['audit'] = this.logOf(this.tables.audit);
  readonly errors: Store['errors'] = this.logOf(this.tables.errors);

  /** Blob calls go to the file store, refused once the store is closed. */
  readonly blobs: Store['blobs'] = {
    put: (data: Readable | Uint8Array, options?: BlobPutOptions): Promise<BlobInfo> => this.whenOpen(() => this.fileBlobs.put(data, options)),
    open: (id) => this.whenOpen(() => this.fileBlobs.open(id)),
    read: (id) => this.whenOpen(() => this.fileBlobs.read(id)),
    stat: (id) => this.whenOpen(() => this.fileBlobs.stat(id)),
    delete: (id) => this.whenOpen(() => this.fileBlobs.delete(id)),
  };

  /** Where the blob files live (tests and docs look inside). */
  get blobRoot(): string {
    return this.fileBlobs.root;
  }

  private async whenOpen<T>(body: () => Promise<T>): Promise<T> {
    if (this.closed) throw closedStoreError();
    return body();
  }
}

type LogFilter = { userId?: string; projectId?: string };

function logFilterSql(filter: LogFilter): { where: string; params: SqlValue[] } {
  const clauses: string[] = [];
  const params: SqlValue[] = [];
  if (filter.userId !== undefined) {
    clauses.push('user_id = ?');
    params.push(filter.userId);
  }
  if (filter.projectId !== undefined) {
    clauses.push('project_id = ?');
    params.push(filter.projectId);
  }
  return { where: clauses.length ? clauses.join(' AND ') : '1 = 1', params };
}

function membershipFromRow(row: Row): Membership {
  return {
    projectId: String(row.project_id),
    userId: String(row.user_id),
    role: row.role as Membership['role'],
    createdAt: String(row.created_at),
  };
}
