/**
 * Each growth rule on its own: first section, appended synapse, border adaptation, split,
 * block growth, output links, and that inference never grows.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../cpu-fallback/engine.js';
import { allocateSection, appendSynapse, compactSynapses, nextCapacity } from '../../kernels/growth.js';
import {
  BLOCK_GROWTH_FREE_SLOTS,
  BORDER_SHRINK,
  COUNTER,
  INITIAL_TOLERANCE,
  MAX_SYNAPSES_PER_SECTION,
  NEURON_STRIDE,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  SECTION_SLOTS_PER_BLOCK,
  SECTION_STRIDE,
  SEC_LOWER,
  SEC_NEXT,
  SEC_RANGE,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TOLERANCE,
  SPLIT_KEEP_SYNAPSES,
  SectionKind,
  TOLERANCE_DECAY,
} from '../../kernels/layout.js';
import type { NetworkState } from '../../kernels/state.js';
import { handSection, lineState, rowsOf } from '../fixtures/network.js';

function borders(state: NetworkState, s: number): number[] {
  const o = s * SECTION_STRIDE;
  const page = state.pages[state.sectionsI32[o + SEC_SYN_PAGE]!]!;
  const first = state.sectionsI32[o + SEC_SYN_OFFSET]!;
  return Array.from(page.border.subarray(first, first + state.sectionsI32[o + SEC_SYN_COUNT]!));
}

function firstSection(state: NetworkState, hexagon: number, neuron: number): number {
  return state.hexagons[hexagon]!.neuronsI32[neuron * NEURON_STRIDE + NEU_FIRST_SECTION]!;
}

function train(state: NetworkState, rows: number[][], labels: number[]): ExecutionContext {
  const ctx = new ExecutionContext(state);
  trainRows(ctx, state, rowsOf(state, rows, { labels }), 0, rows.length);
  return ctx;
}

test('an input neuron that fires for the first time gets one section whose first synapse covers its value', () => {
  const state = lineState({ inputs: 3, outputs: 2, mode: 'class' });
  train(state, [[200, 0, 0]], [1]);
  const s = firstSection(state, 0, 0);
  assert.ok(s >= 0);
  assert.equal(firstSection(state, 0, 1), -1, 'silent neurons grow nothing');
  assert.deepEqual(borders(state, s), [200]);
  assert.equal(state.sectionsI32[s * SECTION_STRIDE + SEC_NEXT], -1);
  assert.equal(state.hexagons[1]!.blocks, 1, 'the hidden hexagon grew its first block');
});

test('potential left over past the last synapse appends a synapse covering it', () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  train(state, [[100], [250]], [0, 1]);
  const s = firstSection(state, 0, 0);
  assert.deepEqual(borders(state, s), [100, 150]);
});

test("a value landing inside a synapse's tolerance window shrinks its border and weight", () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  const s = handSection(state, 0, [{ border: 200, weight: 0.3, target: 0 }]);
  state.sectionsF32[s * SECTION_STRIDE + SEC_TOLERANCE] = INITIAL_TOLERANCE;
  train(state, [[120]], [0]);
  const b = borders(state, s);
  // 120 is inside (0.01·200, 0.99·200): border → 200/1.5, then 120 < 133.3 is covered partially.
  assert.ok(Math.abs(b[0]! - 200 / BORDER_SHRINK) < 1e-3, `border ${b[0]}`);
  assert.equal(b.length, 1, 'no potential was left over');
  assert.ok(Math.abs(state.sectionsF32[s * SECTION_STRIDE + SEC_TOLERANCE]! - INITIAL_TOLERANCE / TOLERANCE_DECAY) < 1e-6);
  // 230 lands outside the window of the shrunk synapse: a second synapse takes the rest.
  train(state, [[230]], [1]);
  const b2 = borders(state, s);
  assert.equal(b2.length, 2);
  assert.ok(Math.abs(b2[1]! - (230 - 200 / BORDER_SHRINK)) < 1e-3);
});

test('a full section with potential left over is split: the upper slice moves to a new section', () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  const synapses = Array.from({ length: MAX_SYNAPSES_PER_SECTION }, (_, k) => ({ border: 1, weight: 0.01, target: k % 128 }));
  const s = handSection(state, 0, synapses, { tolerance: 0 });
  train(state, [[MAX_SYNAPSES_PER_SECTION + 50]], [0]);
  const o = s * SECTION_STRIDE;
  assert.equal(state.sectionsI32[o + SEC_SYN_COUNT], SPLIT_KEEP_SYNAPSES, 'the old section keeps its lower half');
  assert.equal(state.sectionsF32[o + SEC_RANGE], SPLIT_KEEP_SYNAPSES);
  const next = state.sectionsI32[o + SEC_NEXT]!;
  assert.ok(next >= 0, 'a new section continues the chain');
  assert.equal(state.sectionsF32[next * SECTION_STRIDE + SEC_LOWER], SPLIT_KEEP_SYNAPSES);
  assert.equal(state.sectionsF32[next * SECTION_STRIDE + SEC_RANGE], Infinity);
  assert.equal(state.counters[COUNTER.splits], 1);
  // The next sample walks both: the new section grows a synapse for the potential above its lower bound.
  train(state, [[MAX_SYNAPSES_PER_SECTION + 50]], [0]);
  assert.deepEqual(borders(state, next), [MAX_SYNAPSES_PER_SECTION + 50 - SPLIT_KEEP_SYNAPSES]);
});

test('splits happen in any hexagon, not only the last one', () => {
  // The section above lives in the hidden hexagon (not the last hexagon of the line).
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  const s = handSection(
    state,
    0,
    Array.from({ length: MAX_SYNAPSES_PER_SECTION }, () => ({ border: 1, weight: 0.01, target: 0 })),
    { tolerance: 0 },
  );
  train(state, [[500]], [0]);
  assert.ok(state.sectionsI32[s * SECTION_STRIDE + SEC_NEXT]! >= 0);
});

test('a hexagon grows a new block of neurons when it runs out of section slots', () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  const hidden = state.hexagons[1]!;
  let sections = 0;
  while (hidden.blocks < 2) {
    allocateSection(state, 0, 0, 1, SectionKind.plain, 0, Infinity, sections++);
  }
  // The first block came with the first section; the second when fewer than 256 slots were free.
  // The first block came with the first section; the second with the first section placed
  // after fewer than 256 slots were left free (slots 512 → 255 after 257 sections).
  assert.equal(sections, SECTION_SLOTS_PER_BLOCK - BLOCK_GROWTH_FREE_SLOTS + 2);
  assert.equal(hidden.blocks * 128, 256);
});

test('a hidden neuron that fires for the first time gets a row of output links', () => {
  const state = lineState({ inputs: 1, outputs: 3, mode: 'class' });
  handSection(state, 0, [{ border: 10, weight: 1, target: 5 }]);
  train(state, [[10]], [2]);
  const row = state.hexagons[1]!.neuronsI32[5 * NEURON_STRIDE + NEU_OUTPUT_ROW]!;
  assert.equal(row, 0);
  assert.equal(state.outputs[0]!.rows, 1);
  assert.equal(state.outputs[0]!.rowSrcNeuron[0], 5);
});

test('inference never grows the network', () => {
  const state = lineState({ inputs: 4, outputs: 2, mode: 'class' });
  train(state, [[10, 0, 0, 0]], [0]);
  const before = Array.from(state.counters);
  const out = new Float32Array(2 * 2);
  predictRows(
    new ExecutionContext(state),
    state,
    rowsOf(state, [
      [10, 50, 60, 70],
      [999, 1, 2, 3],
    ]),
    0,
    2,
    out,
  );
  assert.deepEqual(Array.from(state.counters), before);
  assert.equal(firstSection(state, 0, 1), -1);
});

test('synapse storage grows by runs and compaction keeps every synapse in order', () => {
  const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
  const sections = Array.from({ length: 50 }, (_, i) => allocateSection(state, 0, 0, 1, SectionKind.plain, 0, Infinity, i));
  for (let round = 0; round < 40; round++) for (const s of sections) appendSynapse(state, s, round + 1, round);
  const before = sections.map((s) => borders(state, s));
  compactSynapses(state);
  assert.deepEqual(
    sections.map((s) => borders(state, s)),
    before,
  );
  assert.equal(state.counters[COUNTER.synapseCount], 50 * 40);
  assert.ok(nextCapacity(4) === 8 && nextCapacity(124) === 128 && nextCapacity(128) === 128);
});
