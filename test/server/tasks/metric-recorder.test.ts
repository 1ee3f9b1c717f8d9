/**
 * The metric series' parts without a service: the running training score over a window of
 * samples, the thinning rule, the cadence that doubles when the store halves the series, and
 * the configuration keys.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ConfigError, loadConfig } from '../../../server/config.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { seqsToThin } from '../../../server/store/metric-series.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import type { TaskRecord } from '../../../server/store/types.js';
import { MetricRecorder, TrainingScore } from '../../../server/tasks/metric-recorder.js';
import { TaskEvents, type TaskEvent } from '../../../server/tasks/task-events.js';
import type { Dataset } from '../../../server/datasets/types.js';

function labelled(rows: number): Dataset {
  const inputs = new Float32Array(new SharedArrayBuffer(rows * 2 * 4));
  const labels = new Uint16Array(rows);
  for (let r = 0; r < rows; r++) {
    inputs[r * 2] = r % 3;
    inputs[r * 2 + 1] = (r * 7) % 5;
    labels[r] = r % 2;
  }
  return { name: 'even-odd', rows, inputWidth: 2, inputColumns: ['a', 'b'], inputs, targets: { kind: 'class', classes: ['even', 'odd'], labels } };
}

describe('TrainingScore', () => {
  it('scores the samples since the last point, wrapping over epochs, against the labels', () => {
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 1);
    const bound = cluster.bind(labelled(10), {});
    const score = TrainingScore.for(bound, cluster.state);
    assert.ok(score, 'a class output with labels is scored');
    const width = score.outputs.length / 10;
    // Rows 0..9: even rows "predict" class 0 (right for even labels), odd rows class 0 too (wrong).
    for (let r = 0; r < 10; r++) score.outputs[r * width] = 1;
    assert.deepEqual(score.take(4), { window: 4, accuracy: 0.5 });
    assert.deepEqual(score.take(4), { window: 0 }, 'nothing new');
    // Samples 4..13 of a second epoch: rows 4..9 then 0..3; at most one epoch's rows.
    assert.deepEqual(score.take(14), { window: 10, accuracy: 0.5 });
    for (let r = 0; r < 10; r++) score.outputs[r * width + 1] = r % 2 === 1 ? 2 : 0;
    assert.deepEqual(score.take(24), { window: 10, accuracy: 1 });
  });
});

describe('TrainingScore on value targets', () => {
  it("gives RMSE and MAE of the window in the targets' units", () => {
    const rows = 4;
    const inputs = new Float32Array(new SharedArrayBuffer(rows * 2 * 4));
    inputs.fill(1);
    const values = Float32Array.of(1, 2, 3, 4);
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 1);
    const bound = cluster.bind({ name: 'values', rows, inputWidth: 2, inputColumns: ['a', 'b'], inputs, targets: { kind: 'values', columns: ['y'], values } }, {});
    const score = TrainingScore.for(bound, cluster.state);
    assert.ok(score, 'a value output is scored');
    const width = score.outputs.length / rows;
    // Predictions 1, 2, 3, 4 + errors 0, 0, 3, -4.
    [1, 2, 6, 0].forEach((v, r) => (score.outputs[r * width] = v));
    assert.deepEqual(score.take(2), { window: 2, rmse: 0, mae: 0 });
    assert.deepEqual(score.take(4), { window: 2, rmse: Math.round(Math.sqrt(12.5) * 1e6) / 1e6, mae: 3.5 });
  });
});

describe('thinning', () => {
  it('drops every second point once over the limit, keeping the first and the newest', () => {
    assert.deepEqual(seqsToThin([0, 1, 2, 3], 4), []);
    assert.deepEqual(seqsToThin([0, 1, 2, 3, 4], 4), [1, 3]);
    assert.deepEqual(seqsToThin([0, 2, 4, 6, 7, 8], 5), [2, 6]);
  });
});

describe('MetricRecorder', () => {
  let dir: string;
  let store: SqliteStore;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hanami-recorder-'));
    store = new SqliteStore({ dataDir: dir });
    await store.init();
  });
  after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('stores then publishes each point in order, doubles its cadence when the store halves the series, and ends once', async () => {
    const projectId = randomUUID();
    const now = new Date().toISOString();
    const task = await store.tasks.create({
      id: randomUUID(),
      projectId,
      clusterId: randomUUID(),
      kind: 'train',
      name: 't',
      state: 'running',
      params: { datasetId: randomUUID(), epochs: 1 },
      progress: { done: 0, total: 100_000 },
      result: null,
      resultBlobId: null,
      error: null,
      runBy: 'me',
      createdAt: now,
      startedAt: now,
      finishedAt: null,
      createdBy: 'u',
    } satisfies TaskRecord);
    const events = new TaskEvents();
    const heard: TaskEvent[] = [];
    const unsubscribe = events.subscribe({ projectId, taskId: task.id }, (e) => heard.push(e));
    const recorder = new MetricRecorder(store, events, task, { everySamples: 100, maxPoints: 4 }, pino({ level: 'silent' }));
    const size = { neurons: 1, synapses: 2, sections: 3, bytes: 4 };
    const recordedAt: number[] = [];
    // Slices of 50 samples; a point whenever one is due.
    for (let done = 50; done <= 3000; done += 50) {
      recorder.progress(done, 3000);
      if (recorder.due) {
        recorder.record(size);
        recordedAt.push(done);
        // The store's answer (did it halve?) decides the next cadence.
        await recorder.flush();
      }
    }
    recorder.end(size, { window: 0 }, 3000);
    recorder.end(size, { window: 0 }, 3000);
    await recorder.flush();
    unsubscribe();
    assert.equal(events.size, 0);
    // Every 100 until the 5th point halved the series (5 → 3), then every 200 until the next
    // halving (after the point at 900: 5 again), then every 400.
    assert.deepEqual(recordedAt.slice(0, 9), [100, 200, 300, 400, 500, 700, 900, 1300, 1700]);
    const seqs = heard.map((e) => (e.type === 'metric' ? e.point.seq : -1));
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i),
    );
    const last = heard.at(-1);
    assert.ok(last?.type === 'metric' && last.point.final && last.point.done === 3000);
    assert.equal(heard.filter((e) => e.type === 'metric' && e.point.final).length, 1, 'one final point');
    const stored = (await store.tasks.listMetrics(projectId, task.id)).items;
    assert.ok(stored.length <= 4);
    assert.equal(stored[0]?.seq, 0);
    assert.equal(stored.at(-1)?.final, true);
  });
});

describe('configuration', () => {
  it('reads HANAMI_TASK_METRIC_SAMPLES and HANAMI_TASK_METRIC_POINTS, with their bounds', () => {
    const defaults = loadConfig({});
    assert.deepEqual([defaults.taskMetricSamples, defaults.taskMetricPoints], [1000, 1000]);
    const set = loadConfig({ HANAMI_TASK_METRIC_SAMPLES: '250', HANAMI_TASK_METRIC_POINTS: '64' });
    assert.deepEqual([set.taskMetricSamples, set.taskMetricPoints], [250, 64]);
    assert.throws(() => loadConfig({ HANAMI_TASK_METRIC_POINTS: '5000' }), ConfigError);
    assert.throws(() => loadConfig({ HANAMI_TASK_METRIC_SAMPLES: '0' }), ConfigError);
  });
});
