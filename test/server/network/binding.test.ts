/**
 * The one binding module (server/network/binding.ts): datasets and single samples bound to a
 * network by the same rules, every refusal a BindError with a stable code, and a refused
 * binding leaves the network as it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../../cpu-fallback/context.js';
import { trainRows } from '../../../cpu-fallback/engine.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { BindError, type BindErrorCode, bindDataset, bindSample } from '../../../server/network/binding.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';

/** Two inputs in one hexagon (the second one's neurons follow the first one's), two outputs. */
const TWO_BY_TWO = `version: 1
hexagons:
    1,1,1
    2,1,1
    3,1,1
inputs:
    a: 1,1,1
    b: 1,1,1
outputs:
    x: 3,1,1
    y: 3,1,1
`;

function dataset(width: number, rows: number, targets?: Dataset['targets']): Dataset {
  const inputs = new Float32Array(rows * width);
  for (let i = 0; i < inputs.length; i++) inputs[i] = 1 + (i % 7);
  return { name: 'd', rows, inputWidth: width, inputColumns: [], inputs, ...(targets ? { targets } : {}) };
}

const classes = (rows: number, n = 2): Dataset['targets'] => ({ kind: 'class', classes: Array.from({ length: n }, (_, i) => String(i)), labels: Uint16Array.from({ length: rows }, (_, i) => i % n) });
const values = (rows: number): Dataset['targets'] => ({ kind: 'values', columns: ['v'], values: Float32Array.from({ length: rows }, (_, i) => i) });

function codeOf(work: () => unknown): BindErrorCode | 'no error' {
  try {
    work();
  } catch (e) {
    assert.ok(e instanceof BindError, `a BindError, not ${String(e)}`);
    return e.code;
  }
  return 'no error';
}

test('dataset bindings are refused with stable codes (and the messages they always had)', () => {
  const fresh = Cluster.create(TWO_BY_TWO, 1);
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4, classes(4)))),
    'named-inputs-required',
  );
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4), { inputs: [{ name: 'a', column: 2, size: 2 }] })),
    'bad-columns',
  );
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4), { inputs: [{ name: 'nope' }] })),
    'unknown-input',
  );
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4), { inputs: [{ name: 'a' }], readOnly: true })),
    'not-trained',
  );
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4, classes(4)), { inputs: [{ name: 'a' }] })),
    'named-targets-required',
  );
  assert.equal(
    codeOf(() => fresh.bind(dataset(3, 4, classes(4)), { inputs: [{ name: 'a' }], output: 'z' })),
    'unknown-output',
  );

  const single = Cluster.create(DEFAULT_TEMPLATE, 1);
  single.bind(dataset(3, 4, classes(4)));
  assert.equal(
    codeOf(() => single.bind(dataset(2, 4), { readOnly: true })),
    'wrong-length',
  );
  assert.equal(
    codeOf(() => single.bind(dataset(3, 4, classes(4, 3)), { readOnly: true })),
    'wrong-length',
  );
  assert.equal(
    codeOf(() => single.bind(dataset(3, 4, values(4)), { readOnly: true })),
    'wrong-target',
  );
  assert.equal(
    codeOf(() => single.bind(dataset(3, 4, values(4)))),
    'wrong-target',
  );
  assert.throws(() => single.bind(dataset(2, 4), { readOnly: true }), { message: 'input "input" takes 3 values, the data has 2 columns' });
  assert.throws(() => single.bind(dataset(3, 4, values(4))), { message: 'output "output" already learns classes' });
  assert.equal(
    codeOf(() => single.bind(dataset(5, 4, classes(4)))),
    'no error',
    'a training binding grows interfaces',
  );
});

test('growing an input that would move a learned one is a BindError (not an internal error), and the network is unchanged', () => {
  const cluster = Cluster.create(TWO_BY_TWO, 1);
  const data = dataset(3, 40, classes(40));
  const mapping = {
    inputs: [
      { name: 'a', column: 0, size: 2 },
      { name: 'b', column: 2, size: 1 },
    ],
    output: 'x',
  };
  const bound = cluster.bind(data, mapping);
  // Learn something, so that b's neurons own sections and cannot move.
  trainRows(new ExecutionContext(cluster.state), cluster.state, bound, 0, 40);
  const before = cluster.checkpoint();
  const wider = {
    ...mapping,
    inputs: [
      { name: 'a', column: 0, size: 3 },
      { name: 'b', column: 2, size: 1 },
    ],
  };
  let refused: unknown;
  try {
    cluster.bind(data, wider);
  } catch (e) {
    refused = e;
  }
  assert.ok(refused instanceof BindError, `refused with a BindError: ${String(refused)}`);
  assert.equal(refused.code, 'cannot-resize');
  assert.match(refused.message, /input "b" cannot move once the network has grown/);
  assert.ok(cluster.checkpoint().equals(before), 'the refused binding changed nothing');
});

test('one sample binds as a one-row dataset with the same values would', () => {
  const bySample = Cluster.create(DEFAULT_TEMPLATE, 1);
  const byDataset = Cluster.create(DEFAULT_TEMPLATE, 1);
  const x = Float32Array.of(3, 0, 5, 9);
  const sample = bindSample(bySample.state, x, { label: 2, classes: 4 }, true);
  const row: Dataset = { name: 'one', rows: 1, inputWidth: 4, inputColumns: [], inputs: x, targets: { kind: 'class', classes: ['0', '1', '2', '3'], labels: Uint16Array.of(2) } };
  const whole = bindDataset(byDataset.state, row);
  assert.deepEqual(sample.inputMap, whole.inputMap);
  assert.deepEqual(sample.outputMap, whole.outputMap);
  assert.deepEqual(Array.from(sample.labels!), Array.from(whole.labels!));
  assert.ok(bySample.checkpoint().equals(byDataset.checkpoint()), 'both sized the network alike');
});

test('single-sample refusals keep the Socket.IO codes', () => {
  const cluster = Cluster.create(TWO_BY_TWO, 1);
  const two = { a: Float32Array.of(1, 2), b: Float32Array.of(3) };
  assert.equal(
    codeOf(() => bindSample(cluster.state, Float32Array.of(1), undefined, true)),
    'named-inputs-required',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, undefined, false)),
    'not-trained',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, { label: 0, classes: 2 }, true)),
    'named-targets-required',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, { z: { label: 0, classes: 2 } }, true)),
    'unknown-output',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, { x: { label: 0 } }, true)),
    'classes-required',
  );
  bindSample(cluster.state, two, { x: { label: 1, classes: 2 } }, true);
  assert.equal(
    codeOf(() => bindSample(cluster.state, { a: Float32Array.of(1, 2) }, undefined, false)),
    'missing-input',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, { ...two, c: Float32Array.of(1) }, undefined, false)),
    'unknown-input',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, { a: Float32Array.of(1, Number.NaN), b: Float32Array.of(3) }, undefined, false)),
    'not-finite',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, { a: Float32Array.of(1, -1), b: Float32Array.of(3) }, undefined, false)),
    'negative',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, { x: { label: 5 } }, true)),
    'bad-label',
  );
  assert.equal(
    codeOf(() => bindSample(cluster.state, two, { x: { values: Float32Array.of(1) } }, true)),
    'wrong-target',
  );
});

/** Every interface's size, mode and offset and every hexagon's neuron blocks: what a refused
 *  binding must leave as it found it. */
function shape(c: Cluster): string {
  const s = c.state;
  return JSON.stringify({
    inputs: s.inputs.map((i) => [i.name, i.offset, i.size]),
    outputs: s.outputs.map((g) => [g.width, g.interfaces.map((o) => [o.name, o.mode, o.offset, o.size])]),
    blocks: s.hexagons.map((h) => h.blocks),
  });
}

test('a refused first train leaves a fresh network unbuilt, and a request on it answers not-trained (issue 13, finding 11)', () => {
  const fresh = Cluster.create(DEFAULT_TEMPLATE, 1);
  const before = shape(fresh);
  const x = Float32Array.from({ length: 16 }, (_, i) => i);
  // The input is fine, the target is not: before the fix the input grew before the target
  // was refused.
  assert.equal(
    codeOf(() => bindSample(fresh.state, x, { label: 0 }, true)),
    'classes-required',
  );
  assert.equal(shape(fresh), before, 'classes-required left the network as it was');
  assert.equal(
    codeOf(() => bindSample(fresh.state, x, { label: 7, classes: 3 }, true)),
    'bad-label',
  );
  assert.equal(shape(fresh), before, 'bad-label left the network as it was');
  assert.equal(
    codeOf(() => bindSample(fresh.state, x, { values: Float32Array.of(Number.NaN) }, true)),
    'not-finite',
  );
  assert.equal(shape(fresh), before, 'not-finite left the network as it was');
  assert.equal(
    codeOf(() => bindSample(fresh.state, x, undefined, false)),
    'not-trained',
  );

  // Datasets: columns that fit and an output name that does not.
  const two = Cluster.create(TWO_BY_TWO, 1);
  const twoBefore = shape(two);
  assert.equal(
    codeOf(() => two.bind(dataset(3, 4, classes(4)), { inputs: [{ name: 'a' }], output: 'z' })),
    'unknown-output',
  );
  assert.equal(shape(two), twoBefore, 'a refused dataset binding left the network as it was');

  // A network saved half-built by the old code (input sized, no output): not-trained too.
  const halfBuilt = Cluster.create(DEFAULT_TEMPLATE, 1);
  halfBuilt.state.inputs[0]!.size = 16;
  assert.equal(
    codeOf(() => bindSample(halfBuilt.state, x, undefined, false)),
    'not-trained',
  );
});
