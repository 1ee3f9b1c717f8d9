/**
 * Clusters, tasks and checkpoints beyond the happy path: progress while running, the
 * per-cluster queue order, cancelling (running and queued), deletion rules, direct mode,
 * backend switching, restoring into an existing cluster, metrics, and the runtime API that
 * direct I/O uses.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { assertProblem, createProject, items, memberOf, num, obj, request, startTestService, str, waitFor, type Client, type TestService, storeVariants } from './helpers.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset, jsonResults, runTask } from './workflow.js';

/** /metrics on the API's port needs the metrics token. */
const METRICS_TOKEN = 'metrics-token-for-tests';

for (const variant of storeVariants()) {
  describe(`clusters and tasks (${variant.name} store)`, () => {
    let t: TestService;
    let user: Client;
    let project: string;
    let P: string;
    let data: string;
    /** 2,000 rows: with 1,000 epochs a task that never finishes within a test. */
    let big: string;

    before(async () => {
      t = await startTestService({ ...variant.config, metricsToken: METRICS_TOKEN });
      project = await createProject(t.admin, 'tasks');
      P = `/v1/projects/${project}`;
      user = await memberOf(t.admin, project, 'runner');
      data = await createDataset(user, project, { name: 'tiny', format: 'csv', labelColumn: 'label' });
      await uploadCsv(user, project, data, tinyCsv());
      big = await createDataset(user, project, { name: 'big', format: 'csv', labelColumn: 'label' });
      await uploadCsv(user, project, big, tinyCsv(2000));
    });
    after(() => t.close());

    const task = (cluster: string, id: string): Promise<Record<string, unknown>> => user.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${id}`);

    it('reports progress while a task runs and cancels it at a slice boundary, keeping what it learned', async () => {
      const cluster = await createCluster(user, project, { name: 'long', template: DEFAULT_TEMPLATE });
      const created = await user.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: big, epochs: 1000 } });
      const id = str(created, 'id');
      assert.deepEqual(created.progress, { done: 0, total: 2_000_000 });
      const running = await waitFor(
        () => task(cluster, id),
        (r) => r.state === 'running' && num(obj(r.progress), 'done') > 0,
        'progress',
      );
      assert.ok(num(obj(running.progress), 'done') < 2_000_000);
      assert.equal((await user.expect(200, 'GET', `${P}/clusters/${cluster}`)).runningTaskId, id);
      assertProblem(await user.delete(`${P}/clusters/${cluster}/tasks/${id}`), 409, 'task_active');
      assertProblem(await user.delete(`${P}/clusters/${cluster}`), 409, 'cluster_busy');
      assertProblem(await user.patch(`${P}/clusters/${cluster}`, { mode: 'direct' }), 409, 'cluster_busy');
      const cancelled = await user.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${id}/cancel`);
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.error, 'cancelled by runner');
      assert.ok(num(obj(cancelled.progress), 'done') < 2_000_000);
      assert.equal(num(obj(cancelled.progress), 'done'), num(obj((await user.expect(200, 'GET', `${P}/clusters/${cluster}`)).stats), 'samplesTrained'), 'progress counts exactly what was learned');
      const shown = await user.expect(200, 'GET', `${P}/clusters/${cluster}`);
      assert.equal(shown.runningTaskId, null);
      assert.ok(num(obj(shown.stats), 'samplesTrained') > 0, 'the completed slices stay learned');
      const record = await t.service.services.store.clusters.get(project, cluster);
      assert.equal(record.stats.samplesTrained, obj(shown.stats).samplesTrained, 'and are saved');
      assertProblem(await user.post(`${P}/clusters/${cluster}/tasks/${id}/cancel`), 409, 'task_ended');
      await user.expect(204, 'DELETE', `${P}/clusters/${cluster}/tasks/${id}`);
      assertProblem(await user.get(`${P}/clusters/${cluster}/tasks/${id}`), 404, 'not_found');
    });

    it("runs a cluster's tasks one at a time in submission order; a queued task cancels without running", async () => {
      const cluster = await createCluster(user, project, { name: 'queue', template: DEFAULT_TEMPLATE });
      const submit = (body: Record<string, unknown>): Promise<Record<string, unknown>> => user.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: body });
      // The first task is far too long to finish: it holds the queue until it is cancelled.
      const first = await submit({ kind: 'train', datasetId: big, epochs: 1000 });
      const dropped = await submit({ kind: 'train', datasetId: data, epochs: 50 });
      const second = await submit({ kind: 'train', datasetId: data, epochs: 50 });
      const third = await submit({ kind: 'request', datasetId: data });
      await waitFor(
        () => task(cluster, str(first, 'id')),
        (x) => x.state === 'running',
        'the first task',
      );
      const cancelled = await user.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${str(dropped, 'id')}/cancel`);
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.error, 'cancelled by runner while queued');
      const stopped = await user.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${str(first, 'id')}/cancel`);
      const ended = await waitFor(
        async () => Promise.all([second, third].map((x) => task(cluster, str(x, 'id')))),
        (list) => list.every((x) => x.state === 'finished'),
        'the queue',
      );
      const order = [stopped, ...ended];
      for (let i = 1; i < order.length; i++) {
        assert.ok(str(order[i - 1]!, 'finishedAt') <= str(order[i]!, 'startedAt'), 'each starts after the previous one ended');
      }
      const never = await task(cluster, str(dropped, 'id'));
      assert.equal(never.startedAt, null);
      assert.deepEqual(never.progress, { done: 0, total: 2000 });
      const learnedByFirst = num(obj(stopped.progress), 'done');
      assert.ok(learnedByFirst > 0 && learnedByFirst < 2_000_000);
      assert.equal(num(obj(obj(ended[0]!.result).stats), 'samplesTrained'), learnedByFirst + 2000, 'the cancelled queued task taught nothing; the stopped one exactly its progress');
      const listed = items(await user.expect(200, 'GET', `${P}/clusters/${cluster}/tasks`));
      assert.deepEqual(
        listed.map((x) => x.id),
        [first, dropped, second, third].map((x) => x.id),
      );
      assertProblem(await user.get(`${P}/clusters/${cluster}/tasks/${str(second, 'id')}/results`), 409, 'no_results');
    });

    it('refuses tasks in direct mode and hands the cluster back with what it learned', async () => {
      const cluster = await createCluster(user, project, { name: 'direct', template: DEFAULT_TEMPLATE });
      const direct = await user.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { mode: 'direct' } });
      assert.equal(direct.mode, 'direct');
      assertProblem(await user.post(`${P}/clusters/${cluster}/tasks`, { kind: 'train', datasetId: data }), 409, 'cluster_direct');
      assertProblem(await user.delete(`${P}/clusters/${cluster}`), 409, 'cluster_direct');

      // What the Socket.IO layer does: train and predict single samples through the runtime.
      const runtime = t.service.services.runtime;
      const sample: Dataset = {
        name: 'one sample',
        rows: 1,
        inputWidth: 2,
        inputColumns: ['a', 'b'],
        inputs: new Float32Array(new SharedArrayBuffer(8)).fill(3),
        targets: { kind: 'class', classes: ['even', 'odd'], labels: new Uint16Array(new SharedArrayBuffer(2)) },
      };
      for (let i = 0; i < 20; i++) await runtime.trainDirect(project, cluster, sample);
      const predicted = await runtime.predictDirect(project, cluster, sample);
      assert.equal(predicted.outputs.length, predicted.width);
      assert.deepEqual(
        predicted.layout.map((o) => [o.name, o.labels]),
        [['output', ['even', 'odd']]],
      );
      assert.equal(num(obj((await user.expect(200, 'GET', `${P}/clusters/${cluster}`)).stats), 'samplesTrained'), 20, 'live statistics');

      const back = await user.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { mode: 'tasks' } });
      assert.equal(back.mode, 'tasks');
      const record = await t.service.services.store.clusters.get(project, cluster);
      assert.equal(record.stats.samplesTrained, 20, 'switching back saved the direct training');
      await runTask(user, project, cluster, { kind: 'request', datasetId: data });
    });

    it('switches the backend (host) of a cluster', async () => {
      const cluster = await createCluster(user, project, { name: 'hosted', template: DEFAULT_TEMPLATE, backend: 'cpu' });
      const hosts = items(await user.expect(200, 'GET', '/v1/hosts'));
      const primary = hosts.find((h) => h.primary === true);
      assert.ok(primary, 'one primary host');
      assert.equal((await user.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { backend: 'auto' } })).backend, 'auto');
      assert.equal((await user.expect(200, 'PATCH', `${P}/clusters/${cluster}`, { json: { backend: 'cpu', name: 'renamed' } })).name, 'renamed');
      await runTask(user, project, cluster, { kind: 'train', datasetId: data });
      assertProblem(await user.patch(`${P}/clusters/${cluster}`, { backend: 'tpu' }), 400, 'validation');
      // WebGPU where this host has an adapter (software ones count when asked for by name).
      const webgpu = hosts.find((h) => h.id === 'webgpu');
      assert.ok(webgpu, 'the WebGPU host is listed, available or not');
      const pinned = await user.patch(`${P}/clusters/${cluster}`, { backend: 'webgpu' });
      if (webgpu.available === true) {
        assert.equal(pinned.status, 200, pinned.text);
        await runTask(user, project, cluster, { kind: 'train', datasetId: data });
        const open = items(await user.expect(200, 'GET', '/v1/hosts')).find((h) => h.id === 'webgpu');
        assert.equal(open?.open, true);
      } else {
        assertProblem(pinned, 409, 'backend_unavailable');
        assert.equal((await user.expect(200, 'GET', `${P}/clusters/${cluster}`)).backend, 'cpu', 'the setting is unchanged');
      }
    });

    it('restores a checkpoint into an existing idle cluster', async () => {
      const source = await createCluster(user, project, { name: 'source', template: DEFAULT_TEMPLATE, seed: 5 });
      await runTask(user, project, source, { kind: 'train', datasetId: data, epochs: 3 });
      const checkpoint = await user.expect(201, 'POST', `${P}/checkpoints`, { json: { clusterId: source, name: 'source state' } });
      assert.equal(num(obj(checkpoint.stats), 'samplesTrained'), 120);
      const target = await createCluster(user, project, { name: 'target', template: DEFAULT_TEMPLATE, seed: 9 });
      const restored = await user.expect(200, 'POST', `${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { json: { clusterId: target } });
      assert.equal(restored.id, target);
      assert.deepEqual(restored.stats, checkpoint.stats);
      const a = await runTask(user, project, source, { kind: 'request', datasetId: data });
      const b = await runTask(user, project, target, { kind: 'request', datasetId: data });
      assert.deepEqual((await jsonResults(user, project, target, str(b.task, 'id'))).values, (await jsonResults(user, project, source, str(a.task, 'id'))).values);
      assertProblem(await user.post(`${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { clusterId: target, name: 'both' }), 400, 'restore_target');
      const long = await user.expect(202, 'POST', `${P}/clusters/${target}/tasks`, { json: { kind: 'train', datasetId: big, epochs: 1000 } });
      assertProblem(await user.post(`${P}/checkpoints/${str(checkpoint, 'id')}/restore`, { clusterId: target }), 409, 'cluster_busy');
      await user.expect(200, 'POST', `${P}/clusters/${target}/tasks/${str(long, 'id')}/cancel`);
      const listed = items(await user.expect(200, 'GET', `${P}/checkpoints`));
      assert.ok(listed.some((c) => c.id === checkpoint.id));
      await user.expect(204, 'DELETE', `${P}/checkpoints/${str(checkpoint, 'id')}`);
      assertProblem(await user.get(`${P}/checkpoints/${str(checkpoint, 'id')}/content`), 404, 'not_found');
    });

    it('deletes a cluster with its tasks and results', async () => {
      const cluster = await createCluster(user, project, { name: 'short-lived', template: DEFAULT_TEMPLATE });
      await runTask(user, project, cluster, { kind: 'train', datasetId: data });
      const r = await runTask(user, project, cluster, { kind: 'request', datasetId: data });
      const blobId = (await t.service.services.store.tasks.get(project, str(r.task, 'id'))).resultBlobId;
      assert.ok(blobId);
      await user.expect(204, 'DELETE', `${P}/clusters/${cluster}`);
      assertProblem(await user.get(`${P}/clusters/${cluster}/tasks/${str(r.task, 'id')}`), 404, 'not_found');
      await assert.rejects(t.service.services.store.blobs.stat(blobId));
    });

    it('exposes task, sample, cluster and request metrics', async () => {
      const text = (await request(t.url, 'GET', '/metrics', { token: METRICS_TOKEN })).text;
      assert.match(text, /hanami_tasks_total\{kind="train",state="finished"\} [1-9]/);
      assert.match(text, /hanami_tasks_total\{kind="train",state="cancelled"\} [1-9]/);
      assert.match(text, /hanami_samples_total\{kind="request"\} [1-9]/);
      assert.match(text, /hanami_samples_per_second\{kind="train"\} [0-9.e+]+/);
      assert.match(text, new RegExp(`hanami_cluster_synapses\\{project="${project}",cluster="[0-9a-f-]+"\\} [1-9]`));
      assert.match(text, /hanami_tasks\{state="queued"\} 0/);
      assert.match(text, /hanami_http_request_duration_seconds_count\{method="POST",route="\/v1\/projects\/:projectId\/clusters\/:clusterId\/tasks",status="202"\} [1-9]/);
      assert.match(text, /hanami_process_resident_memory_bytes \d+/);
    });
  });
}
