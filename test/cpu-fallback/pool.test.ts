/**
 * The shared pool spreads work over its workers (counted per worker, no timing): a request
 * task's inference and a batch of Socket.IO requests (DirectRunner.requestMany, as
 * server/io/channel.ts runs batches of `parallelMin` calls or more) both reach every worker.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CpuBackend } from '../../cpu-fallback/backend.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { DirectRunner } from '../../server/network/direct.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';

const data = await loadMnist8k();
const backend = new CpuBackend(2);
after(() => backend.close());

const cluster = Cluster.create(DEFAULT_TEMPLATE, 7);
await backend.train(cluster, cluster.bind(data.train), { to: 1000 });

function grew(before: number[], after: number[]): number[] {
  return after.map((n, i) => n - before[i]!);
}

test('inference (a request task) runs on every worker of the pool', async () => {
  const before = backend.pool.workerSlices();
  await backend.predict(cluster, cluster.bind(data.test, { readOnly: true }), {});
  const ran = grew(before, backend.pool.workerSlices());
  assert.equal(ran.length, 2);
  assert.ok(
    ran.every((n) => n > 0),
    `slices per worker: ${ran.join(', ')}`,
  );
});

test('a batch of direct requests (Socket.IO) is cut into one slice per worker', async () => {
  const runner = new DirectRunner(cluster, backend);
  const images = Array.from({ length: 8 }, (_, i) => Float32Array.from(data.test.inputs.subarray(i * 784, (i + 1) * 784)));
  const before = backend.pool.workerSlices();
  const answers = await runner.requestMany(images, { inline: false, slices: backend.threads });
  assert.deepEqual(grew(before, backend.pool.workerSlices()), [1, 1]);
  // The same answers as one request each, in the calling thread.
  for (let i = 0; i < images.length; i++) {
    const [alone] = await runner.requestMany([images[i]!], { inline: true });
    assert.deepEqual(answers[i], alone);
  }
});
