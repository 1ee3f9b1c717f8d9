import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../../server/store/index.js';
import { MongoStore } from '../../../server/store/mongo.js';
import { SQLITE_FILE, SQLITE_SCHEMA_VERSION, SqliteStore } from '../../../server/store/sqlite.js';
import { StoreError } from '../../../server/store/types.js';
import { runStoreContract } from './contract.js';

async function makeDataDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'hanami-store-'));
}

function blobTempDir(dataDir: string): string {
  return join(dataDir, 'blobs', 'tmp');
}

let contractDir = '';
runStoreContract(
  'sqlite',
  async () => {
    contractDir ||= await makeDataDir();
    return new SqliteStore({ dataDir: contractDir });
  },
  () => rm(contractDir, { recursive: true, force: true }),
  { blobLeftovers: async () => readdir(blobTempDir(contractDir)) },
);

describe('SqliteStore specifics', () => {
  let dataDir = '';
  before(async () => (dataDir = await makeDataDir()));
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('keeps one WAL-mode database file with a schema version, and blobs under blobs/<2 hex>/<id>', async () => {
    const store = new SqliteStore({ dataDir });
    await store.init();
    const blob = await store.blobs.put(Buffer.from('hello'));
    await store.close();

    const db = new Database(join(dataDir, SQLITE_FILE), { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [{ version: SQLITE_SCHEMA_VERSION }]);
    } finally {
      db.close();
    }
    const file = await readFile(join(dataDir, 'blobs', blob.id.slice(0, 2), blob.id));
    // 64-byte header (magic, size, SHA-256) followed by the bytes.
    assert.equal(file.subarray(0, 8).toString('latin1'), 'HNMBLOB1');
    assert.equal(file.subarray(64).toString(), 'hello');
  });

  it('refuses a database written by a newer schema', async () => {
    const dir = await makeDataDir();
    try {
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      await store.close();
      const db = new Database(join(dir, SQLITE_FILE));
      db.prepare('UPDATE schema_version SET version = ?').run(SQLITE_SCHEMA_VERSION + 1);
      db.close();
      const newer = new SqliteStore({ dataDir: dir });
      await assert.rejects(newer.init(), (e: unknown) => e instanceof StoreError && /newer/.test(e.message));
      await newer.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('init() removes blob temp files that crashed writers left, but not a live process’s', async () => {
    const store = new SqliteStore({ dataDir });
    await store.init();
    const tmp = blobTempDir(dataDir);
    const deadWriter = join(tmp, `999999999-${randomUUID()}.tmp`);
    const earlierLifeOfThisPid = join(tmp, `${process.pid}-${randomUUID()}.tmp`);
    const liveWriter = join(tmp, `${process.ppid}-${randomUUID()}.tmp`);
    for (const path of [deadWriter, earlierLifeOfThisPid, liveWriter]) await writeFile(path, 'partial');
    await store.init();
    assert.deepEqual(await readdir(tmp), [liveWriter.slice(tmp.length + 1)]);
    await rm(liveWriter);
    await store.close();
  });

  it('reports a corrupt blob file as a StoreError', async () => {
    const store = new SqliteStore({ dataDir });
    await store.init();
    const blob = await store.blobs.put(Buffer.from('will be damaged'));
    await writeFile(join(dataDir, 'blobs', blob.id.slice(0, 2), blob.id), 'garbage');
    for (const read of [() => store.blobs.read(blob.id), () => store.blobs.stat(blob.id), () => store.blobs.open(blob.id)]) {
      await assert.rejects(read(), (e: unknown) => e instanceof StoreError && /corrupt/.test(e.message));
    }
    await store.close();
  });

  it('keeps what a SIGKILLed process had written, and init() removes its half-written blob', async () => {
    const dir = await makeDataDir();
    try {
      const { userId, blobId } = await writeThenGetKilled(dir);
      const leftovers = await readdir(blobTempDir(dir));
      assert.equal(leftovers.length, 1, 'the killed writer left its temp file');

      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      assert.deepEqual(await readdir(blobTempDir(dir)), []);
      assert.equal((await store.users.get(userId)).name, 'survivor');
      assert.equal(await store.settings.get('written-before-kill'), 'yes');
      assert.equal((await store.blobs.read(blobId)).toString(), 'committed blob');
      await store.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('migrates a version 1 database: clusters unowned, tasks not run, leases usable', async () => {
    const dir = await makeDataDir();
    try {
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      const projectId = randomUUID();
      const now = new Date().toISOString();
      const cluster = await store.clusters.create({
        id: randomUUID(),
        projectId,
        name: 'old',
        templateText: 'version: 1',
        seed: 1,
        backend: 'auto',
        mode: 'tasks',
        stateBlobId: null,
        stats: {},
        owner: null,
        leaseUntil: null,
        createdAt: now,
        updatedAt: now,
        createdBy: 'u',
      });
      const task = await store.tasks.create({
        id: randomUUID(),
        projectId,
        clusterId: cluster.id,
        kind: 'train',
        name: 't',
        state: 'queued',
        params: { datasetId: 'd1', epochs: 1 },
        progress: { done: 0, total: 1 },
        result: null,
        resultBlobId: null,
        error: null,
        runBy: null,
        createdAt: now,
        startedAt: null,
        finishedAt: null,
        createdBy: 'u',
      });
      await store.close();
      // Back to what version 1 had: no lease or runner columns, no cancel requests, no
      // metric series (version 3).
      const db = new Database(join(dir, SQLITE_FILE));
      db.exec(`DROP INDEX clusters_owner; ALTER TABLE clusters DROP COLUMN owner; ALTER TABLE clusters DROP COLUMN lease_until;
               ALTER TABLE tasks DROP COLUMN run_by; DROP TABLE task_cancel_requests; DROP TABLE task_metrics; UPDATE schema_version SET version = 1;`);
      db.close();

      const migrated = new SqliteStore({ dataDir: dir });
      await migrated.init();
      assert.deepEqual(await migrated.clusters.get(projectId, cluster.id), cluster);
      assert.deepEqual(await migrated.tasks.get(projectId, task.id), task);
      assert.equal((await migrated.clusters.claim(projectId, cluster.id, 'pod-a', '2030-01-01T00:00:00.000Z', now))?.owner, 'pod-a');
      assert.equal(await migrated.tasks.requestCancel(projectId, task.id, 'alice'), true);
      // Version 3: the task has an empty metric series that takes points.
      assert.equal((await migrated.tasks.listMetrics(projectId, task.id)).total, 0);
      const point = { seq: 0, time: now, done: 1, total: 1, samplesPerSecond: 1, window: 0, neurons: 1, synapses: 0, sections: 0, bytes: 0, final: true };
      assert.equal(await migrated.tasks.appendMetrics(projectId, task.id, [point], 1000), 1);
      await migrated.close();
      const check = new Database(join(dir, SQLITE_FILE), { readonly: true });
      assert.deepEqual(check.prepare('SELECT version FROM schema_version').all(), [{ version: SQLITE_SCHEMA_VERSION }]);
      check.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads task records as earlier versions wrote them: request params with epochs, scores JSON made null', async () => {
    const dir = await makeDataDir();
    try {
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      await store.close();
      const projectId = randomUUID();
      const id = randomUUID();
      const now = new Date().toISOString();
      const outputs = [{ name: 'output', mode: 'class', column: 0, size: 2, labels: ['even', 'odd'] }];
      const data = {
        kind: 'request',
        params: { datasetId: 'd1', epochs: 1 },
        progress: { done: 3, total: 3 },
        result: { rows: 3, width: 2, outputs, samples: 3, seconds: 0.001, samplesPerSecond: 3000, rmse: null, mae: null },
        resultBlobId: 'b1',
        error: null,
        startedAt: now,
        finishedAt: now,
        createdBy: 'u',
      };
      const db = new Database(join(dir, SQLITE_FILE));
      db.prepare('INSERT INTO tasks (id, project_id, name, created_at, cluster_id, state, run_by, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
        id,
        projectId,
        'old',
        now,
        'c1',
        'finished',
        'pod-a',
        JSON.stringify(data),
      );
      db.close();
      const reopened = new SqliteStore({ dataDir: dir });
      await reopened.init();
      const task = await reopened.tasks.get(projectId, id);
      assert.equal(task.kind, 'request');
      assert.deepEqual(task.params, { datasetId: 'd1' });
      assert.deepEqual(task.result, { rows: 3, width: 2, outputs, samples: 3, seconds: 0.001, samplesPerSecond: 3000 });
      await reopened.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('openStore picks SQLite without a MongoDB URL and MongoDB with one', async () => {
    const embedded = await openStore({ dataDir, mongoUrl: undefined, mongoDatabase: 'hanami' });
    assert.ok(embedded instanceof SqliteStore);
    assert.equal(embedded.description, `sqlite (${join(dataDir, SQLITE_FILE)})`);
    await embedded.close();
    const mongo = await openStore({ dataDir, mongoUrl: 'mongodb://user:secret@127.0.0.1:1/', mongoDatabase: 'hanami' });
    assert.ok(mongo instanceof MongoStore);
    assert.ok(!mongo.description.includes('secret'), mongo.description);
    await mongo.close();
  });

  it('refuses calls before init()', async () => {
    const store = new SqliteStore({ dataDir });
    await assert.rejects(store.users.list(), (e: unknown) => e instanceof StoreError && /init/.test(e.message));
    await store.close();
  });
});

const sqliteModule = fileURLToPath(new URL('../../../server/store/sqlite.js', import.meta.url));

/**
 * Runs a child process that commits a user, a setting and a blob, then starts a blob write
 * that never finishes; once that write has bytes on disk, the child is SIGKILLed.
 */
async function writeThenGetKilled(dataDir: string): Promise<{ userId: string; blobId: string }> {
  const script = `
    import { Readable } from 'node:stream';
    import { SqliteStore } from ${JSON.stringify(sqliteModule)};
    const store = new SqliteStore({ dataDir: ${JSON.stringify(dataDir)} });
    await store.init();
    const user = await store.users.create({ id: crypto.randomUUID(), name: 'survivor', isAdmin: false, passphraseHash: 'x', tokenVersion: 0, createdAt: new Date().toISOString(), createdBy: 'test' });
    await store.settings.set('written-before-kill', 'yes');
    const blob = await store.blobs.put(Buffer.from('committed blob'));
    const endless = new Readable({ read() {} });
    endless.push(Buffer.alloc(100000));
    let reported = false;
    store.blobs.put(endless, { onProgress: () => {
      if (reported) return;
      reported = true;
      setTimeout(() => console.log(JSON.stringify({ userId: user.id, blobId: blob.id })), 50);
    } });
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const written = JSON.parse(line) as { userId: string; blobId: string };
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    assert.ok(existsSync(join(dataDir, SQLITE_FILE)));
    return written;
  }
  throw new Error(`child exited without reporting (signal ${await exited})`);
}
