/**
 * One sample through the network: forward in processing order, backward in reverse, then
 * the serial growth phase. The rows come bound to the network (kernels/contract.ts
 * BoundData: which columns feed which input interface, which targets teach which output).
 */
import { type BoundData, type InputBinding, outputWidth } from '../kernels/contract.js';
import { applyGrowth, maybeCompact, reduceNetwork } from '../kernels/growth.js';
import { COUNTER, NEURON_STRIDE, NEU_FIRST_SECTION, REDUCTION_INTERVAL } from '../kernels/layout.js';
import type { NetworkState } from '../kernels/state.js';
import type { ExecutionContext } from './context.js';
import { type TeamLeader, Walker } from './team.js';
import { WASM_WALK_MIN_ROWS, WasmWalk } from './wasm-walk.js';
import { backwardOutputs, backwardSections, computeOutputs, finishDeltas, forwardSections, updateNeurons } from './steps.js';

const sortedBindings = new WeakMap<BoundData, InputBinding[]>();

/** Bindings ordered by neuron position (so active lists come out in increasing order). */
function bindingsInNeuronOrder(state: NetworkState, data: BoundData): InputBinding[] {
  let sorted = sortedBindings.get(data);
  if (!sorted) {
    const at = (b: InputBinding): number => {
      const iface = state.inputs[b.input]!;
      return iface.hexagon * 2 ** 32 + iface.offset;
    };
    sorted = [...data.inputMap].sort((a, b) => at(a) - at(b));
    sortedBindings.set(data, sorted);
  }
  return sorted;
}

/** Writes row `row` of the bound inputs into the input neurons and builds their active
 *  lists in one pass. Zero and negative values are silent (the network takes positive raw
 *  values) and stored as 0. */
export function loadRow(ctx: ExecutionContext, state: NetworkState, data: BoundData, row: number): void {
  if (ctx.wasm) {
    ctx.wasm.loadRow(ctx, state, data, row, bindingsInNeuronOrder(state, data));
    return;
  }
  for (const hex of state.hexagons) {
    if (hex.kind !== 'input') continue;
    const hs = ctx.hex[hex.index]!;
    const act = hs.act;
    const active = hs.active;
    const count = ctx.activeCount[hex.index]!;
    for (let a = 0; a < count; a++) act[active[a]!] = 0;
    ctx.activeCount[hex.index] = 0;
  }
  const base = row * data.inputWidth;
  const src = data.inputs;
  for (const b of bindingsInNeuronOrder(state, data)) {
    const iface = state.inputs[b.input]!;
    const hs = ctx.hex[iface.hexagon]!;
    const act = hs.act;
    const active = hs.active;
    let count = ctx.activeCount[iface.hexagon]!;
    const from = base + b.column;
    const to = iface.offset;
    for (let i = 0; i < b.size; i++) {
      const v = src[from + i]!;
      if (v > 0) {
        act[to + i] = v;
        active[count++] = to + i;
      }
    }
    ctx.activeCount[iface.hexagon] = count;
  }
}

/** Forward pass over all hexagons in processing order. */
export function forward(ctx: ExecutionContext, state: NetworkState, train: boolean): void {
  ctx.log.count = 0;
  for (const h of state.order) {
    const hex = state.hexagons[h]!;
    if (hex.kind === 'output') {
      computeOutputs(ctx, state, hex.outputGroup);
      continue;
    }
    if (hex.kind === 'hidden') updateNeurons(ctx, state, h);
    forwardSections(ctx, state, h, train);
  }
}

const classScratch = new Int32Array(64);
const valueScratch = new Float32Array(1024);

/** Whether any active neuron of a hexagon has a section (else its walk phase is empty). */
function walksAnything(ctx: ExecutionContext, state: NetworkState, hexagon: number): boolean {
  const active = ctx.hex[hexagon]!.active;
  const count = ctx.activeCount[hexagon]!;
  const neurons = state.hexagons[hexagon]!.neuronsI32;
  for (let a = 0; a < count; a++) if (neurons[active[a]! * NEURON_STRIDE + NEU_FIRST_SECTION]! >= 0) return true;
  return false;
}

/** Training forward pass; with a team, every section walk runs as a two-lane phase.
 *  `walked[h]` records who walked lane 1 of hexagon h (team.ts Walker). */
function forwardTrain(ctx: ExecutionContext, state: NetworkState, team: TeamLeader | undefined, walked: Uint8Array): void {
  ctx.log.count = 0;
  let first = true;
  for (const h of state.order) {
    const hex = state.hexagons[h]!;
    walked[h] = Walker.none;
    if (hex.kind === 'output') {
      computeOutputs(ctx, state, hex.outputGroup);
      continue;
    }
    if (hex.kind === 'hidden') updateNeurons(ctx, state, h);
    if (!team) {
      forwardSections(ctx, state, h, true);
      continue;
    }
    if (!walksAnything(ctx, state, h)) {
      // Still record first sections for neurons that have none.
      forwardSections(ctx, state, h, true);
      continue;
    }
    walked[h] = team.forward(ctx, state, h, first, () => forwardSections(ctx, state, h, true));
    first = false;
  }
}

/** Backward pass in reverse processing order. */
export function backward(ctx: ExecutionContext, state: NetworkState, data: BoundData, row: number, team?: TeamLeader, walked?: Uint8Array): void {
  for (let o = state.order.length - 1; o >= 0; o--) {
    const h = state.order[o]!;
    const hex = state.hexagons[h]!;
    if (hex.kind === 'output') {
      const g = hex.outputGroup;
      const { classes, values } = targetsOf(state, data, row, g);
      backwardOutputs(ctx, state, g, classes, values);
      continue;
    }
    if (team && walked) {
      const walker = walked[h]!;
      if (walker !== Walker.none) team.backward(ctx, state, h, walker, () => backwardSections(ctx, state, h));
    } else {
      backwardSections(ctx, state, h);
    }
    finishDeltas(ctx, state, h);
  }
}

function targetsOf(state: NetworkState, data: BoundData, row: number, group: number): { classes: Int32Array; values: Float32Array } {
  const g = state.outputs[group]!;
  const values = g.width <= valueScratch.length ? valueScratch : new Float32Array(g.width);
  let c = 0;
  for (let i = 0; i < g.interfaces.length; i++) {
    const binding = data.outputMap.find((b) => b.group === group && b.iface === i);
    const iface = g.interfaces[i]!;
    if (iface.mode === 'class') {
      classScratch[c++] = binding && data.labels ? data.labels[row]! : 0;
    } else if (binding && data.values) {
      const from = row * data.valueWidth + binding.column;
      for (let k = 0; k < iface.size; k++) values[iface.offset + k] = data.values[from + k]!;
    } else {
      for (let k = 0; k < iface.size; k++) values[iface.offset + k] = 0;
    }
  }
  return { classes: classScratch, values };
}

/** The serial phase after a training sample: growth requests, then reduction when due. */
export function growAfterSample(ctx: ExecutionContext, state: NetworkState): void {
  const key = state.counters[COUNTER.samplesTrained]!;
  state.counters[COUNTER.samplesTrained] = key + 1;
  if (ctx.requests[0]!.count > 0 || ctx.requests[1]!.count > 0) applyGrowth(state, ctx.requests, key);
  if (state.enableReduction && (key + 1) % REDUCTION_INTERVAL === 0) {
    reduceNetwork(state);
    maybeCompact(state);
  }
  ctx.fit(state);
}

/**
 * Trains on rows [from, to) in order, one sample at a time. With a team, a second thread
 * runs lane 1 of every section walk; the result is identical either way. With `out`, each
 * row's output values as its forward pass left them (before it learned) are written there
 * (outputWidth(state) per row, starting at out[0] for row `from`): direct training answers
 * with them.
 */
export function trainRows(ctx: ExecutionContext, state: NetworkState, data: BoundData, from: number, to: number, team?: TeamLeader, out?: Float32Array): void {
  // The data binding may have sized interfaces since the context was made.
  ctx.fit(state);
  // Alone, the section walks run in WebAssembly (wasm-walk.ts); a team shares its scratch
  // between threads, which a module's private memory cannot, so it keeps the TypeScript walk.
  // Mapping the network in and out costs about as much as a few samples, so a call of a few
  // rows (direct training) keeps the TypeScript walk.
  ctx.wasm = !team && ctx.walk === 'wasm' && to - from >= WASM_WALK_MIN_ROWS && WasmWalk.supports(state) ? WasmWalk.forThread() : null;
  const walked = new Uint8Array(state.hexagons.length);
  try {
    team?.publish(state, ctx);
    for (let row = from; row < to; row++) {
      // After a team fell back to one thread (a late partner), the rest runs as one thread.
      const lead = team && !team.solo ? team : undefined;
      if (team && !lead) team.counters.soloSamples++;
      ctx.lane = lead ? 0 : -1;
      loadRow(ctx, state, data, row);
      forwardTrain(ctx, state, lead, walked);
      if (out) copyOutputs(ctx, state, out, row - from);
      backward(ctx, state, data, row, lead, walked);
      lead?.endSample();
      growAfterSample(ctx, state);
      team?.publish(state, ctx);
    }
  } finally {
    ctx.lane = -1;
    ctx.wasm?.release();
    ctx.wasm = null;
  }
}

/** Every output value of the last forward pass into row `at` of `out`. */
function copyOutputs(ctx: ExecutionContext, state: NetworkState, out: Float32Array, at: number): void {
  let o = at * outputWidth(state);
  for (let g = 0; g < state.outputs.length; g++) {
    const value = ctx.out[g]!.value;
    const n = state.outputs[g]!.width;
    for (let k = 0; k < n; k++) out[o++] = value[k]!;
  }
}

/** Runs rows [from, to) forward only and writes every output value to `out` (row-major,
 *  outputWidth(state) per row, starting at out[0] for row `from`). */
export function predictRows(ctx: ExecutionContext, state: NetworkState, data: BoundData, from: number, to: number, out: Float32Array): void {
  ctx.fit(state);
  for (let row = from; row < to; row++) {
    loadRow(ctx, state, data, row);
    forward(ctx, state, false);
    copyOutputs(ctx, state, out, row - from);
  }
}
