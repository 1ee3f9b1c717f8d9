/**
 * Forward math on hand-built networks, checked against values computed by hand.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { predictRows } from '../../cpu-fallback/engine.js';
import { handOutputRow, handSection, lineState, rowsOf } from '../fixtures/network.js';

const close = (actual: number, expected: number, tol = 1e-5): void => {
  assert.ok(Math.abs(actual - expected) <= tol * Math.max(1, Math.abs(expected)), `${actual} != ${expected}`);
};

/** One input neuron with borders 10, 20, 30 (weights 0.5, -0.25, 1.0; targets 0, 1, 0);
 *  hidden neurons 0 and 1 feed one value output with weights 2 and 3, bias 0.1. */
function network() {
  const state = lineState({ inputs: 1, outputs: 1, mode: 'value' });
  handSection(state, 0, [
    { border: 10, weight: 0.5, target: 0 },
    { border: 20, weight: -0.25, target: 1 },
    { border: 30, weight: 1.0, target: 0 },
  ]);
  handOutputRow(state, 0, [2]);
  handOutputRow(state, 1, [3]);
  state.outputs[0]!.bias[0] = 0.1;
  return state;
}

function predict(state: ReturnType<typeof network>, value: number): number {
  const out = new Float32Array(1);
  predictRows(new ExecutionContext(state), state, rowsOf(state, [[value]]), 0, 1, out);
  return out[0]!;
}

test('a value walks the section like a thermometer: full synapses add their weight, the last one its share', () => {
  const state = network();
  // 35: synapse 0 full (+0.5 → n0), synapse 1 full (-0.25 → n1), synapse 2 covers 5/30 (+1/6 → n0).
  // n0 = 0.5 + 1/6, n1 = -0.25 → silent. y0 = log2(1 + 2/3). z = 0.1 + 2·y0.
  close(predict(state, 35), 0.1 + 2 * Math.log2(1 + 0.5 + 1 / 6));
});

test('a value below the first border is covered partially by the first synapse only', () => {
  const state = network();
  // 5: 5/10 of synapse 0 → n0 = 0.25; n1 untouched (0, silent).
  close(predict(state, 5), 0.1 + 2 * Math.log2(1.25));
});

test('potential beyond the last synapse is not counted (no growth at inference)', () => {
  const state = network();
  // 1000 covers all three synapses fully: n0 = 1.5, n1 = -0.25.
  close(predict(state, 1000), 0.1 + 2 * Math.log2(2.5));
  close(predict(state, 60), 0.1 + 2 * Math.log2(2.5));
  assert.equal(state.counters[3], 3, 'inference must not create synapses');
});

test('zero and negative inputs are silent', () => {
  const state = network();
  close(predict(state, 0), 0.1);
  close(predict(state, -7), 0.1);
});

test('a hidden neuron with negative input is silent and does not feed its output link', () => {
  const state = lineState({ inputs: 1, outputs: 1, mode: 'value' });
  handSection(state, 0, [{ border: 10, weight: -1, target: 0 }]);
  handOutputRow(state, 0, [5]);
  close(predict(state, 10), 0);
});

test('class outputs are a softmax over the output values', () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  handSection(state, 0, [{ border: 4, weight: 3, target: 0 }]);
  handOutputRow(state, 0, [1, -1]);
  const out = new Float32Array(2);
  predictRows(new ExecutionContext(state), state, rowsOf(state, [[4]]), 0, 1, out);
  // u0 = 3 → y0 = 2; logits (2, -2) → softmax.
  const e = Math.exp(4);
  close(out[0]!, e / (e + 1));
  close(out[1]!, 1 / (e + 1));
});

test("value outputs are reported in the targets' units (scale)", () => {
  const state = network();
  state.outputs[0]!.scale[0] = 1000;
  close(predict(state, 35), 1000 * (0.1 + 2 * Math.log2(1 + 0.5 + 1 / 6)), 1e-4);
});

test('a section with a lower bound and a range only sees its slice of the potential', () => {
  const state = lineState({ inputs: 1, outputs: 1, mode: 'value' });
  const s = handSection(state, 0, [
    { border: 10, weight: 1, target: 0 },
    { border: 10, weight: 1, target: 0 },
  ]);
  state.sectionsF32[s * 16 + 8] = 5; // lower
  state.sectionsF32[s * 16 + 9] = 12; // range
  handOutputRow(state, 0, [1]);
  // 4 is below the slice: silent. 20 → p = min(15, 12) = 12 → 1 + 2/10 = 1.2.
  close(predict(state, 4), 0);
  close(predict(state, 20), Math.log2(2.2));
});
