/**
 * Cluster ownership: each cluster is hosted by at most one live service instance (a lease in
 * the store), and tasks run only on that instance.
 *
 * - settings: HANAMI_INSTANCE_ID and the lease timings are checked at start;
 * - one process (embedded store): idle clusters are released; a lease taken over is noticed
 *   (the in-memory copy is dropped, changes get 409, the next claim reloads what the other
 *   owner saved); start-up recovery fails only what this instance ran and leaves other
 *   live instances' tasks alone;
 * - two service processes (`node dist/server/main.js`) on one MongoDB store (FerretDB in CI):
 *   a task submitted through B runs on A, which hosts the cluster, exactly once; B and a third
 *   in-process instance are refused (409 / ClusterHostedElsewhereError) what needs the
 *   cluster; restarting B leaves A's running task alone and a cancel through B stops it on
 *   A; after A is SIGKILLed, B fails A's interrupted task once A's lease ran out and runs the
 *   next queued task from the saved state.
 *
 * Short leases (seconds) keep this quick; the defaults are 30 s leases renewed every 10 s.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { pino } from 'pino';
import { ConfigError, loadConfig } from '../../../server/config.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { startService, type RunningService } from '../../../server/service.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import type { ClusterRecord, TaskRecord } from '../../../server/store/types.js';
import { ClusterHostedElsewhereError, INTERRUPTED_BY_RESTART, isDeadLocalInstance } from '../../../server/tasks/runtime.js';
import { startChild, type ChildService } from './child.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, assertProblem, Client, createProject, num, obj, startTestService, str, testConfig, waitFor, type TestService } from './helpers.js';
import { createCluster, createDataset, jsonResults, runTask } from './workflow.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** One sample of the tiny CSV's shape, for direct training. */
const SAMPLE: Dataset = {
  name: 'one sample',
  rows: 1,
  inputWidth: 2,
  inputColumns: ['a', 'b'],
  inputs: new Float32Array(new SharedArrayBuffer(8)).fill(3),
  targets: { kind: 'class', classes: ['even', 'odd'], labels: new Uint16Array(new SharedArrayBuffer(2)) },
};

function isHostedElsewhere(owner: string): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(e instanceof ClusterHostedElsewhereError, `expected ClusterHostedElsewhereError, got ${String(e)}`);
    assert.equal(e.owner, owner);
    assert.ok(Date.parse(e.leaseUntil) > Date.now() - 1000, `a lease end near now, got ${e.leaseUntil}`);
    return true;
  };
}

describe('ownership settings', () => {
  it('defaults the instance id to <hostname>-<pid> and checks the lease timings', () => {
    const defaults = loadConfig({});
    assert.equal(defaults.instanceId, `${hostname()}-${process.pid}`);
    assert.deepEqual([defaults.clusterLeaseMs, defaults.clusterRenewMs, defaults.clusterIdleMs, defaults.taskPollMs], [30_000, 10_000, 60_000, 2_000]);
    const set = loadConfig({ HANAMI_INSTANCE_ID: 'gpu-0.hanami', HANAMI_CLUSTER_LEASE_MS: '4000', HANAMI_CLUSTER_RENEW_MS: '2000', HANAMI_TASK_POLL_MS: '250', HANAMI_CLUSTER_IDLE_MS: '0' });
    assert.deepEqual([set.instanceId, set.clusterLeaseMs, set.clusterRenewMs, set.taskPollMs, set.clusterIdleMs], ['gpu-0.hanami', 4000, 2000, 250, 0]);
    assert.throws(
      () => loadConfig({ HANAMI_INSTANCE_ID: 'two words' }),
      (e: unknown) => e instanceof ConfigError && /HANAMI_INSTANCE_ID/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ HANAMI_CLUSTER_LEASE_MS: '3000', HANAMI_CLUSTER_RENEW_MS: '2000' }),
      (e: unknown) => e instanceof ConfigError && /at most half/.test(e.message),
    );
    assert.throws(() => loadConfig({ HANAMI_TASK_POLL_MS: '5' }), ConfigError);
  });

  it('recognises the leases of dead processes of this host, and only those', () => {
    assert.equal(isDeadLocalInstance(`${hostname()}-${process.pid}`), true, 'an earlier life of this pid');
    assert.equal(isDeadLocalInstance(`${hostname()}-${process.ppid}`), false, 'a live process');
    assert.equal(isDeadLocalInstance(`${hostname()}-999999999`), true);
    assert.equal(isDeadLocalInstance(`another-host-${process.pid}`), false, 'another host: its processes are not ours to judge');
    assert.equal(isDeadLocalInstance('alpha'), false);
  });
});

describe('cluster leases in one process (embedded store)', () => {
  let t: TestService;
  let project: string;
  let P: string;
  let data: string;

  before(async () => {
    t = await startTestService({ instanceId: 'solo', clusterLeaseMs: 1500, clusterRenewMs: 300, clusterIdleMs: 800, taskPollMs: 200 });
    project = await createProject(t.admin, 'leases');
    P = `/v1/projects/${project}`;
    data = await createDataset(t.admin, project, { name: 'tiny', format: 'csv', labelColumn: 'label' });
    await uploadCsv(t.admin, project, data, tinyCsv());
  });
  after(() => t.close());

  const record = (cluster: string): Promise<ClusterRecord> => t.service.services.store.clusters.get(project, cluster);

  it('holds a cluster while it works on it and releases it once idle', async () => {
    const cluster = await createCluster(t.admin, project, { name: 'idle', template: DEFAULT_TEMPLATE });
    assert.equal((await t.admin.expect(200, 'GET', `${P}/clusters/${cluster}`)).hostedBy, null);
    const done = await runTask(t.admin, project, cluster, { kind: 'train', datasetId: data });
    assert.equal(done.task.runBy, 'solo');
    const held = await record(cluster);
    assert.equal(held.owner, 'solo');
    assert.ok(Date.parse(held.leaseUntil ?? '') > Date.now());
    assert.equal((await t.admin.expect(200, 'GET', `${P}/clusters/${cluster}`)).hostedBy, 'solo');
    // Renewed while held...
    await sleep(700);
    assert.ok(Date.parse((await record(cluster)).leaseUntil ?? '') > Date.parse(held.leaseUntil ?? ''), 'the lease was renewed');
    // ...and given up once idle for clusterIdleMs.
    await waitFor(
      () => record(cluster),
      (r) => r.owner === null,
      'the idle release',
      10_000,
    );
    assert.equal(t.service.services.runtime.liveStats(cluster), undefined, 'and dropped from memory');
    assert.equal((await runTask(t.admin, project, cluster, { kind: 'request', datasetId: data })).task.runBy, 'solo', 'claimed again for the next task');
  });

  it('drops a cluster whose lease another instance took, refuses it while held there, and reloads what that instance saved', async () => {
    const { store, runtime } = t.service.services;
    const cluster = await createCluster(t.admin, project, { name: 'taken', template: DEFAULT_TEMPLATE, seed: 2 });
    const other = await createCluster(t.admin, project, { name: 'other', template: DEFAULT_TEMPLATE, seed: 7 });
    await runTask(t.admin, project, cluster, { kind: 'train', datasetId: data, epochs: 2 });
    await runTask(t.admin, project, other, { kind: 'train', datasetId: data, epochs: 5 });
    const otherRequest = await runTask(t.admin, project, other, { kind: 'request', datasetId: data });
    const otherValues = (await jsonResults(t.admin, project, other, str(otherRequest.task, 'id'))).values;
    assert.ok(runtime.liveStats(cluster), 'loaded here');

    // Another instance takes the cluster over (as if this one had not renewed in time).
    const far = new Date(Date.now() + 3_600_000).toISOString();
    const taken = await store.clusters.claim(project, cluster, 'intruder', far, far);
    assert.equal(taken?.owner, 'intruder');
    await waitFor(
      async () => runtime.liveStats(cluster),
      (s) => s === undefined,
      'the renewal to notice',
      10_000,
    );
    await assert.rejects(
      runtime.withCluster(project, cluster, async () => 'never'),
      isHostedElsewhere('intruder'),
    );
    await assert.rejects(runtime.trainDirect(project, cluster, SAMPLE), isHostedElsewhere('intruder'));
    const refused = assertProblem(await t.admin.patch(`${P}/clusters/${cluster}`, { name: 'renamed' }), 409, 'cluster_hosted_elsewhere');
    assert.deepEqual([refused.owner, refused.leaseUntil], ['intruder', far]);
    assertProblem(await t.admin.delete(`${P}/clusters/${cluster}`), 409, 'cluster_hosted_elsewhere');
    assert.equal((await t.admin.expect(200, 'GET', `${P}/clusters/${cluster}`)).hostedBy, 'intruder');
    // A task is accepted: it waits for whoever holds the cluster.
    const waiting = await t.admin.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'request', datasetId: data } });
    await sleep(600);
    assert.equal((await t.admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(waiting, 'id')}`)).state, 'queued');

    // The intruder saves another state (the other cluster's) and lets go.
    const otherState = (await record(other)).stateBlobId;
    assert.ok(otherState);
    const copy = await store.blobs.put(await store.blobs.read(otherState));
    assert.ok(await store.clusters.updateIfOwner(project, cluster, 'intruder', { stateBlobId: copy.id, stats: (await record(other)).stats }));
    assert.equal(await store.clusters.updateIfOwner(project, cluster, 'solo', { stateBlobId: null }), null, 'fenced: the old owner cannot write');
    assert.equal(await store.clusters.release(project, cluster, 'intruder'), true);

    // This process claims it again (poll) and runs the waiting task on what the intruder saved.
    const ran = await waitFor(
      () => t.admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(waiting, 'id')}`),
      (x) => x.state !== 'queued' && x.state !== 'running',
      'the waiting task',
    );
    assert.equal(ran.state, 'finished', String(ran.error));
    assert.equal(ran.runBy, 'solo');
    assert.deepEqual((await jsonResults(t.admin, project, cluster, str(waiting, 'id'))).values, otherValues, 'predicts with the state the other owner saved');
    await t.admin.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { name: 'renamed' } });
  });

  it('at start fails only the tasks this instance ran, and leaves another live instance its cluster', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'hanami-recover-'));
    const timings = { clusterLeaseMs: 1500, clusterRenewMs: 300, clusterIdleMs: 60_000, taskPollMs: 200 };
    const logger = pino({ level: 'silent' });
    let service: RunningService | undefined;
    try {
      service = await startService(testConfig(dataDir, { instanceId: 'solo', ...timings }), { logger });
      const admin = await Client.login(service.url, ADMIN_NAME, ADMIN_PASSPHRASE);
      const projectId = await createProject(admin, 'recovery');
      const dataset = await createDataset(admin, projectId, { name: 'tiny', format: 'csv', labelColumn: 'label' });
      await uploadCsv(admin, projectId, dataset, tinyCsv());
      const mine = await createCluster(admin, projectId, { name: 'mine', template: DEFAULT_TEMPLATE });
      const theirs = await createCluster(admin, projectId, { name: 'theirs', template: DEFAULT_TEMPLATE });
      await service.stop();
      service = undefined;

      // What the store holds after a crash of "solo" while "other" (alive) works on its cluster.
      const store = new SqliteStore({ dataDir });
      await store.init();
      const now = new Date().toISOString();
      const hourLater = new Date(Date.now() + 3_600_000).toISOString();
      const task = (clusterId: string, state: TaskRecord['state'], runBy: string | null): TaskRecord => ({
        id: randomUUID(),
        projectId,
        clusterId,
        kind: 'train',
        name: `${state} by ${runBy ?? 'nobody'}`,
        state,
        params: { datasetId: dataset, epochs: 1 },
        progress: { done: 0, total: 40 },
        result: null,
        resultBlobId: null,
        error: null,
        runBy,
        createdAt: new Date().toISOString(),
        startedAt: runBy ? now : null,
        finishedAt: null,
        createdBy: ADMIN_NAME,
      });
      const interrupted = await store.tasks.create(task(mine, 'running', 'solo'));
      const next = await store.tasks.create(task(mine, 'queued', null));
      const othersRunning = await store.tasks.create(task(theirs, 'running', 'other'));
      const othersQueued = await store.tasks.create(task(theirs, 'queued', null));
      assert.ok(await store.clusters.claim(projectId, mine, 'solo', hourLater, now), 'solo held it (its lease still runs)');
      assert.ok(await store.clusters.claim(projectId, theirs, 'other', hourLater, now));
      await store.close();

      service = await startService(testConfig(dataDir, { instanceId: 'solo', ...timings }), { logger });
      assert.deepEqual(service.recovered, { failed: 1, requeued: 1 });
      const admin2 = await Client.login(service.url, ADMIN_NAME, ADMIN_PASSPHRASE);
      const get = (c: string, id: string): Promise<Record<string, unknown>> => admin2.expect(200, 'GET', `/v1/projects/${projectId}/clusters/${c}/tasks/${id}`);
      const failed = await get(mine, interrupted.id);
      assert.deepEqual([failed.state, failed.error], ['failed', INTERRUPTED_BY_RESTART]);
      const ran = await waitFor(
        () => get(mine, next.id),
        (x) => x.state === 'finished' || x.state === 'failed',
        'the queued task',
      );
      assert.deepEqual([ran.state, ran.runBy], ['finished', 'solo']);
      await sleep(500);
      assert.deepEqual([(await get(theirs, othersRunning.id)).state, (await get(theirs, othersQueued.id)).state], ['running', 'queued'], "another live instance's work is left alone");
      const shown = await admin2.expect(200, 'GET', `/v1/projects/${projectId}/clusters/${theirs}`);
      assert.deepEqual([shown.hostedBy, shown.runningTaskId, shown.queuedTasks], ['other', othersRunning.id, 1]);
    } finally {
      await service?.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------------------------------
// Several processes on one MongoDB store

const mongoUrl = process.env.HANAMI_TEST_MONGO_URL;
const mongoRequired = ['1', 'true'].includes((process.env.CI ?? '').toLowerCase()) || process.env.HANAMI_REQUIRE_MONGO === '1';

const LEASE_MS = 3000;
const RENEW_MS = 1000;
const POLL_MS = 300;

if (!mongoUrl) {
  if (mongoRequired) test('several service processes on one MongoDB store', () => assert.fail('HANAMI_TEST_MONGO_URL is not set, but CI / HANAMI_REQUIRE_MONGO=1 requires it'));
  else test('several service processes on one MongoDB store', { skip: 'HANAMI_TEST_MONGO_URL is not set (see docs/storage.md)' }, () => undefined);
} else {
  const url = mongoUrl;
  describe('several service processes on one MongoDB store', () => {
    const database = `hanami_own_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const dir = mkdtempSync(join(tmpdir(), 'hanami-ownership-'));
    const children: ChildService[] = [];
    const env = (instance: string): Record<string, string> => ({
      HANAMI_MONGO_URL: url,
      HANAMI_MONGO_DB: database,
      HANAMI_DATA_DIR: join(dir, instance),
      HANAMI_INSTANCE_ID: instance,
      HANAMI_ADMIN_PASSPHRASE: ADMIN_PASSPHRASE,
      HANAMI_THREADS: '1',
      HANAMI_SHUTDOWN_GRACE: '2',
      HANAMI_CLUSTER_LEASE_MS: String(LEASE_MS),
      HANAMI_CLUSTER_RENEW_MS: String(RENEW_MS),
      HANAMI_CLUSTER_IDLE_MS: '600000',
      HANAMI_TASK_POLL_MS: String(POLL_MS),
    });
    const start = async (instance: string): Promise<{ child: ChildService; client: Client }> => {
      const child = await startChild(env(instance));
      children.push(child);
      return { child, client: await Client.login(child.url, ADMIN_NAME, ADMIN_PASSPHRASE) };
    };

    let a: { child: ChildService; client: Client };
    let b: { child: ChildService; client: Client };
    let project: string;
    let P: string;
    let tiny: string;
    let big: string;
    let cluster: string;
    /** Samples the cluster has learned (the sum over its train tasks). */
    let learned = 0;

    const task = (client: Client, id: string): Promise<Record<string, unknown>> => client.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${id}`);
    const ended = (client: Client, id: string, what: string): Promise<Record<string, unknown>> =>
      waitFor(
        () => task(client, id),
        (x) => ['finished', 'failed', 'cancelled'].includes(str(x, 'state')),
        what,
        60_000,
      );

    before(async () => {
      a = await start('alpha');
      b = await start('beta');
      assert.match(a.child.stdout(), /Instance: alpha/);
      project = await createProject(a.client, 'shared');
      P = `/v1/projects/${project}`;
      tiny = await createDataset(a.client, project, { name: 'tiny', format: 'csv', labelColumn: 'label' });
      await uploadCsv(a.client, project, tiny, tinyCsv());
      big = await createDataset(a.client, project, { name: 'big', format: 'csv', labelColumn: 'label' });
      // 20,000 rows × 1,000 epochs: training that outlasts every step of these tests.
      await uploadCsv(a.client, project, big, tinyCsv(20_000));
      cluster = await createCluster(a.client, project, { name: 'shared', template: DEFAULT_TEMPLATE, seed: 5 });
    });

    after(async () => {
      for (const c of children) c.child.kill('SIGKILL');
      await Promise.all(children.map((c) => c.exited));
      rmSync(dir, { recursive: true, force: true });
      const client = new MongoClient(url, { serverSelectionTimeoutMS: 5000 });
      await client.db(database).dropDatabase();
      await client.close();
    });

    it('(a) runs tasks submitted through B on A, which hosts the cluster, each exactly once and in order', async () => {
      const first = await runTask(a.client, project, cluster, { kind: 'train', datasetId: tiny, epochs: 2 });
      learned += 80;
      assert.equal(first.task.runBy, 'alpha');
      assert.equal((await b.client.expect(200, 'GET', `${P}/clusters/${cluster}`)).hostedBy, 'alpha', 'B sees who hosts it');
      assert.equal((await b.client.expect(200, 'GET', '/v1/system')).instanceId, 'beta');

      // Alone: A finds it by polling the store.
      const alone = str(await b.client.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: tiny, epochs: 1 } }), 'id');
      const aloneDone = await ended(b.client, alone, 'the task submitted through B');
      assert.deepEqual([aloneDone.state, aloneDone.runBy], ['finished', 'alpha'], String(aloneDone.error));
      learned += 40;
      assert.equal(num(obj(obj(aloneDone.result).stats), 'samplesTrained'), learned);

      // Mixed: they run in creation order, whichever instance took them.
      const submitted: string[] = [];
      for (const [client, epochs] of [
        [b.client, 3],
        [b.client, 1],
        [a.client, 2],
        [b.client, 4],
      ] as const) {
        submitted.push(str(await client.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: tiny, epochs } }), 'id'));
      }
      const results = [];
      for (const id of submitted) results.push(await ended(b.client, id, `task ${id}`));
      let expected = learned;
      for (const [i, r] of results.entries()) {
        assert.equal(r.state, 'finished', String(r.error));
        assert.equal(r.runBy, 'alpha', 'run by the host, not by the instance that took the request');
        expected += [120, 40, 80, 160][i]!;
        assert.equal(num(obj(obj(r.result).stats), 'samplesTrained'), expected, 'each task trained once, in submission order');
      }
      learned = expected;
      const shown = await b.client.expect(200, 'GET', `${P}/clusters/${cluster}`);
      assert.equal(num(obj(shown.stats), 'samplesTrained'), learned);
      assert.deepEqual([shown.queuedTasks, shown.runningTaskId], [0, null]);
    });

    it('(d) refuses on B what needs the cluster while A hosts it, naming A (409 / ClusterHostedElsewhereError)', async () => {
      const patched = assertProblem(await b.client.patch(`${P}/clusters/${cluster}`, { backend: 'cpu' }), 409, 'cluster_hosted_elsewhere');
      assert.equal(patched.owner, 'alpha');
      assert.ok(Date.parse(str(patched, 'leaseUntil')) > Date.now(), 'a running lease');
      assert.match(str(patched, 'detail'), /hosted by service instance "alpha"/);
      assertProblem(await b.client.patch(`${P}/clusters/${cluster}`, { mode: 'direct' }), 409, 'cluster_hosted_elsewhere');
      assertProblem(await b.client.delete(`${P}/clusters/${cluster}`), 409, 'cluster_hosted_elsewhere');
      const checkpoint = await b.client.expect(201, 'POST', `${P}/checkpoints`, { json: { clusterId: cluster, name: 'copy' } });
      assertProblem(await b.client.post(`${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { clusterId: cluster }), 409, 'cluster_hosted_elsewhere');
      await b.client.expect(201, 'POST', `${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { json: { name: 'restored copy' } });

      // Direct I/O goes through the runtime: a third instance, in this process.
      const third = await startService(
        testConfig(join(dir, 'gamma'), { mongoUrl: url, mongoDatabase: database, instanceId: 'gamma', clusterLeaseMs: LEASE_MS, clusterRenewMs: RENEW_MS, taskPollMs: POLL_MS }),
        { logger: pino({ level: 'silent' }) },
      );
      try {
        const { runtime } = third.services;
        await assert.rejects(
          runtime.withCluster(project, cluster, async () => 'never'),
          isHostedElsewhere('alpha'),
        );
        await assert.rejects(runtime.predictDirect(project, cluster, SAMPLE), isHostedElsewhere('alpha'));
        await assert.rejects(runtime.saveCluster(project, cluster), isHostedElsewhere('alpha'));
      } finally {
        await third.stop();
      }
      // The host itself may change it.
      await a.client.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { backend: 'cpu' } });
      assert.equal((await b.client.expect(200, 'GET', `${P}/clusters/${cluster}`)).hostedBy, 'alpha');
    });

    it("(b) restarting B leaves A's running task alone; a cancel through B stops it on A, which keeps what it learned", async () => {
      const long = str(await a.client.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: big, epochs: 1000 } }), 'id');
      await waitFor(
        () => task(a.client, long),
        (x) => x.state === 'running' && num(obj(x.progress), 'done') > 0,
        'training on A',
      );

      b.child.child.kill('SIGTERM');
      assert.equal(await b.child.exited, 0);
      b = await start('beta');
      assert.doesNotMatch(b.child.stdout(), /interrupted|queued again/, 'B recovered nothing of A');
      const before = num(obj((await task(b.client, long)).progress), 'done');
      await sleep(LEASE_MS + 500);
      const still = await task(b.client, long);
      assert.deepEqual([still.state, still.runBy], ['running', 'alpha']);
      assert.ok(num(obj(still.progress), 'done') > before, 'A went on training');

      const cancelled = await b.client.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${long}/cancel`);
      assert.deepEqual([cancelled.state, cancelled.error, cancelled.runBy], ['cancelled', 'cancelled by admin', 'alpha']);
      const done = num(obj(cancelled.progress), 'done');
      assert.ok(done > 0 && done < 20_000_000);
      learned += done;
      assert.equal(num(obj((await b.client.expect(200, 'GET', `${P}/clusters/${cluster}`)).stats), 'samplesTrained'), learned, 'A saved exactly what it learned');
    });

    it('(c) after A is killed, B fails its interrupted task once the lease ran out, takes the cluster and runs the next task from the saved state', async () => {
      const baseline = await runTask(a.client, project, cluster, { kind: 'request', datasetId: tiny });
      assert.equal(baseline.task.runBy, 'alpha');
      const values = (await jsonResults(a.client, project, cluster, str(baseline.task, 'id'))).values;

      const long = str(await a.client.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: big, epochs: 1000 } }), 'id');
      await waitFor(
        () => task(b.client, long),
        (x) => x.state === 'running' && num(obj(x.progress), 'done') > 0,
        'training on A',
      );
      const next = str(await b.client.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'request', datasetId: tiny } }), 'id');
      await sleep(2 * POLL_MS);
      assert.equal((await task(b.client, next)).state, 'queued', 'queued behind the running task');

      a.child.child.kill('SIGKILL');
      const killedAt = Date.now();
      assert.equal(await a.child.exited, 'SIGKILL');

      const interrupted = await ended(b.client, long, 'the interrupted task');
      assert.equal(interrupted.state, 'failed');
      assert.match(str(interrupted, 'error'), /^interrupted: the service stopped while this task ran \(instance "alpha" stopped renewing its lease/);
      // Not before A's lease (last renewed at most RENEW_MS before the kill) ran out.
      assert.ok(Date.parse(str(interrupted, 'finishedAt')) >= killedAt + LEASE_MS - RENEW_MS - 250, `failed ${Date.parse(str(interrupted, 'finishedAt')) - killedAt} ms after the kill`);

      const ran = await ended(b.client, next, 'the queued task');
      assert.deepEqual([ran.state, ran.runBy], ['finished', 'beta'], String(ran.error));
      assert.deepEqual((await jsonResults(b.client, project, cluster, next)).values, values, 'on the state A saved last, without the interrupted training');
      const shown = await b.client.expect(200, 'GET', `${P}/clusters/${cluster}`);
      assert.equal(shown.hostedBy, 'beta');
      assert.equal(num(obj(shown.stats), 'samplesTrained'), learned);
      await b.client.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { name: 'now on beta' } });
    });
  });
}
