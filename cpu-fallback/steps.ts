/**
 * The network's steps in TypeScript over the shared layout. Each function mirrors one WGSL
 * entry point of kernels/*.wgsl and carries its name, so the two can be read side by side:
 *
 *   loadInputs        ~ kernels/input.wgsl        (raw values into input neurons)
 *   forwardSections   ~ kernels/forward.wgsl      (thermometer walk of every active section)
 *   updateNeurons     ~ kernels/neurons.wgsl      (spiking carry, refractory time, activation)
 *   computeOutputs    ~ kernels/output.wgsl       (dense output links, softmax / values)
 *   backwardOutputs   ~ kernels/output_backward.wgsl
 *   backwardSections  ~ kernels/backward.wgsl     (synapse updates, deltas to sources)
 *
 * Hot loops keep typed arrays in locals and avoid allocation.
 */
import { GrowthKind } from '../kernels/growth.js';
import {
  ACTIVE_COUNTER_PERSISTENT,
  BIAS_LEARNING_RATE,
  BORDER_SHRINK,
  LINK_LEARNING_RATE,
  LINK_LEARNING_TAU,
  MAX_SYNAPSES_PER_SECTION,
  META_COUNTER_SHIFT,
  META_TARGET_MASK,
  NEURONS_PER_BLOCK,
  NEURON_STRIDE,
  NEU_CARRY,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  NEU_REFRACTORY,
  SECTION_LEARNING_RATE,
  SECTION_LEARNING_TAU,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_LOWER,
  SEC_NEXT,
  SEC_RANGE,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TGT_BLOCK,
  SEC_TGT_HEX,
  SEC_TOLERANCE,
  SEC_USES,
  SectionKind,
  TOLERANCE_DECAY,
  WALK_EPSILON,
} from '../kernels/layout.js';
import type { NetworkState, OutputGroupState } from '../kernels/state.js';
import type { ExecutionContext, OutputScratch } from './context.js';

const LN2_INV = 1.4426950408889634;

/** Rebuilds the active list of an input hexagon after its values were written into `act`. */
export function loadInputs(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
  const hs = ctx.hex[hexagon]!;
  const act = hs.act;
  const active = hs.active;
  const n = state.hexagons[hexagon]!.blocks * NEURONS_PER_BLOCK;
  let count = 0;
  for (let i = 0; i < n; i++) {
    // Branch-free: always write, advance only for positive values (zero and negative inputs
    // are silent).
    active[count] = i;
    count += act[i]! > 0 ? 1 : 0;
  }
  ctx.activeCount[hexagon] = count;
}

/**
 * Walks every section of every active neuron of `hexagon`, adding the synapses' shares into
 * the target neurons' inputs. In training it also adapts borders (a value landing inside a
 * synapse's tolerance window shrinks it) and records growth requests: a first section for a
 * neuron that has none, a synapse for potential left over past the end of a section, a split
 * for a full section.
 */
export function forwardSections(ctx: ExecutionContext, state: NetworkState, hexagon: number, train: boolean): void {
  if (train) {
    if (ctx.wasm) ctx.wasm.forward(ctx, state, hexagon);
    else forwardSectionsTrain(ctx, state, hexagon);
    return;
  }
  const hs = ctx.hex[hexagon]!;
  const act = hs.act;
  const active = hs.active;
  const count = ctx.activeCount[hexagon]!;
  const neurons = state.hexagons[hexagon]!.neuronsI32;
  const I = state.sectionsI32;
  const F = state.sectionsF32;
  const pages = state.pages;
  const scratch = ctx.hex;
  let lastHex = -1;
  let tin0 = hs.input0;
  let tin1 = hs.input1;
  let visits = 0;
  for (let a = 0; a < count; a++) {
    const n = active[a]!;
    const potential = act[n]!;
    for (let s = neurons[n * NEURON_STRIDE + NEU_FIRST_SECTION]!; s >= 0; s = I[s * SECTION_STRIDE + SEC_NEXT]!) {
      const o = s * SECTION_STRIDE;
      const kind = I[o + SEC_KIND]!;
      if (kind !== SectionKind.plain) {
        if (kind === SectionKind.binary) walkBinarySection(ctx, state, s, n, false);
        else walkMatchSection(ctx, state, s, potential, n, false);
        continue;
      }
      // Inference walk: potential p is consumed synapse by synapse; a fully covered synapse
      // adds its weight, the partially covered last one adds weight * p / border.
      let p = potential - F[o + SEC_LOWER]!;
      if (p <= 0) continue;
      const range = F[o + SEC_RANGE]!;
      if (p > range) p = range;
      const eps = p * WALK_EPSILON;
      const page = pages[I[o + SEC_SYN_PAGE]!]!;
      const W = page.weight;
      const B = page.border;
      const M = page.meta;
      const tgtHex = I[o + SEC_TGT_HEX]!;
      if (tgtHex !== lastHex) {
        const t = scratch[tgtHex]!;
        tin0 = t.input0;
        tin1 = t.input1;
        lastHex = tgtHex;
      }
      const tin = s & 1 ? tin1 : tin0;
      const base = I[o + SEC_TGT_BLOCK]! * NEURONS_PER_BLOCK;
      const first = I[o + SEC_SYN_OFFSET]!;
      const end = first + I[o + SEC_SYN_COUNT]!;
      let i = first;
      while (i < end) {
        const b = B[i]!;
        const t = base + (M[i]! & META_TARGET_MASK);
        if (p < b) {
          tin[t]! += W[i]! * (p / b);
          i++;
          break;
        }
        tin[t]! += W[i]!;
        p -= b;
        i++;
        if (p <= eps) break;
      }
      visits += i - first;
    }
  }
  ctx.visits += visits;
}

/**
 * The training forward pass of one hexagon, with the thermometer walk of plain sections
 * written out in place: a sample walks some hundreds of short sections, so what is loaded
 * once per section (not per synapse) decides the speed. Same semantics as walkSectionTrain.
 */
function forwardSectionsTrain(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
  const hs = ctx.hex[hexagon]!;
  const act = hs.act;
  const active = hs.active;
  const count = ctx.activeCount[hexagon]!;
  const neurons = state.hexagons[hexagon]!.neuronsI32;
  const I = state.sectionsI32;
  const F = state.sectionsF32;
  const pages = state.pages;
  const scratch = ctx.hex;
  const lane = ctx.lane;
  const log = ctx.log;
  const newSections = ctx.requests[0]!;
  let visits = 0;
  let lastHex = -1;
  let tin0 = hs.input0;
  let tin1 = hs.input1;
  ctx.logStart[hexagon] = log.count;
  for (let a = 0; a < count; a++) {
    const n = active[a]!;
    const potential = act[n]!;
    let s = neurons[n * NEURON_STRIDE + NEU_FIRST_SECTION]!;
    if (s < 0) {
      // First sections are lane 0's requests.
      if (lane <= 0 && neurons[n * NEURON_STRIDE + NEU_OUTPUT_ROW]! < 0) newSections.push(GrowthKind.newSection, hexagon, n, potential);
      continue;
    }
    for (; s >= 0; s = I[s * SECTION_STRIDE + SEC_NEXT]!) {
      if (lane >= 0 && (s & 1) !== lane) continue;
      const o = s * SECTION_STRIDE;
      const kind = I[o + SEC_KIND]!;
      if (kind !== SectionKind.plain) {
        if (kind === SectionKind.binary) walkBinarySection(ctx, state, s, n, true);
        else walkMatchSection(ctx, state, s, potential, n, true);
        continue;
      }
      let p = potential - F[o + SEC_LOWER]!;
      if (p <= 0) continue;
      const range = F[o + SEC_RANGE]!;
      if (p > range) p = range;
      const eps = p * WALK_EPSILON;
      const pageIndex = I[o + SEC_SYN_PAGE]!;
      const page = pages[pageIndex]!;
      const W = page.weight;
      const B = page.border;
      const M = page.meta;
      const tgtHex = I[o + SEC_TGT_HEX]!;
      if (tgtHex !== lastHex) {
        const t = scratch[tgtHex]!;
        tin0 = t.input0;
        tin1 = t.input1;
        lastHex = tgtHex;
      }
      const tin = s & 1 ? tin1 : tin0;
      const base = I[o + SEC_TGT_BLOCK]! * NEURONS_PER_BLOCK;
      const first = I[o + SEC_SYN_OFFSET]!;
      const synapses = I[o + SEC_SYN_COUNT]!;
      const end = first + synapses;
      let tol = F[o + SEC_TOLERANCE]!;
      let lo = 0.5 - tol;
      let hi = 0.5 + tol;
      let i = first;
      let share = 1;
      while (i < end) {
        let b = B[i]!;
        // The remaining potential lands well inside this synapse's slice: the slice is too
        // coarse, so shrink it (and its weight); later synapses get the freed potential.
        if (p > lo * b && p < hi * b) {
          b = Math.fround(b / BORDER_SHRINK);
          B[i] = b;
          W[i] = W[i]! / BORDER_SHRINK;
          tol = Math.fround(tol / TOLERANCE_DECAY);
          lo = 0.5 - tol;
          hi = 0.5 + tol;
        }
        const t = base + (M[i]! & META_TARGET_MASK);
        if (p < b) {
          share = p / b;
          tin[t]! += W[i]! * share;
          i++;
          p = 0;
          break;
        }
        tin[t]! += W[i]!;
        p -= b;
        i++;
        if (p <= eps) {
          p = 0;
          break;
        }
      }
      F[o + SEC_TOLERANCE] = tol;
      const walked = i - first;
      visits += walked;
      if (walked > 0) {
        if (log.count === log.section.length) log.reserve();
        const e = log.count++;
        log.section[e] = s;
        log.page[e] = pageIndex;
        log.first[e] = first;
        log.length[e] = walked;
        log.tgtHex[e] = tgtHex;
        log.tgtBase[e] = base;
        log.srcNeuron[e] = n;
        log.share[e] = share;
      }
      if (p > eps) {
        if (synapses < MAX_SYNAPSES_PER_SECTION) ctx.requests[s & 1]!.push(GrowthKind.appendSynapse, s, 0, p);
        else ctx.requests[s & 1]!.push(GrowthKind.split, s, 0, p);
      }
    }
  }
  ctx.visits += visits;
  ctx.logEnd[hexagon] = log.count;
}

/** Records a walked section for the backward pass. */
function logWalk(ctx: ExecutionContext, s: number, page: number, first: number, length: number, tgtHex: number, tgtBase: number, srcNeuron: number, share: number): void {
  const log = ctx.log;
  log.reserve();
  const e = log.count++;
  log.section[e] = s;
  log.page[e] = page;
  log.first[e] = first;
  log.length[e] = length;
  log.tgtHex[e] = tgtHex;
  log.tgtBase[e] = tgtBase;
  log.srcNeuron[e] = srcNeuron;
  log.share[e] = share;
}

/** Binary sections: any positive value fires every synapse fully. */
function walkBinarySection(ctx: ExecutionContext, state: NetworkState, s: number, srcNeuron: number, train: boolean): void {
  const I = state.sectionsI32;
  const o = s * SECTION_STRIDE;
  const pageIndex = I[o + SEC_SYN_PAGE]!;
  const page = state.pages[pageIndex]!;
  const W = page.weight;
  const M = page.meta;
  const target = ctx.hex[I[o + SEC_TGT_HEX]!]!;
  const tin = s & 1 ? target.input1 : target.input0;
  const base = I[o + SEC_TGT_BLOCK]! * NEURONS_PER_BLOCK;
  const first = I[o + SEC_SYN_OFFSET]!;
  const count = I[o + SEC_SYN_COUNT]!;
  for (let i = first; i < first + count; i++) tin[base + (M[i]! & META_TARGET_MASK)]! += W[i]!;
  if (train && count > 0) logWalk(ctx, s, pageIndex, first, count, I[o + SEC_TGT_HEX]!, base, srcNeuron, 1);
  ctx.visits += count;
}

/** Match sections: the synapse whose border equals the value fires fully (categorical
 *  input); an unseen value asks for its own synapse. Stored as walked = -(index + 1). */
function walkMatchSection(ctx: ExecutionContext, state: NetworkState, s: number, value: number, srcNeuron: number, train: boolean): void {
  const I = state.sectionsI32;
  const o = s * SECTION_STRIDE;
  const pageIndex = I[o + SEC_SYN_PAGE]!;
  const page = state.pages[pageIndex]!;
  const B = page.border;
  const first = I[o + SEC_SYN_OFFSET]!;
  let lo = first;
  let hi = first + I[o + SEC_SYN_COUNT]! - 1;
  const v = Math.fround(value);
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const b = B[mid]!;
    if (b === v) {
      const tgtHex = I[o + SEC_TGT_HEX]!;
      const base = I[o + SEC_TGT_BLOCK]! * NEURONS_PER_BLOCK;
      const target = ctx.hex[tgtHex]!;
      (s & 1 ? target.input1 : target.input0)[base + (page.meta[mid]! & META_TARGET_MASK)]! += page.weight[mid]!;
      if (train) logWalk(ctx, s, pageIndex, mid, 1, tgtHex, base, srcNeuron, 1);
      ctx.visits += 1;
      return;
    }
    if (b < v) lo = mid + 1;
    else hi = mid - 1;
  }
  if (train) ctx.requests[s & 1]!.push(GrowthKind.matchInsert, s, 0, value);
}

/**
 * Hidden neurons: gathered input becomes potential, spiking clusters first carry over the
 * previous potential divided by the cooldown and honour the refractory time (input is only
 * accepted every `refractoryTime` cycles), then y = log2(1 + max(0, u)). Resets deltas.
 */
export function updateNeurons(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
  const hex = state.hexagons[hexagon]!;
  const hs = ctx.hex[hexagon]!;
  const input0 = hs.input0;
  const input1 = hs.input1;
  const act = hs.act;
  const delta = hs.delta;
  const slope = hs.slope;
  const active = hs.active;
  const n = hex.blocks * NEURONS_PER_BLOCK;
  let count = 0;
  if (state.spiking) {
    const I = hex.neuronsI32;
    const F = hex.neuronsF32;
    const cooldown = state.neuronCooldown;
    const reload = state.refractoryTime - 1;
    for (let i = 0; i < n; i++) {
      const r = i * NEURON_STRIDE;
      const carried = F[r + NEU_CARRY]! / cooldown;
      const refractory = I[r + NEU_REFRACTORY]!;
      let u: number;
      if (refractory > 0) {
        I[r + NEU_REFRACTORY] = refractory - 1;
        u = carried;
      } else {
        u = carried + (input0[i]! + input1[i]!);
        I[r + NEU_REFRACTORY] = reload;
      }
      F[r + NEU_CARRY] = u;
      input0[i] = 0;
      input1[i] = 0;
      delta[i] = 0;
      if (u > 0) {
        act[i] = Math.log2(1 + u);
        slope[i] = LN2_INV / (1 + u);
        active[count++] = i;
      } else {
        act[i] = 0;
      }
    }
  } else {
    for (let i = 0; i < n; i++) {
      const u = input0[i]! + input1[i]!;
      input0[i] = 0;
      input1[i] = 0;
      delta[i] = 0;
      if (u > 0) {
        act[i] = Math.log2(1 + u);
        slope[i] = LN2_INV / (1 + u);
        active[count++] = i;
      } else {
        act[i] = 0;
      }
    }
  }
  ctx.activeCount[hexagon] = count;
}

/** Output values of one output group: z = bias + sum of active sources × link weights; then
 *  softmax per class interface, or z × scale per value interface. */
export function computeOutputs(ctx: ExecutionContext, state: NetworkState, group: number): void {
  const g = state.outputs[group]!;
  let out = ctx.out[group]!;
  if (out.rows.length < g.rows) {
    ctx.fit(state);
    out = ctx.out[group]!;
  }
  if (ctx.wasm) {
    ctx.wasm.ensure(state, ctx);
    out = ctx.out[group]!;
  }
  const z = out.z;
  const width = g.width;
  for (let k = 0; k < width; k++) z[k] = g.bias[k]!;
  if (ctx.wasm) ctx.wasm.outputsForward(state, ctx, group);
  else computeLinks(ctx, g, out);
  for (const iface of g.interfaces) {
    const lo = iface.offset;
    const hi = lo + iface.size;
    if (iface.mode === 'class') {
      let max = -Infinity;
      for (let k = lo; k < hi; k++) if (z[k]! > max) max = z[k]!;
      let sum = 0;
      for (let k = lo; k < hi; k++) sum += Math.exp(z[k]! - max);
      for (let k = lo; k < hi; k++) out.value[k] = Math.exp(z[k]! - max) / sum;
    } else {
      for (let k = lo; k < hi; k++) out.value[k] = z[k]! * g.scale[k]!;
    }
  }
}

/** z += y · W over the rows whose source is active (activations: hidden ones as they are, raw
 *  input values compressed like hidden potentials); records those rows and their y. */
function computeLinks(ctx: ExecutionContext, g: OutputGroupState, out: OutputScratch): void {
  const z = out.z;
  const width = g.width;
  const wc = g.widthCapacity;
  const W = g.weights;
  const rows = g.rows;
  const srcHex = g.rowSrcHex;
  const srcNeuron = g.rowSrcNeuron;
  const activeRows = out.rows;
  const rowY = out.rowY;
  let active = 0;
  let lastHex = -1;
  let act = ctx.hex[0]!.act;
  let compress = false;
  for (let r = 0; r < rows; r++) {
    const h = srcHex[r]!;
    if (h !== lastHex) {
      act = ctx.hex[h]!.act;
      compress = ctx.inputHex[h] !== 0;
      lastHex = h;
    }
    const v = act[srcNeuron[r]!]!;
    const y = compress ? (v > 0 ? Math.log2(1 + v) : 0) : v;
    if (y === 0) continue;
    activeRows[active] = r;
    rowY[active++] = y;
    const base = r * wc;
    for (let k = 0; k < width; k++) z[k]! += y * W[base + k]!;
  }
  out.rowCount = active;
}

/**
 * Output-layer backward step, after computeOutputs of the same sample on the same context (it
 * reuses the active rows and activations that pass recorded). `classTarget[i]` is the class of class interface i (in
 * interface order), `valueTarget` holds the targets of value interfaces at their offsets.
 * Softmax + cross-entropy gives dL/dz = p - onehot; values use squared error on target /
 * scale (scale grows to the largest |target| seen, so targets in any unit train alike).
 */
export function backwardOutputs(ctx: ExecutionContext, state: NetworkState, group: number, classTarget: Int32Array, valueTarget: Float32Array): void {
  ctx.wasm?.ensure(state, ctx);
  const g = state.outputs[group]!;
  const out = ctx.out[group]!;
  const grad = out.grad;
  let classIndex = 0;
  for (const iface of g.interfaces) {
    const lo = iface.offset;
    const hi = lo + iface.size;
    if (iface.mode === 'class') {
      const label = lo + classTarget[classIndex++]!;
      for (let k = lo; k < hi; k++) grad[k] = out.value[k]! - (k === label ? 1 : 0);
    } else {
      for (let k = lo; k < hi; k++) {
        const t = valueTarget[k]!;
        const mag = Math.abs(t);
        if (mag > g.scale[k]!) g.scale[k] = mag;
        grad[k] = out.z[k]! - t / g.scale[k]!;
      }
    }
  }
  for (let k = 0; k < g.width; k++) g.bias[k] = g.bias[k]! - BIAS_LEARNING_RATE * grad[k]!;
  if (ctx.wasm) ctx.wasm.outputsBackward(state, ctx, group);
  else backwardLinks(ctx, g, out);
}

/** Link weights and the sources' deltas, over the rows computeLinks found active (with
 *  their activations: sources do not change between the two passes). */
function backwardLinks(ctx: ExecutionContext, g: OutputGroupState, out: OutputScratch): void {
  const grad = out.grad;
  const width = g.width;
  const wc = g.widthCapacity;
  const W = g.weights;
  const activeRows = out.rows;
  const rowY = out.rowY;
  const count = out.rowCount;
  const srcHex = g.rowSrcHex;
  const srcNeuron = g.rowSrcNeuron;
  const rowUses = g.rowUses;
  let lastHex = -1;
  let delta = ctx.hex[0]!.delta;
  for (let a = 0; a < count; a++) {
    const r = activeRows[a]!;
    const y = rowY[a]!;
    const uses = rowUses[r]!;
    rowUses[r] = uses + 1;
    const lr = LINK_LEARNING_RATE / (1 + uses / LINK_LEARNING_TAU);
    const base = r * wc;
    let d = 0;
    for (let k = 0; k < width; k++) {
      const w = W[base + k]!;
      d += grad[k]! * w;
      W[base + k] = w - lr * grad[k]! * y;
    }
    const h = srcHex[r]!;
    if (h !== lastHex) {
      delta = ctx.hex[h]!.delta;
      lastHex = h;
    }
    delta[srcNeuron[r]!]! += d;
  }
}

/**
 * Backward pass over the sections `hexagon`'s neurons walked (replayed from the walk log):
 * each reached synapse moves against its target's delta (the partially covered one in
 * proportion to its share, which is the exact gradient of the walk), and a hidden source
 * neuron collects sum(weight × target delta) — the reference's straight-through estimate,
 * measured better than the exact, piecewise-constant derivative (docs/algorithm.md). Hidden
 * deltas are then scaled by the activation slope.
 */
export function backwardSections(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
  if (ctx.wasm) {
    ctx.wasm.backward(ctx, state, hexagon);
    return;
  }
  const hs = ctx.hex[hexagon]!;
  const hidden = state.hexagons[hexagon]!.kind === 'hidden';
  const reinforce = state.enableReduction;
  const F = state.sectionsF32;
  const pages = state.pages;
  const scratch = ctx.hex;
  const log = ctx.log;
  const end = ctx.logEnd[hexagon]!;
  let visits = 0;
  let lastHex = -1;
  let tdelta = hs.delta;
  for (let e = ctx.logStart[hexagon]!; e < end; e++) {
    const o = log.section[e]! * SECTION_STRIDE;
    const uses = F[o + SEC_USES]!;
    F[o + SEC_USES] = uses + 1;
    const lr = SECTION_LEARNING_RATE / (1 + uses / SECTION_LEARNING_TAU);
    const page = pages[log.page[e]!]!;
    const W = page.weight;
    const M = page.meta;
    const tgtHex = log.tgtHex[e]!;
    if (tgtHex !== lastHex) {
      tdelta = scratch[tgtHex]!.delta;
      lastHex = tgtHex;
    }
    const base = log.tgtBase[e]!;
    const first = log.first[e]!;
    const last = first + log.length[e]! - 1;
    if (hidden) {
      // Hidden sources need sum(weight × target delta) for their own delta.
      let d = 0;
      for (let i = first; i < last; i++) {
        const td = tdelta[base + (M[i]! & META_TARGET_MASK)]!;
        const w = W[i]!;
        d += w * td;
        W[i] = w - lr * td;
      }
      d += W[last]! * tdelta[base + (M[last]! & META_TARGET_MASK)]!;
      (log.section[e]! & 1 ? hs.dpart1 : hs.dpart0)[log.srcNeuron[e]!]! += d;
    } else {
      for (let i = first; i < last; i++) W[i] = W[i]! - lr * tdelta[base + (M[i]! & META_TARGET_MASK)]!;
    }
    W[last] = W[last]! - lr * tdelta[base + (M[last]! & META_TARGET_MASK)]! * log.share[e]!;
    if (reinforce) reinforceSynapses(M, first, last);
    visits += last - first + 1;
  }
  ctx.visits += visits;
}

/** After the backward walks of a hidden hexagon: its neurons' deltas are the output-link
 *  part plus the lanes' section parts (in lane order), times the activation slope. */
export function finishDeltas(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
  if (state.hexagons[hexagon]!.kind !== 'hidden') return;
  const hs = ctx.hex[hexagon]!;
  const { active, slope, delta, dpart0, dpart1 } = hs;
  const count = ctx.activeCount[hexagon]!;
  for (let a = 0; a < count; a++) {
    const n = active[a]!;
    delta[n] = (delta[n]! + dpart0[n]! + dpart1[n]!) * slope[n]!;
    dpart0[n] = 0;
    dpart1[n] = 0;
  }
}

/** Reduction bookkeeping: every synapse a training walk reaches gains one activity count. */
function reinforceSynapses(M: Uint32Array, first: number, last: number): void {
  for (let i = first; i <= last; i++) {
    const m = M[i]!;
    const c = m >>> META_COUNTER_SHIFT;
    if (c < ACTIVE_COUNTER_PERSISTENT) M[i] = (m & META_TARGET_MASK) | ((c + 1) << META_COUNTER_SHIFT);
  }
}
