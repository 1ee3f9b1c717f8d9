/**
 * Spiking mode: potentials carry over between cycles (divided by the cooldown each cycle)
 * and input is only accepted every `refractory_time` cycles.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../cpu-fallback/engine.js';
import { outputWidth } from '../../kernels/contract.js';
import { NEURON_STRIDE, NEU_CARRY } from '../../kernels/layout.js';
import { resetSpikingState } from '../../kernels/state.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';
import { handOutputRow, handSection, lineState, rowsOf } from '../fixtures/network.js';

test('cooldown 1.5 and refractory time 3: input accepted every third cycle, decay in between', () => {
  const state = lineState({ inputs: 1, outputs: 1, mode: 'value', cooldown: 1.5, refractory: 3 });
  assert.equal(state.spiking, true);
  // One synapse of weight 1 covering 0..1000: an input of 100 adds exactly 100 / 1000 · 1000.
  handSection(state, 0, [{ border: 1000, weight: 1000, target: 0 }]);
  handOutputRow(state, 0, [1]);
  const ctx = new ExecutionContext(state);
  const carried: number[] = [];
  for (let cycle = 0; cycle < 7; cycle++) {
    predictRows(ctx, state, rowsOf(state, [[100]]), 0, 1, new Float32Array(1));
    carried.push(state.hexagons[1]!.neuronsF32[0 * NEURON_STRIDE + NEU_CARRY]!);
  }
  const expected = [100, 100 / 1.5, 100 / 2.25, 100 / 3.375 + 100];
  expected.push(expected[3]! / 1.5, expected[3]! / 2.25, expected[3]! / 3.375 + 100);
  carried.forEach((c, i) => assert.ok(Math.abs(c - expected[i]!) < 1e-3, `cycle ${i}: ${c} vs ${expected[i]}`));
});

test('without spiking settings nothing carries over between samples', () => {
  const state = lineState({ inputs: 1, outputs: 1, mode: 'value' });
  assert.equal(state.spiking, false);
  handSection(state, 0, [{ border: 10, weight: 1, target: 0 }]);
  handOutputRow(state, 0, [1]);
  const ctx = new ExecutionContext(state);
  const out = new Float32Array(2);
  predictRows(ctx, state, rowsOf(state, [[10], [0]]), 0, 2, out);
  assert.ok(out[0]! > 0);
  assert.equal(out[1], 0);
});

test('an input is affected by an older input, and by less the longer ago it was', async () => {
  const data = await loadMnist8k();
  const template = DEFAULT_TEMPLATE.replace('neuron_cooldown: 1000000000.0', 'neuron_cooldown: 2.0');
  const cluster = Cluster.create(template, 9);
  assert.ok(cluster.spiking);
  const bound = cluster.bind(data.train);
  trainRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, 2000);
  const width = outputWidth(cluster.state);
  const image = (row: number): number[] => Array.from(data.test.inputs.subarray(row * 784, row * 784 + 784));
  const blank = new Array<number>(784).fill(0);
  /** Output for image B after image A and `gap` blank cycles (from a cleared state). */
  const outputFor = (history: number[][]): Float32Array => {
    resetSpikingState(cluster.state);
    const rows = [...history, image(1)];
    const state = cluster.state;
    const data2 = rowsOf(state, rows);
    const out = new Float32Array(rows.length * width);
    predictRows(new ExecutionContext(state), state, data2, 0, rows.length, out);
    return out.subarray((rows.length - 1) * width);
  };
  const alone = outputFor([]);
  const distance = (o: Float32Array): number => o.reduce((s, v, k) => s + Math.abs(v - alone[k]!), 0);
  const gaps = [0, 1, 3, 6].map((gap) => distance(outputFor([image(0), ...new Array<number[]>(gap).fill(blank)])));
  assert.ok(gaps[0]! > 1e-3, `an older input changes the answer (${gaps[0]})`);
  for (let i = 1; i < gaps.length; i++) assert.ok(gaps[i]! < gaps[i - 1]!, `influence shrinks with time: ${gaps.join(', ')}`);
  assert.ok(gaps[3]! < gaps[0]! / 8, `after six cycles little is left: ${gaps.join(', ')}`);
});
