/**
 * The seed's claims, measured: robustness to a single huge value (and reduction removing
 * what it grew), work per sample proportional to the active inputs, linear growth cost,
 * 3-D templates, determinism across thread counts, fair concurrent training.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ExecutionContext } from '../../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../../cpu-fallback/engine.js';
import { type BoundData, outputWidth } from '../../../kernels/contract.js';
import { allocateSection, appendSynapse } from '../../../kernels/growth.js';
import { COUNTER, NEURON_STRIDE, NEU_FIRST_SECTION, SECTION_STRIDE, SEC_NEXT, SEC_SYN_COUNT, SEC_SYN_OFFSET, SEC_SYN_PAGE, SectionKind } from '../../../kernels/layout.js';
import type { NetworkState } from '../../../kernels/state.js';
import { CpuBackend } from '../../../cpu-fallback/backend.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { score } from '../../../server/network/evaluate.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { lineState } from '../../fixtures/network.js';

const data = await loadMnist8k();
const backend = new CpuBackend(2);
after(() => backend.close());

const REDUCTION_TEMPLATE = DEFAULT_TEMPLATE.replace('enable_reduction: false', 'enable_reduction: true');

function accuracy(cluster: Cluster): number {
  const bound = cluster.bind(data.test, { readOnly: true });
  const out = new Float32Array(bound.rows * outputWidth(cluster.state));
  predictRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, bound.rows, out);
  return score(cluster.state, bound, out, outputWidth(cluster.state)).accuracy!;
}

function trainLocal(cluster: Cluster, dataset: Dataset, from = 0, to = dataset.rows): void {
  trainRows(new ExecutionContext(cluster.state), cluster.state, cluster.bind(dataset), from, to);
}

/** The training set as raw floats with one value a million times the largest pixel. */
function withOutlier(row: number, pixel: number): Dataset {
  const inputs = new Float32Array(new SharedArrayBuffer(data.train.inputs.length * 4));
  inputs.set(data.train.inputs);
  inputs[row * 784 + pixel] = 255 * 1e6;
  return { ...data.train, inputs };
}

function largestBorder(state: NetworkState, neuron: number): number {
  let largest = 0;
  for (let s = state.hexagons[0]!.neuronsI32[neuron * NEURON_STRIDE + NEU_FIRST_SECTION]!; s >= 0; s = state.sectionsI32[s * SECTION_STRIDE + SEC_NEXT]!) {
    const o = s * SECTION_STRIDE;
    const page = state.pages[state.sectionsI32[o + SEC_SYN_PAGE]!]!;
    const first = state.sectionsI32[o + SEC_SYN_OFFSET]!;
    for (let i = 0; i < state.sectionsI32[o + SEC_SYN_COUNT]!; i++) largest = Math.max(largest, page.border[first + i]!);
  }
  return largest;
}

const OUTLIER_ROW = 4000;
const OUTLIER_PIXEL = 14 * 28 + 14;

test('(a) one sample with a value a million times larger changes test accuracy by at most 1 point', () => {
  const clean = Cluster.create(DEFAULT_TEMPLATE, 5);
  trainLocal(clean, data.train);
  const dirty = Cluster.create(DEFAULT_TEMPLATE, 5);
  trainLocal(dirty, withOutlier(OUTLIER_ROW, OUTLIER_PIXEL));
  const a = accuracy(clean);
  const b = accuracy(dirty);
  assert.ok(Math.abs(a - b) <= 0.01, `clean ${a}, with outlier ${b}`);
});

test('(a) with reduction on, the synapses grown only by that sample are gone after further training', () => {
  const dataset = withOutlier(OUTLIER_ROW, OUTLIER_PIXEL);
  const cluster = Cluster.create(REDUCTION_TEMPLATE, 5);
  trainLocal(cluster, dataset, 0, OUTLIER_ROW + 1);
  assert.ok(largestBorder(cluster.state, OUTLIER_PIXEL) > 1e8, 'the outlier grew a synapse covering it');
  const synapsesAfterOutlier = cluster.state.counters[COUNTER.synapseCount]!;
  trainLocal(cluster, dataset, OUTLIER_ROW + 1, dataset.rows);
  assert.ok(largestBorder(cluster.state, OUTLIER_PIXEL) < 1000, `largest border left: ${largestBorder(cluster.state, OUTLIER_PIXEL)}`);
  assert.ok(cluster.state.counters[COUNTER.synapsesRemoved]! > 0);
  assert.ok(synapsesAfterOutlier > 0);
  // Reduction keeps the network useful.
  assert.ok(accuracy(cluster) > 0.88, `accuracy with reduction ${accuracy(cluster)}`);
});

test('(b) work per sample grows with the number of active inputs: a sparse input costs less', () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 5);
  trainLocal(cluster, data.train, 0, 3000);
  const image = Array.from(data.test.inputs.subarray(0, 784));
  const lit = image
    .map((v, i) => [v, i] as const)
    .filter(([v]) => v > 0)
    .map(([, i]) => i);
  const visitsWith = (keep: number): number => {
    const row = new Float32Array(new SharedArrayBuffer(784 * 4));
    for (const i of lit.slice(0, keep)) row[i] = image[i]!;
    const bound: BoundData = { ...cluster.bind(data.test, { readOnly: true }), rows: 1, inputs: row };
    const ctx = new ExecutionContext(cluster.state);
    predictRows(ctx, cluster.state, bound, 0, 1, new Float32Array(outputWidth(cluster.state)));
    return ctx.visits;
  };
  const counts = [5, 20, 60, lit.length].map(visitsWith);
  for (let i = 1; i < counts.length; i++) assert.ok(counts[i]! > counts[i - 1]!, `visits ${counts.join(', ')}`);
  assert.ok(counts[0]! * 5 < counts[counts.length - 1]!, `a few active inputs cost far less: ${counts.join(', ')}`);
});

test('(c) growing from N to 2N synapses costs about twice the work, not four times', () => {
  const work = (synapses: number): number => {
    const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
    const sections = Array.from({ length: synapses / 20 }, (_, i) => allocateSection(state, 0, 0, 1, SectionKind.plain, 0, Infinity, i));
    for (let round = 0; round < 20; round++) for (const s of sections) appendSynapse(state, s, 1, round);
    assert.equal(state.counters[COUNTER.synapseCount], synapses);
    // Work = synapses written + synapses copied when sections moved or storage was compacted.
    return synapses + state.counters[COUNTER.slotsCopied]!;
  };
  const n = 20000;
  const ratio = work(2 * n) / work(n);
  assert.ok(ratio > 1.7 && ratio < 2.3, `work ratio ${ratio}`);
  assert.ok(work(n) < 4 * n, 'amortised constant work per synapse');
});

test('a 3-D template trains', () => {
  const template = `version: 1
settings:
    max_connection_distance: 1
hexagons:
    1,1,1
    1,1,2
    2,1,2
inputs:
    pixels: 1,1,1
outputs:
    digit: 2,1,2
`;
  const cluster = Cluster.create(template, 3);
  assert.equal(cluster.state.hexagons[0]!.targets[0], 1, 'the input hexagon sends upwards (z + 1)');
  trainLocal(cluster, data.train);
  assert.ok(accuracy(cluster) > 0.85, `3-D accuracy ${accuracy(cluster)}`);
});

test('same seed and data give byte-identical networks whatever the thread count (one thread, a two-thread team, in-process)', async () => {
  const one = new CpuBackend(1);
  try {
    const a = Cluster.create(DEFAULT_TEMPLATE, 11);
    const b = Cluster.create(DEFAULT_TEMPLATE, 11);
    await one.train(a, a.bind(data.train), { to: 3000 });
    const teamsBefore = backend.pool.teamSlices;
    await backend.train(b, b.bind(data.train), { to: 3000, team: 'always' });
    assert.ok(backend.pool.teamSlices > teamsBefore, 'the two-thread run used teams of two threads');
    const local = Cluster.create(DEFAULT_TEMPLATE, 11);
    trainLocal(local, data.train, 0, 3000);
    assert.ok(a.checkpoint().equals(b.checkpoint()));
    assert.ok(a.checkpoint().equals(local.checkpoint()));
  } finally {
    await one.close();
  }
});

test('two clusters train concurrently on one pool, fairly, and reach what they reach alone', async () => {
  const alone = [Cluster.create(DEFAULT_TEMPLATE, 21), Cluster.create(DEFAULT_TEMPLATE, 22)];
  for (const c of alone) await backend.train(c, c.bind(data.train), { sliceRows: 500 });
  const together = [Cluster.create(DEFAULT_TEMPLATE, 21), Cluster.create(DEFAULT_TEMPLATE, 22)];
  const order: number[] = [];
  await Promise.all(together.map((c, i) => backend.train(c, c.bind(data.train), { sliceRows: 500, onProgress: () => order.push(i) })));
  // Both made progress before either finished (slices interleave).
  const firstDone = Math.min(order.lastIndexOf(0), order.lastIndexOf(1));
  assert.ok(order.slice(0, firstDone).includes(0) && order.slice(0, firstDone).includes(1), `progress order ${order.join('')}`);
  for (let i = 0; i < 2; i++) {
    assert.ok(together[i]!.checkpoint().equals(alone[i]!.checkpoint()), `cluster ${i} differs from its solo run`);
    assert.equal(accuracy(together[i]!), accuracy(alone[i]!));
  }
  assert.ok(accuracy(together[0]!) > 0.9);
});

test('inference split over the workers gives the same answers as one thread', async () => {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 4);
  await backend.train(cluster, cluster.bind(data.train), { to: 4000 });
  const bound = cluster.bind(data.test, { readOnly: true });
  const parallel = await backend.predict(cluster, bound);
  const serial = new Float32Array(bound.rows * outputWidth(cluster.state));
  predictRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, bound.rows, serial);
  assert.deepEqual(parallel.outputs, serial);
});
