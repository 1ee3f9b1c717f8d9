/**
 * The WebAssembly training walk (cpu-fallback/wasm/walk.wat) against the TypeScript walk it
 * replaces (cpu-fallback/steps.ts, the reference): the same data through both must give
 * byte-identical networks. Both do the same double-precision arithmetic in the same order
 * with the same float32 roundings, so no tolerance is needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { trainRows } from '../../cpu-fallback/engine.js';
import { WASM_WALK_MIN_ROWS, WasmWalk, wasmWalkAvailable } from '../../cpu-fallback/wasm-walk.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { loadMnist8k } from '../../server/datasets/mnist8k.js';

const data = await loadMnist8k();
/** The same images as float values (as a CSV would give them): loadRow's float path. */
const floatTrain = { ...data.train, inputs: Float32Array.from(data.train.inputs, (v) => (v > 40 ? v / 37 : -v)) };
const LAYERED = readFileSync(new URL('../../../docs/examples/layered.template', import.meta.url), 'utf8');
const REDUCING = DEFAULT_TEMPLATE.replace('enable_reduction: false', 'enable_reduction: true');
/** Pixels straight to the output links: raw input values are compressed (log2) for them. */
const DIRECT = `version: 1
settings:
    max_connection_distance: 1
hexagons:
    1,1,1
    2,1,1
inputs:
    input: 1,1,1
outputs:
    output: 2,1,1
`;

/** Trains `rows` rows in slices of `slice` (every slice maps and releases the network
 *  again) with one walk; returns the checkpoint and the synapse visits. */
function train(template: string, walk: 'ts' | 'wasm', rows: number, slice: number, floats = false): { bytes: Buffer; visits: number; cluster: Cluster } {
  const cluster = Cluster.create(template, 5);
  const bound = cluster.bind(floats ? floatTrain : data.train);
  const ctx = new ExecutionContext(cluster.state);
  ctx.walk = walk;
  for (let from = 0; from < rows; from += slice) trainRows(ctx, cluster.state, bound, from, Math.min(rows, from + slice));
  return { bytes: cluster.checkpoint(), visits: ctx.visits, cluster };
}

test('the WebAssembly walk is built and loads', () => {
  assert.ok(wasmWalkAvailable(), 'dist/cpu-fallback/wasm/walk.wasm is missing: run node scripts/build-wasm.js');
});

for (const [name, template, rows, floats] of [
  ['the default template', DEFAULT_TEMPLATE, 3000],
  ['with reduction', REDUCING, 1500],
  ['two hidden layers (hidden → hidden sections)', LAYERED, 1500],
  ['input neurons linked straight to the outputs', DIRECT, 1500],
  ['float inputs, negative ones among them', DEFAULT_TEMPLATE, 1500, true],
] as const) {
  test(`${name}: byte-identical networks from both walks`, () => {
    const walker = WasmWalk.forThread()!;
    const mapsBefore = walker.maps;
    const wasm = train(template, 'wasm', rows, 250, floats === true);
    // Every slice maps at least once, and growth that replaces arrays maps again.
    assert.ok(walker.maps - mapsBefore >= rows / 250, `the WebAssembly walk ran (${walker.maps - mapsBefore} mappings)`);
    const ts = train(template, 'ts', rows, 250, floats === true);
    assert.equal(wasm.visits, ts.visits, 'same synapse visits');
    assert.ok(wasm.visits > rows * 100 || template === DIRECT, 'the walks did real work');
    assert.ok(wasm.cluster.state.outputs[0]!.rows > 0, 'output links grew');
    assert.deepEqual(wasm.cluster.stats(), ts.cluster.stats());
    assert.ok(wasm.bytes.equals(ts.bytes), 'checkpoints differ');
  });
}

test('a call of a few rows (direct training) keeps the TypeScript walk: no mapping', () => {
  const walker = WasmWalk.forThread()!;
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 5);
  const bound = cluster.bind(data.train);
  const ctx = new ExecutionContext(cluster.state);
  trainRows(ctx, cluster.state, bound, 0, WASM_WALK_MIN_ROWS);
  const maps = walker.maps;
  for (let row = WASM_WALK_MIN_ROWS; row < WASM_WALK_MIN_ROWS + 20; row++) trainRows(ctx, cluster.state, bound, row, row + 1);
  assert.equal(walker.maps, maps);
  trainRows(ctx, cluster.state, bound, 100, 100 + WASM_WALK_MIN_ROWS);
  assert.ok(walker.maps > maps, 'a slice of enough rows maps');
});

test('between slices the network lives in its shared buffers again', () => {
  const { cluster } = train(DEFAULT_TEMPLATE, 'wasm', 300, 300);
  const state = cluster.state;
  assert.ok(state.sectionsI32.buffer instanceof SharedArrayBuffer);
  assert.equal(state.sectionsF32.buffer, state.sectionsI32.buffer);
  for (const hex of state.hexagons) assert.ok(hex.neuronsI32.buffer instanceof SharedArrayBuffer);
  assert.ok(state.pages.length > 0);
  for (const page of state.pages) {
    for (const column of [page.weight, page.border, page.meta]) assert.ok(column.buffer instanceof SharedArrayBuffer);
  }
});
