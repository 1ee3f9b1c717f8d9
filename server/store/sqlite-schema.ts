/**
 * The embedded store's SQLite schema: the tables, and the numbered migrations that bring a
 * database of any earlier version to the current one (`SQLITE_SCHEMA_VERSION`).
 */
import {} from 'node:fs';
import {} from 'node:path';
import type {} from 'node:stream';
import type Database from 'better-sqlite3';
import { StoreError } from './types.js';

export type Db = Database.Database;
export type Row = Record<string, unknown>;
export type SqlValue = string | number | null;

// ---------------------------------------------------------------------------------------
// Schema and migrations

/** Columns of a project collection table; `extra` adds more queried fields. */
export function projectTableSql(table: string, options: { uniqueName: boolean; extraColumns?: string; extraIndexes?: string[] }): string {
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

export function logTableSql(table: string): string {
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

export const SCHEMA_V1 = `
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
export const SCHEMA_V2 = `
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
export const SCHEMA_V3 = `
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
export const MIGRATIONS: readonly ((db: Db) => void)[] = [(db) => db.exec(SCHEMA_V1), (db) => db.exec(SCHEMA_V2), (db) => db.exec(SCHEMA_V3)];

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length;

export function readSchemaVersion(db: Db): number {
  db.exec('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
  const row = db.prepare('SELECT version FROM schema_version').get() as { version: number } | undefined;
  return row?.version ?? 0;
}

/** Runs inside one IMMEDIATE transaction, so two processes starting at once migrate once. */
export function migrate(db: Db, file: string): void {
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
