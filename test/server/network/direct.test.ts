/**
 * Direct I/O at the engine level: single samples in, outputs back, growth included.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { CpuBackend } from '../../../cpu-fallback/backend.js';
import { BindError } from '../../../server/network/binding.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { DirectRunner } from '../../../server/network/direct.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';

const backend = new CpuBackend(1);
after(() => backend.close());

test('100 train calls on a fresh cluster teach one input class 5; request then answers 5', async () => {
  const data = await loadMnist8k();
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster, backend);
  const image = Float32Array.from(data.train.inputs.subarray(0, 784));
  for (let i = 0; i < 100; i++) await runner.train(image, { label: 5, classes: 10 });
  const answer = await runner.request(image);
  assert.equal(answer.interfaces[0]!.argmax, 5);
  assert.equal(answer.outputs.length, 10);
  assert.ok(cluster.stats().synapses > 0, 'the network grew');
});

test('train returns the outputs produced before learning', async () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster, backend);
  const x = Float32Array.from({ length: 16 }, (_, i) => i * 10);
  const first = await runner.train(x, { label: 1, classes: 3 });
  // A fresh network has no links yet: every class equally likely.
  for (const v of first.outputs) assert.ok(Math.abs(v - 1 / 3) < 1e-6);
  const before = (await runner.request(x)).outputs;
  const during = (await runner.train(x, { label: 1, classes: 3 })).outputs;
  assert.deepEqual(Array.from(during), Array.from(before));
});

test('values targets in their own units', async () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster, backend);
  for (let i = 0; i < 400; i++) {
    const v = (i % 4) * 25;
    await runner.train(Float32Array.of(v + 1), { values: Float32Array.of(v * 1000) });
  }
  const low = (await runner.request(Float32Array.of(1))).outputs[0]!;
  const high = (await runner.request(Float32Array.of(76))).outputs[0]!;
  assert.ok(high > low + 20000, `learned a monotone mapping in raw units: ${low} → ${high}`);
});

test('bad inputs are refused with a code, and the network is unchanged', async () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster, backend);
  await runner.train(Float32Array.of(1, 2, 3), { label: 0, classes: 2 });
  const before = cluster.checkpoint();
  const code = async (f: () => Promise<unknown>): Promise<string> => {
    try {
      await f();
    } catch (e) {
      assert.ok(e instanceof BindError);
      return e.code;
    }
    return 'no error';
  };
  assert.equal(await code(() => runner.request(Float32Array.of(1, 2))), 'wrong-length');
  assert.equal(await code(() => runner.request(Float32Array.of(1, Number.NaN, 3))), 'not-finite');
  assert.equal(await code(() => runner.request(Float32Array.of(1, -2, 3))), 'negative');
  assert.equal(await code(() => runner.train(Float32Array.of(1, 2, 3), { label: 7 })), 'bad-label');
  assert.equal(await code(() => runner.train(Float32Array.of(1, 2, 3), { values: Float32Array.of(1) })), 'wrong-target');
  assert.equal(await code(() => runner.request({ nope: Float32Array.of(1) })), 'unknown-input');
  assert.ok(cluster.checkpoint().equals(before));
});

test('direct I/O on the CPU runs in the calling thread: it needs no worker', async () => {
  const noWorkers = new CpuBackend(1);
  await noWorkers.pool.close();
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster, noWorkers);
  const x = Float32Array.from({ length: 16 }, (_, i) => i * 10);
  for (let i = 0; i < 20; i++) await runner.train(x, { label: i % 3, classes: 3 });
  const answer = await runner.request(x);
  assert.equal(answer.outputs.length, 3);
  assert.ok(cluster.stats().synapses > 0);
  await assert.rejects(noWorkers.predict(cluster, cluster.bind({ name: 'x', rows: 1, inputWidth: 16, inputColumns: [], inputs: x }, { readOnly: true })), /closed/, 'the pool itself is closed');
});

test('training outputs (before each row learned) are the same from a worker and in the calling thread', async () => {
  const data = await loadMnist8k();
  const viaPool = Cluster.create(DEFAULT_TEMPLATE, 5);
  const inline = Cluster.create(DEFAULT_TEMPLATE, 5);
  const rows = 300;
  const pooled = new Float32Array(rows * 10);
  const here = new Float32Array(rows * 10);
  await backend.train(viaPool, viaPool.bind(data.train), { to: rows, sliceRows: 64, outputs: pooled });
  await backend.train(inline, inline.bind(data.train), { to: rows, inline: true, outputs: here });
  assert.deepEqual(Array.from(pooled), Array.from(here));
  assert.ok(viaPool.checkpoint().equals(inline.checkpoint()), 'the same network either way');
  // Each row's values are what a prediction just before it learned would have said.
  const fresh = Cluster.create(DEFAULT_TEMPLATE, 5);
  const runner = new DirectRunner(fresh, backend);
  for (let row = 0; row < 3; row++) {
    const x = Float32Array.from(data.train.inputs.subarray(row * 784, row * 784 + 784));
    const label = data.train.targets!.kind === 'class' ? data.train.targets!.labels[row]! : 0;
    const answered = await runner.train(x, { label, classes: 10 });
    assert.deepEqual(Array.from(answered.outputs), Array.from(here.subarray(row * 10, row * 10 + 10)), `row ${row}`);
  }
});
