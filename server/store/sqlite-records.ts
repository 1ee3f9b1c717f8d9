/**
 * Rows and records in the embedded store: one spec per table (columns that are queried, the
 * rest as JSON in `data`), and `RecordTable`, the operations every kind of record needs
 * (insert with conflict detection, find, page, update, compare-and-set update, delete, count).
 * `SqliteStore` (sqlite.ts) puts them together.
 */
import {} from 'node:fs';
import {} from 'node:path';
import type {} from 'node:stream';
import Database from 'better-sqlite3';
import { pagedResult, resolvePage } from './errors.js';
import { ConflictError, NotFoundError, StoreError, type Page, type Paged } from './types.js';

import type { Db, Row, SqlValue } from './sqlite-schema.js';

// ---------------------------------------------------------------------------------------
// Rows <-> records

export interface ColumnSpec {
  /** Record field. */
  field: string;
  column: string;
  /** Booleans are stored as 0/1. */
  boolean?: boolean;
}

export interface TableSpec {
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

export const column = (field: string, name: string, boolean = false): ColumnSpec => ({ field, column: name, boolean });

export const ID = column('id', 'id');
export const NAME = column('name', 'name');
export const PROJECT_ID = column('projectId', 'project_id');
export const CREATED_AT = column('createdAt', 'created_at');

export function projectTableSpec(table: string, kind: string, unique: boolean, extra: ColumnSpec[] = []): TableSpec {
  return {
    table,
    kind,
    columns: [ID, PROJECT_ID, NAME, CREATED_AT, ...extra],
    uniqueField: unique ? 'name' : undefined,
    order: 'created_at, id',
  };
}

export function logTableSpec(table: string, kind: string): TableSpec {
  return {
    table,
    kind,
    columns: [ID, column('time', 'time'), column('userId', 'user_id'), column('projectId', 'project_id')],
    order: 'time, id',
  };
}

export const TABLES = {
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

export function toSqlValue(value: unknown, spec: ColumnSpec): SqlValue {
  if (spec.boolean) return value ? 1 : 0;
  if (value === undefined || value === null) return null;
  if (typeof value === 'string' || typeof value === 'number') return value;
  throw new StoreError(`field ${spec.field} must be a string or number`);
}

export function fromSqlValue(value: unknown, spec: ColumnSpec): unknown {
  return spec.boolean ? value === 1 : value;
}

export function isSqliteError(e: unknown): e is InstanceType<typeof Database.SqliteError> {
  return e instanceof Database.SqliteError;
}

/** Patch fields that may change: drops undefined values and the fields that identify the
 *  record (so a patch can never move a record to another id or project). */
export function cleanPatch(patch: object, fixed: readonly string[]): Row {
  return Object.fromEntries(Object.entries(patch).filter(([key, value]) => value !== undefined && !fixed.includes(key)));
}

/** Where a kind of record is checked as it crosses the store (tasks: task-codec.ts). */
export interface RecordCodec<T> {
  read(fields: Row): T;
  checkWrite(fields: Row, id: string): void;
}

/** One table of records (columns + JSON), with the statements every collection needs. */
export class RecordTable<T extends object> {
  private readonly columnNames: string;
  private readonly columnFields: Set<string>;

  constructor(
    private readonly store: { readonly db: Db; statement(sql: string): Database.Statement },
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
