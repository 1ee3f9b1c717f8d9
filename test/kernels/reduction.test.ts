/**
 * Reduction: synapses that never became persistent decay and are removed, from the end of
 * a section (so no other synapse's slice moves); empty sections are freed and reused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { trainRows } from '../../cpu-fallback/engine.js';
import { reduceNetwork } from '../../kernels/growth.js';
import { ACTIVE_COUNTER_INIT, COUNTER, NEURON_STRIDE, NEU_FIRST_SECTION, REDUCTION_INTERVAL, SECTION_STRIDE, SEC_SYN_COUNT, SEC_SYN_OFFSET, SEC_SYN_PAGE } from '../../kernels/layout.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';
import { handSection, lineState, rowsOf } from '../fixtures/network.js';

test('unused trailing synapses decay away while used ones become persistent', () => {
  const state = lineState({ inputs: 2, outputs: 2, mode: 'class', reduction: true });
  const s = handSection(
    state,
    0,
    [
      { border: 10, weight: 0.1, target: 0 },
      { border: 10, weight: 0.1, target: 1 },
      { border: 1e6, weight: 0.1, target: 2 },
    ],
    { tolerance: 0 },
  );
  // Input 15 reaches synapses 0 and 1 every sample, never the third.
  const rows = Array.from({ length: REDUCTION_INTERVAL * (ACTIVE_COUNTER_INIT + 2) }, () => [15, 0]);
  trainRows(new ExecutionContext(state), state, rowsOf(state, rows, { labels: rows.map(() => 0) }), 0, rows.length);
  const o = s * SECTION_STRIDE;
  assert.equal(state.sectionsI32[o + SEC_SYN_COUNT], 2, 'the never-reached synapse is gone');
  const page = state.pages[state.sectionsI32[o + SEC_SYN_PAGE]!]!;
  const first = state.sectionsI32[o + SEC_SYN_OFFSET]!;
  assert.deepEqual(Array.from(page.border.subarray(first, first + 2)), [10, 10], 'the others keep their slices');
  assert.equal(state.counters[COUNTER.synapsesRemoved], 1);
});

test('a section whose synapses all decay is freed; its neuron grows a new one later and the record is reused', () => {
  const state = lineState({ inputs: 2, outputs: 2, mode: 'class', reduction: true });
  const s = handSection(state, 1, [{ border: 10, weight: 0.1, target: 0 }]);
  const ctx = new ExecutionContext(state);
  // Neuron 1 stays silent: its section is never walked.
  const quiet = Array.from({ length: REDUCTION_INTERVAL * (ACTIVE_COUNTER_INIT + 1) }, () => [5, 0]);
  trainRows(ctx, state, rowsOf(state, quiet, { labels: quiet.map(() => 0) }), 0, quiet.length);
  assert.equal(state.hexagons[0]!.neuronsI32[1 * NEURON_STRIDE + NEU_FIRST_SECTION], -1, 'neuron 1 lost its section');
  assert.ok(state.freeSections.includes(s));
  // Neuron 1 fires again: it gets a section again, in the freed record.
  trainRows(ctx, state, rowsOf(state, [[5, 7]], { labels: [1] }), 0, 1);
  assert.equal(state.hexagons[0]!.neuronsI32[1 * NEURON_STRIDE + NEU_FIRST_SECTION], s);
});

test('on real data reduction keeps the network smaller and reuses its memory', async () => {
  const data = await loadMnist8k();
  const withReduction = Cluster.create(DEFAULT_TEMPLATE.replace('enable_reduction: false', 'enable_reduction: true'), 2);
  const without = Cluster.create(DEFAULT_TEMPLATE, 2);
  for (const c of [withReduction, without]) trainRows(new ExecutionContext(c.state), c.state, c.bind(data.train), 0, data.train.rows);
  const r = withReduction.state.counters;
  assert.ok(r[COUNTER.synapsesRemoved]! > 0);
  assert.ok(r[COUNTER.synapseCount]! < without.state.counters[COUNTER.synapseCount]!, 'fewer synapses');
  assert.ok(r[COUNTER.slotsFreed]! * 4 <= r[COUNTER.slotsReserved]!, 'released slots are reused or compacted away');
  // An explicit pass on the trained network removes nothing persistent.
  const before = r[COUNTER.synapseCount]!;
  reduceNetwork(withReduction.state);
  assert.ok(r[COUNTER.synapseCount]! <= before);
});
