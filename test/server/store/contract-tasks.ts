/**
 * The Store contract, tasks: listing by cluster, the metric series, and the compare-and-set
 * state changes the runtime relies on. Run by runStoreContract (contract.ts).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { StoreError, type MetricPoint, type Store, type TaskRecord, type TaskState } from '../../../server/store/types.js';
import { at, makeCluster, makeTask, notFound, byCreation, ids, orderAmong } from './contract-fixtures.js';

export function taskContract(getStore: () => Store): void {
  let store!: Store;
  before(() => {
    store = getStore();
  });

  describe('tasks', () => {
    it('lists by cluster within a project, paged', async () => {
      const projectId = randomUUID();
      const clusterId = randomUUID();
      const onCluster = [await store.tasks.create(makeTask(projectId, undefined, at(2), { clusterId })), await store.tasks.create(makeTask(projectId, undefined, at(1), { clusterId }))];
      await store.tasks.create(makeTask(projectId, undefined, at(0)));
      await store.tasks.create(makeTask(randomUUID(), undefined, at(0), { clusterId }));

      const listed = await store.tasks.listByCluster(projectId, clusterId);
      assert.deepEqual(listed, { items: byCreation(onCluster), total: 2, offset: 0, limit: 100 });
      assert.deepEqual(ids((await store.tasks.listByCluster(projectId, clusterId, { offset: 1, limit: 1 })).items), [onCluster[0]!.id]);
      await notFound(store.tasks.get(randomUUID(), onCluster[0]!.id));
    });

    it('lists by state across projects', async () => {
      const make = (state: TaskState, seconds: number) => store.tasks.create(makeTask(randomUUID(), undefined, at(seconds), { state }));
      const queued = await make('queued', 3);
      const running = await make('running', 1);
      const finished = await make('finished', 2);
      const listed = await store.tasks.listByState(['queued', 'running']);
      assert.deepEqual(orderAmong(listed, [queued, running, finished]), [running.id, queued.id]);
      assert.ok(listed.every((t) => t.state === 'queued' || t.state === 'running'));
      assert.deepEqual(
        listed.find((t) => t.id === queued.id),
        queued,
      );
      assert.deepEqual(await store.tasks.listByState([]), []);
      await store.tasks.update(queued.projectId, queued.id, { state: 'cancelled', finishedAt: at(9) });
      assert.ok(!ids(await store.tasks.listByState(['queued'])).includes(queued.id));
    });

    it('keeps params and results as given (nested lists, odd keys and names)', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      const result = { samples: 20, seconds: 0.5, samplesPerSecond: 40, stats: { 'per.class': 1, $a: 2.5, neurons: 3 } };
      const updated = await store.tasks.update(projectId, task.id, { state: 'finished', result, resultBlobId: randomUUID() });
      assert.deepEqual(updated.result, result);
      assert.deepEqual((await store.tasks.get(projectId, task.id)).params, task.params);

      const request = await store.tasks.create({ ...makeTask(projectId), kind: 'request', params: { datasetId: randomUUID(), inputs: [{ name: 'a.b', size: 1 }], output: '$out' }, result: null });
      const layout = {
        rows: 2,
        width: 3,
        outputs: [
          { name: '$out', mode: 'class' as const, column: 0, size: 2, labels: ['c.1', '$c2'] },
          { name: 'v.w', mode: 'value' as const, column: 2, size: 1, labels: ['0'] },
        ],
      };
      const answered = { ...layout, samples: 2, seconds: 0.01, samplesPerSecond: 200, accuracy: 0.5 };
      assert.deepEqual((await store.tasks.update(projectId, request.id, { state: 'finished', result: answered })).result, answered);
      const read = await store.tasks.get(projectId, request.id);
      assert.deepEqual([read.kind, read.params, read.result], ['request', request.params, answered]);
    });

    it('refuses params and results it could not read back', async () => {
      const projectId = randomUUID();
      const bad = { ...makeTask(projectId), params: { epochs: 2 } } as unknown as TaskRecord;
      await assert.rejects(store.tasks.create(bad), (e: unknown) => e instanceof StoreError && /params\.datasetId is not a string/.test(e.message));
      const task = await store.tasks.create(makeTask(projectId));
      const result = { samples: 1, seconds: 1, samplesPerSecond: 1, outputs: 'none' } as unknown as TaskRecord['result'];
      await assert.rejects(store.tasks.update(projectId, task.id, { result }), (e: unknown) => e instanceof StoreError && /result\.outputs is not a list/.test(e.message));
      assert.equal((await store.tasks.get(projectId, task.id)).result, null, 'nothing was written');
    });

    it('stores NaN and infinities as null, as JSON does', async () => {
      const projectId = randomUUID();
      const cluster = await store.clusters.create({ ...makeCluster(projectId), stats: { neurons: 3, loss: Number.NaN, best: Number.POSITIVE_INFINITY } });
      const stored = await store.clusters.get(projectId, cluster.id);
      assert.deepEqual(stored.stats, { neurons: 3, loss: null, best: null });
      assert.deepEqual(cluster, stored);
      const task = await store.tasks.create(makeTask(projectId, undefined, at(0), { progress: { done: 1, total: Number.NaN } }));
      assert.equal((await store.tasks.get(projectId, task.id)).progress.total, null);
    });
  });

  describe('task metric series', () => {
    const point = (seq: number, extra: Partial<MetricPoint> = {}): MetricPoint => ({
      seq,
      time: at(seq),
      done: (seq + 1) * 1000,
      total: 1_000_000,
      samplesPerSecond: 5000 + seq,
      window: 1000,
      accuracy: (seq % 100) / 100,
      neurons: 100 + seq,
      synapses: 10_000 + seq,
      sections: 50 + seq,
      bytes: 123_456 + seq,
      final: false,
      ...extra,
    });

    it('appends, pages and reads the last point; values read back as written', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      assert.deepEqual(await store.tasks.listMetrics(projectId, task.id), { items: [], total: 0, offset: 0, limit: 100 });
      assert.equal(await store.tasks.lastMetric(projectId, task.id), null);
      const unscored = (p: MetricPoint): MetricPoint => Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'accuracy')) as unknown as MetricPoint;
      const written = [point(0), { ...unscored(point(1)), rmse: 0.25, mae: 0.125 }, { ...unscored(point(2)), final: true, window: 0 }];
      assert.equal(await store.tasks.appendMetrics(projectId, task.id, written.slice(0, 1), 1000), 1);
      assert.equal(await store.tasks.appendMetrics(projectId, task.id, written.slice(1), 1000), 3);
      assert.equal(await store.tasks.appendMetrics(projectId, task.id, [], 1000), 3);
      const clean = written.map((p) => JSON.parse(JSON.stringify(p)) as MetricPoint);
      assert.deepEqual((await store.tasks.listMetrics(projectId, task.id)).items, clean);
      assert.deepEqual(await store.tasks.listMetrics(projectId, task.id, { offset: 1, limit: 1 }), { items: [clean[1]], total: 3, offset: 1, limit: 1 });
      assert.deepEqual(await store.tasks.lastMetric(projectId, task.id), clean[2]);
      // Scoped by project: another project's id sees nothing.
      assert.equal((await store.tasks.listMetrics(randomUUID(), task.id)).total, 0);
    });

    it('stays bounded: a series over its limit halves, keeping the first and the newest point', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      const limit = 8;
      const kept: number[] = [];
      for (let seq = 0; seq < 40; seq++) {
        const n = await store.tasks.appendMetrics(projectId, task.id, [point(seq)], limit);
        assert.ok(n <= limit, `${n} points kept after seq ${seq}`);
        kept.push(n);
      }
      // 9 points → every second one dropped (1, 3, 5, 7) → 5; and so on.
      assert.deepEqual(kept.slice(0, 10), [1, 2, 3, 4, 5, 6, 7, 8, 5, 6]);
      const series = (await store.tasks.listMetrics(projectId, task.id, { limit: 1000 })).items.map((p) => p.seq);
      assert.equal(series.length, kept[kept.length - 1]);
      assert.equal(series[0], 0);
      assert.equal(series[series.length - 1], 39);
      assert.deepEqual(
        series,
        [...series].sort((a, b) => a - b),
        'in seq order',
      );
      assert.equal((await store.tasks.lastMetric(projectId, task.id))?.seq, 39);
    });

    it('keeps 1,000 points at most and deletes the series with its task', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      let n = 0;
      for (let seq = 0; seq < 1000; seq += 100)
        n = await store.tasks.appendMetrics(
          projectId,
          task.id,
          Array.from({ length: 100 }, (_, i) => point(seq + i)),
          1000,
        );
      assert.equal(n, 1000);
      n = await store.tasks.appendMetrics(projectId, task.id, [point(1000)], 1000);
      assert.equal(n, 501);
      // A batch far over the limit halves as often as it takes: 501 + 1,600 → 2,101 → 1,051 → 526.
      n = await store.tasks.appendMetrics(
        projectId,
        task.id,
        Array.from({ length: 1600 }, (_, i) => point(1001 + i)),
        1000,
      );
      assert.equal(n, 526);
      const kept = (await store.tasks.listMetrics(projectId, task.id, { limit: 1000 })).items;
      assert.deepEqual([kept[0]?.seq, kept.at(-1)?.seq], [0, 2600]);
      await store.tasks.delete(projectId, task.id);
      assert.equal((await store.tasks.listMetrics(projectId, task.id)).total, 0);
    });
  });

  describe('task compare-and-set', () => {
    it("lists one cluster's tasks by state", async () => {
      const projectId = randomUUID();
      const clusterId = randomUUID();
      const a = await store.tasks.create(makeTask(projectId, undefined, at(3), { clusterId, state: 'queued' }));
      const b = await store.tasks.create(makeTask(projectId, undefined, at(1), { clusterId, state: 'running', runBy: 'pod-a' }));
      await store.tasks.create(makeTask(projectId, undefined, at(2), { clusterId, state: 'finished' }));
      await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'queued' }));
      await store.tasks.create(makeTask(randomUUID(), undefined, at(0), { clusterId, state: 'queued' }));
      const listed = await store.tasks.listByState(['queued', 'running'], { projectId, clusterId });
      assert.deepEqual(listed, [b, a]);
      assert.deepEqual(await store.tasks.listByState([], { projectId, clusterId }), []);
    });

    it('updateIf applies a patch only in the expected state (and runner)', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      assert.equal(task.runBy, null);
      const started = await store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: 'pod-a', startedAt: at(1) });
      assert.equal(started?.state, 'running');
      assert.equal(started?.runBy, 'pod-a');
      assert.deepEqual(await store.tasks.get(projectId, task.id), started);
      assert.equal(await store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: 'pod-b' }), null, 'started once');
      assert.equal(await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-b' }, { state: 'failed' }), null, 'another runner cannot end it');
      const progressed = await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-a' }, { progress: { done: 4, total: 10 } });
      assert.deepEqual([progressed?.state, progressed?.progress], ['running', { done: 4, total: 10 }], 'a patch without a state change');
      const ended = await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-a' }, { state: 'finished', finishedAt: at(2) });
      assert.equal(ended?.state, 'finished');
      assert.equal(ended?.runBy, 'pod-a');
      assert.equal((await store.tasks.get(projectId, task.id)).state, 'finished');
      assert.equal(await store.tasks.updateIf(projectId, task.id, { states: [] }, { state: 'queued' }), null);
      await notFound(store.tasks.updateIf(projectId, randomUUID(), { states: ['queued'] }, { state: 'running' }));
      await notFound(store.tasks.updateIf(randomUUID(), task.id, { states: ['finished'] }, { state: 'queued' }));
    });

    it('records who asked to cancel a task, once, and forgets it with the task', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'running', runBy: 'pod-a' }));
      assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), null);
      assert.equal(await store.tasks.requestCancel(projectId, task.id, 'alice'), true);
      assert.equal(await store.tasks.requestCancel(projectId, task.id, 'bob'), false, 'the first request stands');
      assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), 'alice');
      assert.equal(await store.tasks.cancelRequestOf(randomUUID(), task.id), null, 'the key includes the project');
      assert.equal((await store.tasks.get(projectId, task.id)).state, 'running', 'the task record is not touched');
      await store.tasks.delete(projectId, task.id);
      assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), null);
    });

    it('lets exactly one of several concurrent state changes win', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      // Start and cancel race, as when two instances act on one queued task.
      const results = await Promise.all(
        Array.from({ length: 8 }, (_, i) =>
          store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, i % 2 === 0 ? { state: 'running', runBy: `pod-${i}` } : { state: 'cancelled', error: `by ${i}` }),
        ),
      );
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1, `winners: ${winners.map((w) => `${w.state}/${w.runBy ?? w.error ?? ''}`).join(', ')}`);
      const stored = await store.tasks.get(projectId, task.id);
      assert.deepEqual([stored.state, stored.runBy, stored.error], [winners[0]!.state, winners[0]!.runBy, winners[0]!.error]);
      // The same for the way out of `running`.
      const running = await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'running', runBy: 'pod-a' }));
      const ends = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store.tasks.updateIf(projectId, running.id, { states: ['running'] }, { state: i % 2 === 0 ? 'finished' : 'failed', error: `end ${i}` })),
      );
      assert.equal(ends.filter((r) => r !== null).length, 1);
    });

    it('lets exactly one of several concurrent starts win', async () => {
      const projectId = randomUUID();
      const task = await store.tasks.create(makeTask(projectId));
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: `pod-${i}` })));
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1);
      assert.equal((await store.tasks.get(projectId, task.id)).runBy, winners[0]!.runBy);
    });
  });
}
