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
  ConflictError,
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

type Db = Database.Database;
type Row = Record<string, unknown>;
type SqlValue = string | number | null;

export const SQLITE_FILE = 'store.sqlite';

// ---------------------------------------------------------------------------------------
// Schema and migrations

/** Columns of a project collection table; `extra` adds more queried fields. */
function projectTableSql(table: string, options: { uniqueName: boolean; extraColumns?: string; extraIndexes?: string[] }): string {
  const nameIndex = options.uniqueName ? `CREATE UNIQUE INDEX ${table}_name ON ${table}(project_id, name);` : `CREATE INDEX ${table}_name ON ${table}(project_id, name);`;
  return `
    CREATE TABLE ${table} (
      id TEXT PRIMARY KEY,
      project_id TEXT NOT NULL,
      name TEXT NOT NULL,
      created_at TEXT NOT NULL,${options.extraColumns ?? ''}
      data TEXT NOT NULL
    );
    ${nameIndex}
    CREATE INDEX ${table}_project_order ON ${table}(project_id, created_at, id);
    CREATE INDEX ${table}_order ON ${table}(created_at, id);
    ${(options.extraIndexes ?? []).join('\n')}`;
}

function logTableSql(table: string): string {
  return `
    CREATE TABLE ${table} (
      id TEXT PRIMARY KEY,
      time TEXT NOT NULL,
      user_id TEXT,
      project_id TEXT,
      data TEXT NOT NULL
    );
    CREATE INDEX ${table}_order ON ${table}(time, id);
    CREATE INDEX ${table}_user ON ${table}(user_id, time, id);
    CREATE INDEX ${table}_project ON ${table}(project_id, time, id);`;
}

const SCHEMA_V1 = `
  CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    is_admin INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE UNIQUE INDEX users_name ON users(name);
  CREATE INDEX users_order ON users(created_at, id);

  CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL
  );
  CREATE UNIQUE INDEX projects_name ON projects(name);
  CREATE INDEX projects_order ON projects(created_at, id);

  CREATE TABLE memberships (
    project_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (project_id, user_id)
  );
  CREATE INDEX memberships_project_order ON memberships(project_id, created_at, user_id);
  CREATE INDEX memberships_user_order ON memberships(user_id, created_at, project_id);

  ${projectTableSql('templates', { uniqueName: true })}
  ${projectTableSql('datasets', { uniqueName: true })}
  ${projectTableSql('clusters', { uniqueName: true })}
  ${projectTableSql('checkpoints', { uniqueName: true })}
  ${projectTableSql('tasks', {
    uniqueName: false,
    extraColumns: `
      cluster_id TEXT NOT NULL,
      state TEXT NOT NULL,`,
    extraIndexes: ['CREATE INDEX tasks_cluster_order ON tasks(project_id, cluster_id, created_at, id);', 'CREATE INDEX tasks_state_order ON tasks(state, created_at, id);'],
  })}

  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );

  ${logTableSql('audit')}
  ${logTableSql('errors')}
`;

/** Version 2: cluster leases (which instance hosts a cluster, until when) and the instance
 *  that runs a task, as columns so the compare-and-set updates can filter on them; requests
 *  to stop a task that another instance runs. Existing rows read as unowned / not run. */
const SCHEMA_V2 = `
  ALTER TABLE clusters ADD COLUMN owner TEXT;
  ALTER TABLE clusters ADD COLUMN lease_until TEXT;
  CREATE INDEX clusters_owner ON clusters(owner);
  ALTER TABLE tasks ADD COLUMN run_by TEXT;
  CREATE TABLE task_cancel_requests (
    task_id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    requested_by TEXT NOT NULL
  );
`;

/** Version 3: tasks' metric series, one row per point (metric-series.ts bounds them). */
const SCHEMA_V3 = `
  CREATE TABLE task_metrics (
    task_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
  );
`;

/** Forward-only migrations; entry i takes the schema from version i to i + 1. Never edit a
 *  released entry: append a new one. */
const MIGRATIONS: readonly ((db: Db) => void)[] = [(db) => db.exec(SCHEMA_V1), (db) => db.exec(SCHEMA_V2), (db) => db.exec(SCHEMA_V3)];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

function readSchemaVersion(db: Db): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  return row?.version ?? 0;
}

/** Runs inside one IMMEDIATE transaction, so two processes starting at once migrate once. */
function migrate(db: Db, file: string): void {
  db.transaction(() => {
    const current = readSchemaVersion(db);
    if (current > MIGRATIONS.length) {
      throw new StoreError(`${file} has schema version ${current}, newer than this Hanami understands (${MIGRATIONS.length}); upgrade Hanami`);
    }
    for (let version = current; version < MIGRATIONS.length; version++) MIGRATIONS[version]!(db);
    if (current === 0) db.prepare('INSERT INTO schema_version (version) VALUES (?)').run(MIGRATIONS.length);
    else if (current < MIGRATIONS.length) db.prepare('UPDATE schema_version SET version = ?').run(MIGRATIONS.length);
  }).immediate();
}

// ---------------------------------------------------------------------------------------
// Rows <-> records

interface ColumnSpec {
  /** Record field. */
  field: string;
  column: string;
  /** Booleans are stored as 0/1. */
  boolean?: boolean;
}

interface TableSpec {
  table: string;
  /** Name used in errors ("user", "template", ...). */
  kind: string;
  /** Column order as inserted; `data` (JSON of the other fields) is appended. */
  columns: ColumnSpec[];
  /** The field guarded by the table's one UNIQUE index besides the primary key. */
  uniqueField?: string | undefined;
  /** ORDER BY for lists: creation order, ties broken by id. */
  order: string;
}

const column = (field: string, name: string, boolean = false): ColumnSpec => ({ field, column: name, boolean });

const ID = column('id', 'id');
const NAME = column('name', 'name');
const PROJECT_ID = column('projectId', 'project_id');
const CREATED_AT = column('createdAt', 'created_at');

function projectTableSpec(table: string, kind: string, unique: boolean, extra: ColumnSpec[] = []): TableSpec {
  return {
    table,
    kind,
    columns: [ID, PROJECT_ID, NAME, CREATED_AT, ...extra],
    uniqueField: unique ? 'name' : undefined,
    order: 'created_at, id',
  };
}

function logTableSpec(table: string, kind: string): TableSpec {
  return {
    table,
    kind,
    columns: [ID, column('time', 'time'), column('userId', 'user_id'), column('projectId', 'project_id')],
    order: 'time, id',
  };
}

const TABLES = {
  users: { table: 'users', kind: 'user', columns: [ID, NAME, column('isAdmin', 'is_admin', true), CREATED_AT], uniqueField: 'name', order: 'created_at, id' },
  projects: { table: 'projects', kind: 'project', columns: [ID, NAME, CREATED_AT], uniqueField: 'name', order: 'created_at, id' },
  templates: projectTableSpec('templates', 'template', true),
  datasets: projectTableSpec('datasets', 'dataset', true),
  clusters: projectTableSpec('clusters', 'cluster', true, [column('owner', 'owner'), column('leaseUntil', 'lease_until')]),
  checkpoints: projectTableSpec('checkpoints', 'checkpoint', true),
  tasks: projectTableSpec('tasks', 'task', false, [column('clusterId', 'cluster_id'), column('state', 'state'), column('runBy', 'run_by')]),
  audit: logTableSpec('audit', 'audit entry'),
  errors: logTableSpec('errors', 'error entry'),
} satisfies Record<string, TableSpec>;

function toSqlValue(value: unknown, spec: ColumnSpec): SqlValue {
  if (spec.boolean) return value ? 1 : 0;
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  throw new StoreError(`field ${spec.field} must be a string or number`);
}

function fromSqlValue(value: unknown, spec: ColumnSpec): unknown {
  return spec.boolean ? value === 1 : value;
}

function isSqliteError(e: unknown): e is InstanceType<typeof Database.SqliteError> {
  return e instanceof Database.SqliteError;
}

/** Patch fields that may change: drops undefined values and the fields that identify the
 *  record (so a patch can never move a record to another id or project). */
function cleanPatch(patch: object, fixed: readonly string[]): Row {
  return Object.fromEntries(Object.entries(patch).filter(([key, value]) => value !== undefined && !fixed.includes(key)));
}

/** Where a kind of record is checked as it crosses the store (tasks: task-codec.ts). */
interface RecordCodec<T> {
  read(fields: Row): T;
  checkWrite(fields: Row, id: string): void;
}

/** One table of records (columns + JSON), with the statements every collection needs. */
class RecordTable<T extends object> {
  private readonly columnNames: string;
  private readonly columnFields: Set<string>;

  constructor(
    private readonly store: SqliteStore,
    readonly spec: TableSpec,
    private readonly codec?: RecordCodec<T>,
  ) {
    this.columnNames = [...spec.columns.map((c) => c.column), 'data'].join(', ');
    this.columnFields = new Set(spec.columns.map((c) => c.field));
  }

  private rowValues(record: object): SqlValue[] {
    const fields = record as Row;
    const rest = Object.fromEntries(Object.entries(fields).filter(([key]) => !this.columnFields.has(key)));
    return [...this.spec.columns.map((c) => toSqlValue(fields[c.field], c)), JSON.stringify(rest)];
  }

  private fromRow(row: Row): T {
    const record = JSON.parse(String(row.data)) as Row;
    for (const c of this.spec.columns) record[c.field] = fromSqlValue(row[c.column], c);
    return this.codec ? this.codec.read(record) : (record as T);
  }

  /** Unique-index violations become ConflictError, told apart by SQLite's extended code. */
  private conflictOrRethrow(e: unknown, record: Row): never {
    if (isSqliteError(e) && e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new ConflictError(this.spec.kind, 'id', String(record.id));
    if (isSqliteError(e) && e.code === 'SQLITE_CONSTRAINT_UNIQUE' && this.spec.uniqueField) {
      throw new ConflictError(this.spec.kind, this.spec.uniqueField, String(record[this.spec.uniqueField]));
    }
    throw e;
  }

  insert(record: T): T {
    this.codec?.checkWrite(record as Row, String((record as Row).id));
    const values = this.rowValues(record);
    const placeholders = values.map(() => '?').join(', ');
    try {
      this.store.statement(`INSERT INTO ${this.spec.table} (${this.columnNames}) VALUES (${placeholders})`).run(...values);
    } catch (e) {
      this.conflictOrRethrow(e, record as Row);
    }
    return this.fromRow(this.rowOf(record));
  }

  /** The row a record is stored as, without a round trip (normalises like a read would). */
  private rowOf(record: T): Row {
    const values = this.rowValues(record);
    const row: Row = { data: values[values.length - 1] };
    this.spec.columns.forEach((c, i) => (row[c.column] = values[i]));
    return row;
  }

  findOne(where: string, params: SqlValue[]): T | undefined {
    const row = this.store.statement(`SELECT ${this.columnNames} FROM ${this.spec.table} WHERE ${where}`).get(...params) as Row | undefined;
    return row ? this.fromRow(row) : undefined;
  }

  getOne(where: string, params: SqlValue[], key: string): T {
    const record = this.findOne(where, params);
    if (!record) throw new NotFoundError(this.spec.kind, key);
    return record;
  }

  findAll(where: string, params: SqlValue[]): T[] {
    const rows = this.store.statement(`SELECT ${this.columnNames} FROM ${this.spec.table} WHERE ${where} ORDER BY ${this.spec.order}`).all(...params) as Row[];
    return rows.map((row) => this.fromRow(row));
  }

  page(where: string, params: SqlValue[], page: Page | undefined): Paged<T> {
    const resolved = resolvePage(page);
    const { table, order } = this.spec;
    const rows = this.store.statement(`SELECT ${this.columnNames} FROM ${table} WHERE ${where} ORDER BY ${order} LIMIT ? OFFSET ?`).all(...params, resolved.limit, resolved.offset) as Row[];
    const { total } = this.store.statement(`SELECT count(*) AS total FROM ${table} WHERE ${where}`).get(...params) as { total: number };
    return pagedResult(
      rows.map((row) => this.fromRow(row)),
      total,
      resolved,
    );
  }

  /** Read-merge-write in one IMMEDIATE transaction (atomic across processes too). */
  update(where: string, params: SqlValue[], key: string, patch: Row): T {
    this.codec?.checkWrite(patch, key);
    return this.store.db
      .transaction(() => {
        const current = this.getOne(where, params, key);
        const updated = { ...current, ...patch } as T;
        const assignments = [...this.spec.columns.map((c) => `${c.column} = ?`), 'data = ?'].join(', ');
        try {
          this.store.statement(`UPDATE ${this.spec.table} SET ${assignments} WHERE ${where}`).run(...this.rowValues(updated), ...params);
        } catch (e) {
          this.conflictOrRethrow(e, updated as Row);
        }
        return this.fromRow(this.rowOf(updated));
      })
      .immediate();
  }

  /**
   * A compare-and-set: `update` of the record matching `where` + `condition`, in one
   * IMMEDIATE transaction. Null when the record exists but the condition does not hold.
   */
  updateIf(where: string, params: SqlValue[], condition: string, conditionParams: SqlValue[], key: string, patch: Row): T | null {
    return this.store.db
      .transaction(() => {
        if (!this.findOne(`${where} AND (${condition})`, [...params, ...conditionParams])) {
          this.getOne(where, params, key);
          return null;
        }
        return this.update(where, params, key, patch);
      })
      .immediate();
  }

  /** A conditional UPDATE of some columns; true when a row changed. */
  setColumns(assignments: string, assignmentParams: SqlValue[], where: string, params: SqlValue[]): boolean {
    return this.store.statement(`UPDATE ${this.spec.table} SET ${assignments} WHERE ${where}`).run(...assignmentParams, ...params).changes > 0;
  }

  delete(where: string, params: SqlValue[], key: string): void {
    const { changes } = this.store.statement(`DELETE FROM ${this.spec.table} WHERE ${where}`).run(...params);
    if (changes === 0) throw new NotFoundError(this.spec.kind, key);
  }

  count(where: string, params: SqlValue[]): number {
    return (this.store.statement(`SELECT count(*) AS total FROM ${this.spec.table} WHERE ${where}`).get(...params) as { total: number }).total;
  }
}

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
