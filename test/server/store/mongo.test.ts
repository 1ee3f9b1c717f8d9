/**
 * The Store contract against a MongoDB-compatible server: FerretDB v1.24.0 here and in CI
 * (.ci/steps/30-ferretdb.sh), or a real MongoDB. Set HANAMI_TEST_MONGO_URL to run it; every
 * run uses a fresh, randomly named database and drops it at the end.
 *
 * Without the URL the tests are skipped, except under CI or HANAMI_REQUIRE_MONGO=1, where a
 * missing server must fail the run rather than quietly test nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it, test } from 'node:test';
import { GridFSBucket, MongoClient, type MongoClientOptions } from 'mongodb';
import { MongoStore, MONGO_SCHEMA_VERSION, redactMongoUrl } from '../../../server/store/mongo.js';
import { StoreError, type Store } from '../../../server/store/types.js';
import { runStoreContract } from './contract.js';

const url = process.env.HANAMI_TEST_MONGO_URL;
const required = isTrue(process.env.CI) || process.env.HANAMI_REQUIRE_MONGO === '1';

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/** Fail fast when the server is not there, instead of the driver's 30 s default. */
const CLIENT_OPTIONS: MongoClientOptions = { serverSelectionTimeoutMS: 5000 };

function freshDatabaseName(): string {
  return `hanami_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
}

async function dropDatabase(mongoUrl: string, database: string): Promise<void> {
  const client = new MongoClient(mongoUrl, CLIENT_OPTIONS);
  try {
    await client.db(database).dropDatabase();
  } finally {
    await client.close();
  }
}

function asMongo(store: Store): MongoStore {
  assert.ok(store instanceof MongoStore);
  return store;
}

/** GridFS chunks whose files document is missing: what a failed upload could leave. */
async function orphanChunks(store: Store): Promise<string[]> {
  const db = asMongo(store).db;
  const fileIds = (
    await db
      .collection<{ _id: string }>('blobs.files')
      .find({}, { projection: { _id: 1 } })
      .toArray()
  ).map((f) => f._id);
  const orphans = await db
    .collection<{ files_id: string; n: number }>('blobs.chunks')
    .find({ files_id: { $nin: fileIds } }, { projection: { files_id: 1, n: 1 } })
    .toArray();
  return orphans.map((c) => `${c.files_id}#${c.n}`);
}

if (!url) {
  if (required) {
    test('MongoDB store', () => {
      assert.fail('HANAMI_TEST_MONGO_URL is not set, but CI / HANAMI_REQUIRE_MONGO=1 requires the MongoDB store tests (see .ci/steps/30-ferretdb.sh)');
    });
  } else {
    test('MongoDB store', { skip: 'HANAMI_TEST_MONGO_URL is not set (e.g. mongodb://127.0.0.1:27018/ for a local FerretDB; see docs/storage.md)' }, () => undefined);
  }
} else {
  const mongoUrl = url;
  const database = freshDatabaseName();
  runStoreContract(
    'mongodb',
    async () => new MongoStore({ url: mongoUrl, database, clientOptions: CLIENT_OPTIONS }),
    () => dropDatabase(mongoUrl, database),
    { blobLeftovers: orphanChunks },
  );

  describe('MongoStore specifics', () => {
    const specificsDatabase = freshDatabaseName();
    let store: MongoStore;
    before(async () => {
      store = new MongoStore({ url: mongoUrl, database: specificsDatabase, clientOptions: CLIENT_OPTIONS });
      await store.init();
    });
    after(async () => {
      await store?.close();
      await dropDatabase(mongoUrl, specificsDatabase);
    });

    it('writes standard GridFS: chunks of 255 KiB and a files document carrying size and SHA-256', async () => {
      const data = randomBytes(600 * 1024);
      const info = await store.blobs.put(data);
      const file = await store.db.collection('blobs.files').findOne({ _id: info.id as unknown as never });
      assert.ok(file);
      assert.equal(file.length, data.byteLength);
      assert.deepEqual(file.metadata, { sha256: info.sha256, bytes: info.bytes });
      assert.equal(await store.db.collection('blobs.chunks').countDocuments({ files_id: info.id }), 3);
      // Any GridFS client can read it back.
      const parts: Buffer[] = [];
      for await (const chunk of new GridFSBucket(store.db, { bucketName: 'blobs' }).openDownloadStream(info.id as unknown as never)) parts.push(chunk as Buffer);
      assert.ok(Buffer.concat(parts).equals(data));
    });

    it('creates the unique name indexes', async () => {
      const indexes = await store.db.collection('templates').indexes();
      const projectName = indexes.find((i) => i.name === 'project_name');
      assert.deepEqual(projectName?.key, { projectId: 1, name: 1 });
      assert.equal(projectName?.unique, true);
      const chunkIndex = (await store.db.collection('blobs.chunks').indexes()).find((i) => i.key.files_id === 1 && i.key.n === 1);
      assert.equal(chunkIndex?.unique, true);
    });

    it('stores free-form fields as JSON text and timestamps as ISO strings', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create({
        id: randomUUID(),
        projectId,
        clusterId: randomUUID(),
        kind: 'request',
        name: 'infer',
        state: 'queued',
        params: { datasetId: 'd1', inputs: [{ name: 'in', column: 1, size: 2 }] },
        progress: { done: 0, total: 1 },
        result: null,
        resultBlobId: null,
        error: null,
        runBy: null,
        createdAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        createdBy: 'u',
      });
      const doc = await store.db.collection('tasks').findOne({ _id: task.id as unknown as never });
      assert.equal(doc?.params, '{"datasetId":"d1","inputs":[{"name":"in","column":1,"size":2}]}');
      assert.equal(typeof doc?.createdAt, 'string');
      assert.equal(doc?.id, undefined, 'the id is the _id, not a second field');
    });

    it('refuses a database written by a newer schema', async () => {
      const newerDatabase = freshDatabaseName();
      const client = new MongoClient(mongoUrl, CLIENT_OPTIONS);
      try {
        await client
          .db(newerDatabase)
          .collection<{ _id: string; version: number }>('meta')
          .insertOne({ _id: 'schema', version: MONGO_SCHEMA_VERSION + 1 });
        const newer = new MongoStore({ url: mongoUrl, database: newerDatabase, clientOptions: CLIENT_OPTIONS });
        await assert.rejects(newer.init(), (e: unknown) => e instanceof StoreError && /newer/.test(e.message));
        await newer.close();
      } finally {
        await client.db(newerDatabase).dropDatabase();
        await client.close();
      }
    });

    it('upgrades a version 1 database: its schema version, unowned clusters, tasks not run', async () => {
      const oldDatabase = freshDatabaseName();
      const client = new MongoClient(mongoUrl, CLIENT_OPTIONS);
      try {
        const db = client.db(oldDatabase);
        await db.collection<{ _id: string; version: number }>('meta').insertOne({ _id: 'schema', version: 1 });
        const projectId = randomUUID();
        const now = new Date().toISOString();
        // Documents as version 1 wrote them: no lease, no runner.
        await db.collection<{ _id: string }>('clusters').insertOne({
          _id: 'c1',
          projectId,
          name: 'old',
          templateText: 'version: 1',
          seed: 1,
          backend: 'auto',
          mode: 'tasks',
          stateBlobId: null,
          stats: '{}',
          createdAt: now,
          updatedAt: now,
          createdBy: 'u',
        } as { _id: string });
        await db.collection<{ _id: string }>('tasks').insertOne({
          _id: 't1',
          projectId,
          clusterId: 'c1',
          kind: 'train',
          name: 't',
          state: 'queued',
          params: '{"datasetId":"d1","epochs":1}',
          progress: { done: 0, total: 1 },
          result: 'null',
          resultBlobId: null,
          error: null,
          createdAt: now,
          startedAt: null,
          finishedAt: null,
          createdBy: 'u',
        } as { _id: string });
        const upgraded = new MongoStore({ url: mongoUrl, database: oldDatabase, clientOptions: CLIENT_OPTIONS });
        await upgraded.init();
        assert.equal((await db.collection<{ _id: string; version: number }>('meta').findOne({ _id: 'schema' }))?.version, MONGO_SCHEMA_VERSION);
        const cluster = await upgraded.clusters.get(projectId, 'c1');
        assert.deepEqual([cluster.owner, cluster.leaseUntil], [null, null]);
        assert.equal((await upgraded.tasks.get(projectId, 't1')).runBy, null);
        assert.equal((await upgraded.clusters.claim(projectId, 'c1', 'pod-a', '2030-01-01T00:00:00.000Z', now))?.owner, 'pod-a');
        await upgraded.close();
      } finally {
        await client.db(oldDatabase).dropDatabase();
        await client.close();
      }
    });

    it('keeps leases out of the cluster documents, one log entry per cluster after changes', async () => {
      const projectId = randomUUID();
      const now = new Date().toISOString();
      const cluster = await store.clusters.create({
        id: randomUUID(),
        projectId,
        name: 'leased',
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
      await store.clusters.claim(projectId, cluster.id, 'pod-a', '2030-01-01T00:00:00.000Z', now);
      for (let i = 0; i < 5; i++) assert.equal(await store.clusters.renew(projectId, cluster.id, 'pod-a', `2030-01-0${i + 2}T00:00:00.000Z`), true);
      const doc = await store.db.collection('clusters').findOne({ _id: cluster.id as unknown as never });
      assert.ok(doc);
      assert.ok(!('owner' in doc) && !('leaseUntil' in doc), 'the lease is not in the cluster document');
      const entries = await store.db.collection('clusterLeases').find({ clusterId: cluster.id }).toArray();
      assert.deepEqual(
        entries.map((e) => [e.epoch, e.owner, e.leaseUntil]),
        [[6, 'pod-a', '2030-01-06T00:00:00.000Z']],
      );
      await store.clusters.delete(projectId, cluster.id);
      assert.equal(await store.db.collection('clusterLeases').countDocuments({ clusterId: cluster.id }), 0);
    });

    it('rolls forward a task state change whose writer died after its guard', async () => {
      const projectId = randomUUID();
      const now = new Date().toISOString();
      const task = await store.tasks.create({
        id: randomUUID(),
        projectId,
        clusterId: randomUUID(),
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
      // A guard written long ago by an instance that never got to update the task.
      await store.db.collection<{ _id: string }>('taskTransitions').insertOne({
        _id: `${task.id}:queued`,
        taskId: task.id,
        at: new Date(Date.now() - 60_000).toISOString(),
        set: { state: 'running', runBy: 'dead-pod', startedAt: now },
      } as { _id: string });
      assert.equal(await store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'cancelled' }), null, 'the guard wins');
      const rolled = await store.tasks.get(projectId, task.id);
      assert.deepEqual([rolled.state, rolled.runBy], ['running', 'dead-pod'], 'and its change is applied');
    });

    it('hides credentials in its description', () => {
      assert.equal(redactMongoUrl('mongodb://hanami:s3cret@db1:27017,db2:27017/?replicaSet=rs'), 'mongodb://***@db1:27017,db2:27017/?replicaSet=rs');
      assert.equal(redactMongoUrl('mongodb://127.0.0.1:27018/'), 'mongodb://127.0.0.1:27018/');
    });

    it('turns an unreachable server into a StoreError', async () => {
      const unreachable = new MongoStore({ url: 'mongodb://127.0.0.1:1/', database: 'x', clientOptions: { serverSelectionTimeoutMS: 300 } });
      await assert.rejects(unreachable.init(), (e: unknown) => e instanceof StoreError && !e.constructor.name.startsWith('Mongo'));
      await unreachable.close();
    });
  });
}
