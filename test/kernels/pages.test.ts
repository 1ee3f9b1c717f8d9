/**
 * Synapse pages sized to the network (issue 16): a page's host arrays start at
 * PAGE_INITIAL_SLOTS and double as its bump pointer needs, so a small cluster holds kilobytes
 * of synapse storage instead of 768 KiB per page, with the same addressing and the same
 * results as whole pages.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { trainRows } from '../../cpu-fallback/engine.js';
import { compactSynapses } from '../../kernels/growth.js';
import { PAGE_INITIAL_SLOTS, SYNAPSES_PER_PAGE } from '../../kernels/layout.js';
import { growSynapsePage, newSynapsePage, pageCapacityFor, synapsePageBytes, usePageInitialSlots } from '../../kernels/state.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';

const data = await loadMnist8k();

function trained(rows: number, seed = 7): Cluster {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, seed);
  trainRows(new ExecutionContext(cluster.state), cluster.state, cluster.bind(data.train), 0, rows);
  return cluster;
}

function sha(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Runs `f` with new pages starting at `slots` slots on this thread. */
function withInitialSlots<T>(slots: number, f: () => T): T {
  const previous = usePageInitialSlots(slots);
  try {
    return f();
  } finally {
    usePageInitialSlots(previous);
  }
}

test('a page starts small and grows by doubling, keeping its values and its object', () => {
  const page = newSynapsePage(1);
  assert.equal(page.weight.length, PAGE_INITIAL_SLOTS);
  assert.equal(page.weight.buffer.byteLength, PAGE_INITIAL_SLOTS * 12);
  for (let i = 0; i < PAGE_INITIAL_SLOTS; i++) {
    page.weight[i] = i / 7;
    page.border[i] = i + 0.5;
    page.meta[i] = i * 3;
  }
  const before = page.weight;
  assert.equal(growSynapsePage(page, PAGE_INITIAL_SLOTS), false, 'no growth while it fits');
  assert.equal(growSynapsePage(page, PAGE_INITIAL_SLOTS + 1), true);
  assert.notEqual(page.weight, before);
  assert.equal(page.weight.length, PAGE_INITIAL_SLOTS * 2);
  assert.equal(page.border.length, PAGE_INITIAL_SLOTS * 2);
  assert.equal(page.meta.length, PAGE_INITIAL_SLOTS * 2);
  for (let i = 0; i < PAGE_INITIAL_SLOTS; i++) {
    assert.equal(page.weight[i], Math.fround(i / 7));
    assert.equal(page.border[i], i + 0.5);
    assert.equal(page.meta[i], i * 3);
  }
  assert.equal(page.weight[PAGE_INITIAL_SLOTS], 0);
  growSynapsePage(page, 5 * PAGE_INITIAL_SLOTS);
  assert.equal(page.weight.length, 8 * PAGE_INITIAL_SLOTS, 'the next power of two that holds it');
  assert.equal(page.meta[PAGE_INITIAL_SLOTS - 1], (PAGE_INITIAL_SLOTS - 1) * 3);
  growSynapsePage(page, SYNAPSES_PER_PAGE);
  assert.equal(page.weight.length, SYNAPSES_PER_PAGE, 'never beyond a whole page');
  assert.equal(pageCapacityFor(0), PAGE_INITIAL_SLOTS);
  assert.equal(pageCapacityFor(SYNAPSES_PER_PAGE), SYNAPSES_PER_PAGE);
  assert.throws(() => pageCapacityFor(SYNAPSES_PER_PAGE + 1), RangeError);
});

test('a small trained cluster holds at most 200 KB of synapse pages (counted bytes)', () => {
  const cluster = trained(10);
  const bytes = synapsePageBytes(cluster.state);
  assert.ok(cluster.stats().synapses > 0);
  assert.ok(bytes <= 200 * 1024, `${bytes} bytes of pages`);
  // Whole pages (the layout before pages grew) hold one 768 KiB page per walk lane.
  const whole = withInitialSlots(SYNAPSES_PER_PAGE, () => trained(10));
  assert.equal(synapsePageBytes(whole.state), whole.state.pages.length * SYNAPSES_PER_PAGE * 12);
  assert.ok(bytes * 10 < synapsePageBytes(whole.state), `${bytes} against ${synapsePageBytes(whole.state)} with whole pages`);
  // A page holds at most twice (the doubling) what it uses, or its initial slots.
  for (const page of cluster.state.pages) assert.ok(page.weight.length <= Math.max(PAGE_INITIAL_SLOTS, 2 * page.used), `${page.weight.length} slots for ${page.used} used`);
});

test('pages grown as the network needs train byte-identically to whole pages (checkpoint SHA-256)', () => {
  const grown = trained(1500);
  assert.ok(
    grown.state.pages.some((p) => p.weight.length > PAGE_INITIAL_SLOTS),
    'the run grows pages past their initial slots',
  );
  // Whole pages on the TypeScript walk: the WebAssembly walk (where built) maps the grown
  // pages anew each time growth replaces their arrays, and must land on the same bytes.
  const walk = process.env.HANAMI_WALK;
  process.env.HANAMI_WALK = 'ts';
  let whole: Cluster;
  try {
    whole = withInitialSlots(SYNAPSES_PER_PAGE, () => trained(1500));
  } finally {
    if (walk === undefined) delete process.env.HANAMI_WALK;
    else process.env.HANAMI_WALK = walk;
  }
  assert.ok(whole.state.pages.every((p) => p.weight.length === SYNAPSES_PER_PAGE));
  assert.equal(sha(grown.checkpoint()), sha(whole.checkpoint()));
  // Compaction rebuilds the pages from small ones again, with the same result.
  compactSynapses(grown.state);
  withInitialSlots(SYNAPSES_PER_PAGE, () => compactSynapses(whole.state));
  assert.equal(sha(grown.checkpoint()), sha(whole.checkpoint()));
  // A restored network's pages hold what they use (rounded up), and it trains on identically.
  const restored = Cluster.fromCheckpoint(grown.checkpoint()).cluster;
  for (const page of restored.state.pages) assert.equal(page.weight.length, pageCapacityFor(page.used));
  for (const c of [restored, whole]) trainRows(new ExecutionContext(c.state), c.state, c.bind(data.train), 1500, 2500);
  assert.equal(sha(restored.checkpoint()), sha(whole.checkpoint()));
});
