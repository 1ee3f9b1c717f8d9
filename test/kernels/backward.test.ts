/**
 * The backward step against finite differences of the loss, where the math is
 * differentiable: output links, output bias, and the synapse weights of a section
 * (including the partially covered one, whose gradient carries its share).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../cpu-fallback/engine.js';
import { BIAS_LEARNING_RATE, LINK_LEARNING_RATE, SECTION_LEARNING_RATE, SECTION_STRIDE, SEC_SYN_OFFSET, SEC_SYN_PAGE } from '../../kernels/layout.js';
import type { NetworkState } from '../../kernels/state.js';
import { handOutputRow, handSection, lineState, rowsOf } from '../fixtures/network.js';

const INPUT = 35;
const LABEL = 1;

function network(): { state: NetworkState; section: number } {
  const state = lineState({ inputs: 1, outputs: 3, mode: 'class' });
  const section = handSection(
    state,
    0,
    [
      { border: 10, weight: 0.5, target: 0 },
      { border: 20, weight: 0.25, target: 1 },
      { border: 30, weight: 0.8, target: 0 },
    ],
    { tolerance: 0 },
  );
  handOutputRow(state, 0, [0.7, -0.2, 0.1]);
  handOutputRow(state, 1, [-0.3, 0.4, 0.9]);
  state.outputs[0]!.bias.set([0.05, -0.1, 0.2]);
  return { state, section };
}

function loss(state: NetworkState): number {
  const out = new Float32Array(3);
  predictRows(new ExecutionContext(state), state, rowsOf(state, [[INPUT]]), 0, 1, out);
  return -Math.log(out[LABEL]!);
}

/** Finite-difference derivative of the loss by a parameter stored in a Float32Array. */
function numeric(array: (s: NetworkState) => Float32Array, index: number): number {
  const h = 1e-3;
  const plus = network().state;
  array(plus)[index] = array(plus)[index]! + h;
  const minus = network().state;
  array(minus)[index] = array(minus)[index]! - h;
  return (loss(plus) - loss(minus)) / (2 * h);
}

/** The gradient the training step applied: -(after - before) / learning rate. */
function applied(array: (s: NetworkState) => Float32Array, index: number, rate: number): number {
  const { state } = network();
  const before = array(state)[index]!;
  trainRows(new ExecutionContext(state), state, rowsOf(state, [[INPUT]], { labels: [LABEL] }), 0, 1);
  return -(array(state)[index]! - before) / rate;
}

function assertClose(analytic: number, fd: number, what: string): void {
  assert.ok(Math.abs(analytic - fd) <= 2e-3 * Math.max(1, Math.abs(fd)), `${what}: backward ${analytic}, finite difference ${fd}`);
}

test('output link weights move by exactly the loss gradient', () => {
  const weights = (s: NetworkState): Float32Array => s.outputs[0]!.weights;
  const width = network().state.outputs[0]!.widthCapacity;
  for (let row = 0; row < 2; row++) {
    for (let k = 0; k < 3; k++) {
      const i = row * width + k;
      assertClose(applied(weights, i, LINK_LEARNING_RATE), numeric(weights, i), `link ${row},${k}`);
    }
  }
});

test('output biases move by exactly the loss gradient', () => {
  const bias = (s: NetworkState): Float32Array => s.outputs[0]!.bias;
  for (let k = 0; k < 3; k++) assertClose(applied(bias, k, BIAS_LEARNING_RATE), numeric(bias, k), `bias ${k}`);
});

test('synapse weights move by the loss gradient, the partially covered one in proportion to its share', () => {
  const { state, section } = network();
  const first = state.sectionsI32[section * SECTION_STRIDE + SEC_SYN_OFFSET]!;
  const page = state.sectionsI32[section * SECTION_STRIDE + SEC_SYN_PAGE]!;
  const weights = (s: NetworkState): Float32Array => s.pages[page]!.weight;
  for (let k = 0; k < 3; k++) {
    assertClose(applied(weights, first + k, SECTION_LEARNING_RATE), numeric(weights, first + k), `synapse ${k}`);
  }
  // The partially covered synapse (5 of 30) gets a sixth of a fully covered one's step toward the same target.
  const g0 = applied(weights, first, SECTION_LEARNING_RATE);
  const g2 = applied(weights, first + 2, SECTION_LEARNING_RATE);
  assert.ok(Math.abs(g2 - g0 / 6) < 1e-4 * Math.max(1, Math.abs(g0)), `${g2} vs ${g0 / 6}`);
});
