/**
 * Structural growth, applied serially: new blocks, new sections, new synapses at the end of
 * a section, splits, output links, reduction and compaction of the synapse pages. Parallel
 * steps (CPU workers or GPU kernels) never change topology; they append growth requests
 * which the owner of the network applies here in a fixed order, so a network grows the same
 * way whatever the thread count or backend.
 */
import {
  ACTIVE_COUNTER_INIT,
  ACTIVE_COUNTER_PERSISTENT,
  BINARY_SECTION_SYNAPSES,
  BLOCK_GROWTH_FREE_SLOTS,
  COUNTER,
  FREE_SECTION,
  INITIAL_TOLERANCE,
  MAX_SYNAPSES_PER_SECTION,
  META_COUNTER_MASK,
  META_COUNTER_SHIFT,
  META_TARGET_MASK,
  NEURONS_PER_BLOCK,
  NEURON_STRIDE,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  SECTION_SLOTS_PER_BLOCK,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_LOWER,
  SEC_NEXT,
  SEC_RANGE,
  SEC_SRC_HEX,
  SEC_SRC_NEURON,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TGT_BLOCK,
  SEC_TGT_HEX,
  SEC_TOLERANCE,
  SEC_USES,
  SPLIT_KEEP_SYNAPSES,
  SYNAPSES_PER_PAGE,
  SYNAPSE_CAPACITY_STEP,
  SYNAPSE_INIT_WEIGHT,
  SectionKind,
  TARGET_SLOTS,
  WALK_LANES,
  packMeta,
} from './layout.js';
import { RngStream, rand32 } from './rng.js';
import { type HexagonState, type NetworkState, growSynapsePage, newSynapsePage, reserveNeuronBlocks, reserveOutputRows, reserveSections } from './state.js';

// ---------------------------------------------------------------------------------------
// Growth requests: what parallel steps ask for
// ---------------------------------------------------------------------------------------

export const GrowthKind = {
  /** A neuron fired for the first time: give it a section (or an output link row). */
  newSection: 1,
  /** Potential was left over past the last synapse of a section: append one. */
  appendSynapse: 2,
  /** A full section had potential left over: split it. */
  split: 3,
  /** A match section saw a value it has no synapse for. */
  matchInsert: 4,
} as const;

/** An append-only list of requests in SharedArrayBuffers (flat columns, so a second thread
 *  of a team, or a GPU twin with an atomic cursor, can fill the same shape). */
export class GrowthRequests {
  /** [count] */
  header = new Int32Array(new SharedArrayBuffer(4));
  kind: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  a: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  b: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  value: Float32Array = new Float32Array(new SharedArrayBuffer(4));

  constructor(capacity = 256) {
    this.reserve(capacity);
  }

  /** Rebuilds a list from its columns after they crossed a thread boundary (postMessage
   *  keeps the shared buffers but not the class). */
  static revive(plain: Pick<GrowthRequests, 'header' | 'kind' | 'a' | 'b' | 'value'>): GrowthRequests {
    if (plain instanceof GrowthRequests) return plain;
    const r = new GrowthRequests(1);
    r.header = plain.header;
    r.kind = plain.kind;
    r.a = plain.a;
    r.b = plain.b;
    r.value = plain.value;
    return r;
  }

  get count(): number {
    return this.header[0]!;
  }

  set count(n: number) {
    this.header[0] = n;
  }

  get capacity(): number {
    return this.kind.length;
  }

  push(kind: number, a: number, b: number, value: number): void {
    const i = this.header[0]!;
    if (i === this.kind.length) this.reserve(i * 2);
    this.kind[i] = kind;
    this.a[i] = a;
    this.b[i] = b;
    this.value[i] = value;
    this.header[0] = i + 1;
  }

  /** Grows the columns to hold at least `capacity` requests (owner thread only). */
  reserve(capacity: number): void {
    if (capacity <= this.kind.length && this.kind.length > 1) return;
    const n = Math.max(capacity, 16);
    const grow = <T extends Int32Array | Float32Array>(old: T, make: (sab: SharedArrayBuffer) => T): T => {
      const next = make(new SharedArrayBuffer(n * 4));
      next.set(old.subarray(0, Math.min(old.length, this.count)));
      return next;
    };
    this.kind = grow(this.kind, (b) => new Int32Array(b));
    this.a = grow(this.a, (b) => new Int32Array(b));
    this.b = grow(this.b, (b) => new Int32Array(b));
    this.value = grow(this.value, (b) => new Float32Array(b));
  }
}

/**
 * Applies request lists in order (lane 0's first), each in the order its requests were
 * made, then clears them. `key` identifies the sample (the trained-sample counter) so random
 * draws depend on nothing but the network's own history.
 */
export function applyGrowth(state: NetworkState, lists: readonly GrowthRequests[], key: number): void {
  for (const requests of lists) {
    const count = requests.count;
    for (let i = 0; i < count; i++) {
      const a = requests.a[i]!;
      const b = requests.b[i]!;
      const value = requests.value[i]!;
      switch (requests.kind[i]!) {
        case GrowthKind.newSection:
          growNeuron(state, a, b, value, key);
          break;
        case GrowthKind.appendSynapse:
          appendSynapse(state, a, value, key);
          break;
        case GrowthKind.split:
          splitSection(state, a, key);
          break;
        case GrowthKind.matchInsert:
          insertMatchSynapse(state, a, value, key);
          break;
      }
    }
    requests.count = 0;
  }
  maybeCompact(state);
}

// ---------------------------------------------------------------------------------------
// Neurons: first section or output link
// ---------------------------------------------------------------------------------------

/** Kind of section an input neuron sends (from its input interface). */
function sectionKindOf(state: NetworkState, hexagon: number, neuron: number): number {
  const hex = state.hexagons[hexagon]!;
  if (hex.kind !== 'input') return SectionKind.plain;
  for (const input of state.inputs) {
    if (input.hexagon === hexagon && neuron >= input.offset && neuron < input.offset + input.size) {
      return input.type === 'binary' ? SectionKind.binary : input.type === 'match' ? SectionKind.match : SectionKind.plain;
    }
  }
  return SectionKind.plain;
}

/**
 * A neuron that fired for the first time gets exactly one outgoing connection: a section in
 * a hexagon drawn from its hexagon's target slots, or, when that hexagon is an output
 * hexagon, a row of dense links to all outputs there. An empty slot means "try again the
 * next time this neuron fires".
 */
export function growNeuron(state: NetworkState, hexagon: number, neuron: number, value: number, key: number): void {
  const hex = state.hexagons[hexagon]!;
  const rec = neuron * NEURON_STRIDE;
  if (hex.neuronsI32[rec + NEU_FIRST_SECTION]! >= 0 || hex.neuronsI32[rec + NEU_OUTPUT_ROW]! >= 0) return;
  const target = hex.targets[rand32(state.seed, RngStream.sectionTarget, key, hexagon * 0x100000 + neuron) % TARGET_SLOTS]!;
  // An empty slot (or a walk that ended on an input hexagon, whose neurons take raw values
  // and no synaptic input) means: try again the next time this neuron fires.
  if (target < 0 || state.hexagons[target]!.kind === 'input') return;
  const tgt = state.hexagons[target]!;
  if (tgt.kind === 'output') {
    hex.neuronsI32[rec + NEU_OUTPUT_ROW] = allocateOutputRow(state, tgt.outputGroup, hexagon, neuron);
    return;
  }
  const kind = sectionKindOf(state, hexagon, neuron);
  const sec = allocateSection(state, hexagon, neuron, target, kind, 0, Infinity, key);
  hex.neuronsI32[rec + NEU_FIRST_SECTION] = sec;
  if (kind === SectionKind.binary) {
    for (let i = 0; i < BINARY_SECTION_SYNAPSES; i++) appendSynapse(state, sec, 0, key);
  } else {
    appendSynapse(state, sec, value, key);
  }
}

export function allocateOutputRow(state: NetworkState, group: number, srcHex: number, srcNeuron: number): number {
  const g = state.outputs[group]!;
  reserveOutputRows(g, g.rows + 1);
  const r = g.rows++;
  g.rowSrcHex[r] = srcHex;
  g.rowSrcNeuron[r] = srcNeuron;
  g.rowUses[r] = 0;
  g.weights.fill(0, r * g.widthCapacity, (r + 1) * g.widthCapacity);
  state.counters[COUNTER.outputRowCount] = g.rows;
  let total = 0;
  for (const o of state.outputs) total += o.rows;
  state.counters[COUNTER.outputRowCount] = total;
  return r;
}

// ---------------------------------------------------------------------------------------
// Blocks and sections
// ---------------------------------------------------------------------------------------

/** A new block of neurons (and its share of section slots) in a hexagon. */
export function addBlock(hex: HexagonState): void {
  reserveNeuronBlocks(hex, hex.blocks + 1);
  hex.blocks += 1;
  hex.freeSlots += SECTION_SLOTS_PER_BLOCK;
}

/** Places a new, empty section into a block of `tgtHex`, growing a block first when the
 *  hexagon is running out of section slots. */
export function allocateSection(state: NetworkState, srcHex: number, srcNeuron: number, tgtHex: number, kind: number, lower: number, range: number, key: number): number {
  const tgt = state.hexagons[tgtHex]!;
  if (tgt.freeSlots < BLOCK_GROWTH_FREE_SLOTS) addBlock(tgt);
  const start = rand32(state.seed, RngStream.sectionBlock, key, srcHex * 0x100000 + srcNeuron) % tgt.blocks;
  let block = start;
  for (let i = 0; i < tgt.blocks; i++) {
    const b = (start + i) % tgt.blocks;
    if (tgt.blockSections[b]! < SECTION_SLOTS_PER_BLOCK) {
      block = b;
      break;
    }
  }
  tgt.blockSections[block]! += 1;
  tgt.freeSlots -= 1;

  const id = takeSectionId(state);
  const I = state.sectionsI32;
  const F = state.sectionsF32;
  const o = id * SECTION_STRIDE;
  I.fill(0, o, o + SECTION_STRIDE);
  I[o + SEC_SRC_HEX] = srcHex;
  I[o + SEC_SRC_NEURON] = srcNeuron;
  I[o + SEC_TGT_HEX] = tgtHex;
  I[o + SEC_TGT_BLOCK] = block;
  I[o + SEC_SYN_PAGE] = 0;
  I[o + SEC_SYN_OFFSET] = 0;
  I[o + SEC_SYN_COUNT] = 0;
  I[o + SEC_SYN_CAPACITY] = 0;
  F[o + SEC_LOWER] = lower;
  F[o + SEC_RANGE] = range;
  F[o + SEC_TOLERANCE] = INITIAL_TOLERANCE;
  F[o + SEC_USES] = 0;
  I[o + SEC_NEXT] = -1;
  I[o + SEC_KIND] = kind;
  state.counters[COUNTER.sectionsUsed]! += 1;
  return id;
}

function takeSectionId(state: NetworkState): number {
  if (state.freeSections.length > 0) return state.freeSections.shift()!;
  const id = state.counters[COUNTER.sectionCount]!;
  reserveSections(state, id + 1);
  state.counters[COUNTER.sectionCount] = id + 1;
  return id;
}

// ---------------------------------------------------------------------------------------
// Synapse storage: runs of slots inside pages
// ---------------------------------------------------------------------------------------

/** Index of a capacity class and lane in state.freeRuns. */
function freeListIndex(capacity: number, lane: number): number {
  return (capacity / SYNAPSE_CAPACITY_STEP) * WALK_LANES + lane;
}

/** Next capacity when a full section needs room: small sections grow by one step, larger
 *  ones by about a quarter, never beyond MAX_SYNAPSES_PER_SECTION. */
export function nextCapacity(capacity: number): number {
  const step = Math.max(SYNAPSE_CAPACITY_STEP, Math.ceil(capacity / 4 / SYNAPSE_CAPACITY_STEP) * SYNAPSE_CAPACITY_STEP);
  return Math.min(MAX_SYNAPSES_PER_SECTION, capacity + step);
}

/** A run of `capacity` contiguous slots for a section of walk lane `lane`: a released run of
 *  that size if there is one, else the end of the lane's last page (its host arrays grown
 *  when needed), else a new page.
 *  Returns page * SYNAPSES_PER_PAGE + offset. */
function allocateRun(state: NetworkState, capacity: number, lane: number): number {
  const free = state.freeRuns[freeListIndex(capacity, lane)];
  if (free && free.length > 0) {
    state.counters[COUNTER.slotsFreed]! -= capacity;
    return free.pop()!;
  }
  let index = state.pages.length - 1;
  while (index >= 0 && state.pages[index]!.lane !== lane) index--;
  let page = index >= 0 ? state.pages[index]! : undefined;
  if (!page || page.used + capacity > SYNAPSES_PER_PAGE) {
    page = newSynapsePage(lane);
    state.pages.push(page);
    index = state.pages.length - 1;
    state.counters[COUNTER.pageCount] = state.pages.length;
  }
  // The host arrays grow geometrically as the bump pointer needs (the addressing does not
  // change, so the values are the same as with whole pages).
  growSynapsePage(page, page.used + capacity);
  const offset = page.used;
  page.used += capacity;
  state.counters[COUNTER.slotsReserved]! += capacity;
  return index * SYNAPSES_PER_PAGE + offset;
}

function releaseRun(state: NetworkState, run: number, capacity: number): void {
  if (capacity === 0) return;
  const lane = state.pages[Math.floor(run / SYNAPSES_PER_PAGE)]!.lane;
  const index = freeListIndex(capacity, lane);
  while (state.freeRuns.length <= index) state.freeRuns.push([]);
  state.freeRuns[index]!.push(run);
  state.counters[COUNTER.slotsFreed]! += capacity;
}

/** Moves a section's synapses into a run of `capacity` slots. */
function relocate(state: NetworkState, sec: number, capacity: number): void {
  const I = state.sectionsI32;
  const o = sec * SECTION_STRIDE;
  const count = I[o + SEC_SYN_COUNT]!;
  const oldCapacity = I[o + SEC_SYN_CAPACITY]!;
  const oldPage = I[o + SEC_SYN_PAGE]!;
  const oldOffset = I[o + SEC_SYN_OFFSET]!;
  const run = allocateRun(state, capacity, sec & 1);
  const page = Math.floor(run / SYNAPSES_PER_PAGE);
  const offset = run % SYNAPSES_PER_PAGE;
  if (count > 0) {
    state.counters[COUNTER.slotsCopied]! += count;
    const from = state.pages[oldPage]!;
    const to = state.pages[page]!;
    to.weight.set(from.weight.subarray(oldOffset, oldOffset + count), offset);
    to.border.set(from.border.subarray(oldOffset, oldOffset + count), offset);
    to.meta.set(from.meta.subarray(oldOffset, oldOffset + count), offset);
  }
  if (oldCapacity > 0) releaseRun(state, oldPage * SYNAPSES_PER_PAGE + oldOffset, oldCapacity);
  I[o + SEC_SYN_PAGE] = page;
  I[o + SEC_SYN_OFFSET] = offset;
  I[o + SEC_SYN_CAPACITY] = capacity;
}

/** Initial weight of a synapse: uniform magnitude below SYNAPSE_INIT_WEIGHT, random sign. */
export function initialWeight(seed: number, key: number, sec: number, slot: number): number {
  const h = rand32(seed, RngStream.synapseInit, key, sec * MAX_SYNAPSES_PER_SECTION + slot);
  const magnitude = ((h >>> 1) / 2147483648) * SYNAPSE_INIT_WEIGHT;
  return Math.fround(h & 1 ? -magnitude : magnitude);
}

function initialTarget(seed: number, key: number, sec: number, slot: number): number {
  return rand32(seed, RngStream.synapseInit, key ^ 0x5bd1e995, sec * MAX_SYNAPSES_PER_SECTION + slot) % NEURONS_PER_BLOCK;
}

/** Appends one synapse covering `border` of potential at the end of a section. Returns false
 *  when the section is full. */
export function appendSynapse(state: NetworkState, sec: number, border: number, key: number): boolean {
  const I = state.sectionsI32;
  const o = sec * SECTION_STRIDE;
  const count = I[o + SEC_SYN_COUNT]!;
  if (count >= MAX_SYNAPSES_PER_SECTION) return false;
  if (count >= I[o + SEC_SYN_CAPACITY]!) relocate(state, sec, nextCapacity(I[o + SEC_SYN_CAPACITY]!));
  writeSynapse(state, sec, count, border, key);
  I[o + SEC_SYN_COUNT] = count + 1;
  state.counters[COUNTER.synapseCount]! += 1;
  return true;
}

function writeSynapse(state: NetworkState, sec: number, slot: number, border: number, key: number): void {
  const I = state.sectionsI32;
  const o = sec * SECTION_STRIDE;
  const page = state.pages[I[o + SEC_SYN_PAGE]!]!;
  const i = I[o + SEC_SYN_OFFSET]! + slot;
  page.border[i] = border;
  page.weight[i] = initialWeight(state.seed, key, sec, slot);
  page.meta[i] = packMeta(initialTarget(state.seed, key, sec, slot), ACTIVE_COUNTER_INIT);
}

/** Categorical sections keep their borders (the values) sorted; a new value is inserted in
 *  order. A full section ignores new values. */
export function insertMatchSynapse(state: NetworkState, sec: number, value: number, key: number): void {
  const I = state.sectionsI32;
  const o = sec * SECTION_STRIDE;
  const count = I[o + SEC_SYN_COUNT]!;
  if (count >= MAX_SYNAPSES_PER_SECTION) return;
  const probe = state.pages[I[o + SEC_SYN_PAGE]!]!;
  const base = I[o + SEC_SYN_OFFSET]!;
  for (let i = 0; i < count; i++) if (probe.border[base + i] === Math.fround(value)) return;
  if (!appendSynapse(state, sec, value, key)) return;
  const page = state.pages[I[o + SEC_SYN_PAGE]!]!;
  const first = I[o + SEC_SYN_OFFSET]!;
  // Insertion sort step: move the new synapse down to its place.
  for (let i = first + count; i > first && page.border[i - 1]! > page.border[i]!; i--) {
    swapSynapses(page.weight, page.border, page.meta, i, i - 1);
  }
}

function swapSynapses(w: Float32Array, b: Float32Array, m: Uint32Array, i: number, j: number): void {
  const tw = w[i]!;
  w[i] = w[j]!;
  w[j] = tw;
  const tb = b[i]!;
  b[i] = b[j]!;
  b[j] = tb;
  const tm = m[i]!;
  m[i] = m[j]!;
  m[j] = tm;
}

/**
 * A full section with potential left over keeps its first SPLIT_KEEP_SYNAPSES synapses and
 * the potential slice they cover; the slice above goes to a new section of the same source
 * neuron, in a hexagon drawn from the source's targets (any hexagon, not only the last one
 * as in the reference), which grows its own synapses from there.
 */
export function splitSection(state: NetworkState, sec: number, key: number): number {
  const I = state.sectionsI32;
  const F = state.sectionsF32;
  const o = sec * SECTION_STRIDE;
  if (I[o + SEC_SYN_COUNT]! < MAX_SYNAPSES_PER_SECTION) return -1;
  const page = state.pages[I[o + SEC_SYN_PAGE]!]!;
  const first = I[o + SEC_SYN_OFFSET]!;
  let split = 0;
  for (let i = 0; i < SPLIT_KEEP_SYNAPSES; i++) split += page.border[first + i]!;
  split = Math.fround(split);
  const srcHex = I[o + SEC_SRC_HEX]!;
  const srcNeuron = I[o + SEC_SRC_NEURON]!;
  const lower = F[o + SEC_LOWER]!;
  const range = F[o + SEC_RANGE]!;
  const tgtHex = splitTarget(state, srcHex, I[o + SEC_TGT_HEX]!, key, sec);
  const next = allocateSection(state, srcHex, srcNeuron, tgtHex, I[o + SEC_KIND]!, Math.fround(lower + split), range === Infinity ? Infinity : Math.fround(range - split), key);
  // allocateSection may have reallocated the section table.
  const I2 = state.sectionsI32;
  const F2 = state.sectionsF32;
  I2[next * SECTION_STRIDE + SEC_NEXT] = I2[o + SEC_NEXT]!;
  I2[o + SEC_NEXT] = next;
  F2[o + SEC_RANGE] = split;
  const dropped = I2[o + SEC_SYN_COUNT]! - SPLIT_KEEP_SYNAPSES;
  I2[o + SEC_SYN_COUNT] = SPLIT_KEEP_SYNAPSES;
  state.counters[COUNTER.synapseCount]! -= dropped;
  state.counters[COUNTER.splits]! += 1;
  return next;
}

function splitTarget(state: NetworkState, srcHex: number, fallback: number, key: number, sec: number): number {
  const targets = state.hexagons[srcHex]!.targets;
  const t = targets[rand32(state.seed, RngStream.splitTarget, key, sec) % TARGET_SLOTS]!;
  return t >= 0 && state.hexagons[t]!.kind === 'hidden' ? t : fallback;
}

// ---------------------------------------------------------------------------------------
// Reduction: synapses that never became persistent decay and are removed
// ---------------------------------------------------------------------------------------

/**
 * Every non-persistent synapse loses one activity count; trailing synapses at zero are
 * removed. A synapse is reinforced whenever a training walk reaches it, and a walk that
 * reaches synapse k has reached all before it, so unused synapses are always at the end of
 * a section: removing them never shifts the potential slices of the others (a defect of the
 * reference's reduction). Sections left empty are freed and their source neuron may grow a
 * new one. Returns the number of synapses removed.
 */
export function reduceNetwork(state: NetworkState): number {
  const I = state.sectionsI32;
  const total = state.counters[COUNTER.sectionCount]!;
  let removed = 0;
  for (let s = 0; s < total; s++) {
    const o = s * SECTION_STRIDE;
    if (I[o + SEC_KIND]! & FREE_SECTION) continue;
    const page = state.pages[I[o + SEC_SYN_PAGE]!];
    if (!page) continue;
    const first = I[o + SEC_SYN_OFFSET]!;
    let count = I[o + SEC_SYN_COUNT]!;
    const meta = page.meta;
    for (let i = first; i < first + count; i++) {
      const m = meta[i]!;
      const c = (m >>> META_COUNTER_SHIFT) & META_COUNTER_MASK;
      if (c < ACTIVE_COUNTER_PERSISTENT && c > 0) meta[i] = packMeta(m & META_TARGET_MASK, c - 1);
    }
    const before = count;
    while (count > 0 && ((meta[first + count - 1]! >>> META_COUNTER_SHIFT) & META_COUNTER_MASK) === 0) count--;
    if (count === before) continue;
    removed += before - count;
    I[o + SEC_SYN_COUNT] = count;
    if (count === 0) freeSection(state, s);
  }
  state.counters[COUNTER.synapseCount]! -= removed;
  state.counters[COUNTER.synapsesRemoved]! += removed;
  maybeCompact(state);
  return removed;
}

/** Releases a section: its slots, its block slot and its place in the source's chain. The
 *  slice it covered is handed to the section below it, which can then grow into it. */
export function freeSection(state: NetworkState, sec: number): void {
  const I = state.sectionsI32;
  const F = state.sectionsF32;
  const o = sec * SECTION_STRIDE;
  const srcHex = state.hexagons[I[o + SEC_SRC_HEX]!]!;
  const neuronRec = I[o + SEC_SRC_NEURON]! * NEURON_STRIDE;
  const next = I[o + SEC_NEXT]!;
  let prev = -1;
  for (let s = srcHex.neuronsI32[neuronRec + NEU_FIRST_SECTION]!; s >= 0 && s !== sec; s = I[s * SECTION_STRIDE + SEC_NEXT]!) prev = s;
  if (prev < 0) {
    srcHex.neuronsI32[neuronRec + NEU_FIRST_SECTION] = next;
  } else {
    I[prev * SECTION_STRIDE + SEC_NEXT] = next;
    const range = F[o + SEC_RANGE]!;
    const prevRange = F[prev * SECTION_STRIDE + SEC_RANGE]!;
    F[prev * SECTION_STRIDE + SEC_RANGE] = next < 0 || range === Infinity ? Infinity : Math.fround(prevRange + range);
  }
  const count = I[o + SEC_SYN_COUNT]!;
  state.counters[COUNTER.synapseCount]! -= count;
  releaseRun(state, I[o + SEC_SYN_PAGE]! * SYNAPSES_PER_PAGE + I[o + SEC_SYN_OFFSET]!, I[o + SEC_SYN_CAPACITY]!);
  const tgt = state.hexagons[I[o + SEC_TGT_HEX]!]!;
  tgt.blockSections[I[o + SEC_TGT_BLOCK]!]! -= 1;
  tgt.freeSlots += 1;
  I.fill(0, o, o + SECTION_STRIDE);
  I[o + SEC_KIND] = FREE_SECTION;
  I[o + SEC_NEXT] = -1;
  state.freeSections.push(sec);
  state.freeSections.sort((x, y) => x - y);
  state.counters[COUNTER.sectionsUsed]! -= 1;
}

// ---------------------------------------------------------------------------------------
// Compaction: keeps released runs from accumulating
// ---------------------------------------------------------------------------------------

/** Compacts when released slots exceed a quarter of the reserved ones (amortised O(1) per
 *  released slot). */
export function maybeCompact(state: NetworkState): void {
  const freed = state.counters[COUNTER.slotsFreed]!;
  if (freed > 4096 && freed * 4 > state.counters[COUNTER.slotsReserved]!) compactSynapses(state);
}

/** Rewrites every live section into fresh pages in section order, each with capacity
 *  rounded up to the next step. Section ids and synapse order do not change. */
export function compactSynapses(state: NetworkState): void {
  const I = state.sectionsI32;
  const old = state.pages;
  state.pages = [];
  state.freeRuns = [];
  state.counters[COUNTER.slotsReserved] = 0;
  state.counters[COUNTER.slotsFreed] = 0;
  const total = state.counters[COUNTER.sectionCount]!;
  for (let s = 0; s < total; s++) {
    const o = s * SECTION_STRIDE;
    if (I[o + SEC_KIND]! & FREE_SECTION) continue;
    const count = I[o + SEC_SYN_COUNT]!;
    const capacity = Math.max(SYNAPSE_CAPACITY_STEP, Math.ceil(count / SYNAPSE_CAPACITY_STEP) * SYNAPSE_CAPACITY_STEP);
    const from = old[I[o + SEC_SYN_PAGE]!]!;
    const fromOffset = I[o + SEC_SYN_OFFSET]!;
    const run = allocateRun(state, capacity, s & 1);
    const page = Math.floor(run / SYNAPSES_PER_PAGE);
    const offset = run % SYNAPSES_PER_PAGE;
    const to = state.pages[page]!;
    state.counters[COUNTER.slotsCopied]! += count;
    to.weight.set(from.weight.subarray(fromOffset, fromOffset + count), offset);
    to.border.set(from.border.subarray(fromOffset, fromOffset + count), offset);
    to.meta.set(from.meta.subarray(fromOffset, fromOffset + count), offset);
    I[o + SEC_SYN_PAGE] = page;
    I[o + SEC_SYN_OFFSET] = offset;
    I[o + SEC_SYN_CAPACITY] = capacity;
  }
  state.counters[COUNTER.pageCount] = state.pages.length;
  state.counters[COUNTER.compactions]! += 1;
}
