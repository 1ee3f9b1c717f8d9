/**
 * Direct I/O at the engine level: single samples in, outputs back, growth included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { DirectInputError, DirectRunner } from '../../../server/network/direct.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';

test('100 train calls on a fresh cluster teach one input class 5; request then answers 5', async () => {
  const data = await loadMnist8k();
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster);
  const image = Float32Array.from(data.train.inputs.subarray(0, 784));
  for (let i = 0; i < 100; i++) runner.train(image, { label: 5, classes: 10 });
  const answer = runner.request(image);
  assert.equal(answer.interfaces[0]!.argmax, 5);
  assert.equal(answer.outputs.length, 10);
  assert.ok(cluster.stats().synapses > 0, 'the network grew');
});

test('train returns the outputs produced before learning', () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster);
  const x = Float32Array.from({ length: 16 }, (_, i) => i * 10);
  const first = runner.train(x, { label: 1, classes: 3 });
  // A fresh network has no links yet: every class equally likely.
  for (const v of first.outputs) assert.ok(Math.abs(v - 1 / 3) < 1e-6);
  const before = runner.request(x).outputs;
  const during = runner.train(x, { label: 1, classes: 3 }).outputs;
  assert.deepEqual(Array.from(during), Array.from(before));
});

test('values targets in their own units', () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster);
  for (let i = 0; i < 400; i++) {
    const v = (i % 4) * 25;
    runner.train(Float32Array.of(v + 1), { values: Float32Array.of(v * 1000) });
  }
  const low = runner.request(Float32Array.of(1)).outputs[0]!;
  const high = runner.request(Float32Array.of(76)).outputs[0]!;
  assert.ok(high > low + 20000, `learned a monotone mapping in raw units: ${low} → ${high}`);
});

test('bad inputs are refused with a code, and the network is unchanged', () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 3);
  const runner = new DirectRunner(cluster);
  runner.train(Float32Array.of(1, 2, 3), { label: 0, classes: 2 });
  const before = cluster.checkpoint();
  const code = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof DirectInputError);
      return e.code;
    }
    return 'no error';
  };
  assert.equal(code(() => runner.request(Float32Array.of(1, 2))), 'wrong-length');
  assert.equal(code(() => runner.request(Float32Array.of(1, Number.NaN, 3))), 'not-finite');
  assert.equal(code(() => runner.request(Float32Array.of(1, -2, 3))), 'negative');
  assert.equal(code(() => runner.train(Float32Array.of(1, 2, 3), { label: 7 })), 'bad-label');
  assert.equal(code(() => runner.train(Float32Array.of(1, 2, 3), { values: Float32Array.of(1) })), 'wrong-target');
  assert.equal(code(() => runner.request({ nope: Float32Array.of(1) })), 'unknown-input');
  assert.ok(cluster.checkpoint().equals(before));
});
