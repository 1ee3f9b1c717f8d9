/**
 * NetworkState: every buffer of one cluster, as typed arrays over SharedArrayBuffers laid out
 * by kernels/layout.ts, plus the small plain metadata that goes with them. The object is
 * handed between threads by postMessage (the buffers are shared, the metadata is copied); at
 * any time exactly one thread owns it for writing.
 */
import {
  COUNTER,
  COUNTER_NAMES,
  NEURONS_PER_BLOCK,
  NEURON_STRIDE,
  NEU_CARRY,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  NEU_REFRACTORY,
  PAGE_INITIAL_SLOTS,
  SECTION_STRIDE,
  SYNAPSES_PER_PAGE,
  SPIKING_COOLDOWN_LIMIT,
  TARGET_SLOTS,
} from './layout.js';

export type HexagonKind = 'input' | 'hidden' | 'output';
export type InputKind = 'plain' | 'binary' | 'match';
export type OutputKind = 'plain' | 'bool' | 'int' | 'float';
/** How an output interface learns: `class` = softmax over its values (one-hot targets),
 *  `value` = real values in the target's own units (squared error on a scaled copy). */
export type OutputMode = 'class' | 'value';

/** What a network is made of before it has grown anything: derived from a template. */
export interface NetworkShape {
  seed: number;
  settings: { neuronCooldown: number; refractoryTime: number; enableReduction: boolean };
  hexagons: { kind: HexagonKind; targets: Int32Array }[];
  /** Hexagon indices in processing order (sources before targets). */
  order: number[];
  inputs: { name: string; hexagon: number; type: InputKind }[];
  outputs: { name: string; hexagon: number; type: OutputKind }[];
}

export interface HexagonState {
  index: number;
  kind: HexagonKind;
  /** TARGET_SLOTS target hexagon indices, -1 = empty slot. */
  targets: Int32Array;
  /** Neuron blocks in use. */
  blocks: number;
  /** Neuron records (NEURON_STRIDE words each) for capacityBlocks * NEURONS_PER_BLOCK neurons. */
  neuronsI32: Int32Array;
  neuronsF32: Float32Array;
  capacityBlocks: number;
  /** Sections placed in each block. */
  blockSections: Int32Array;
  /** Free section slots over all blocks (drives block growth). */
  freeSlots: number;
  /** Output hexagons: index into NetworkState.outputs. */
  outputGroup: number;
}

export interface InputInterfaceState {
  name: string;
  hexagon: number;
  type: InputKind;
  /** First neuron of the interface inside its hexagon. */
  offset: number;
  size: number;
}

export interface OutputInterfaceState {
  name: string;
  type: OutputKind;
  mode: OutputMode;
  /** First value of the interface inside its output group. */
  offset: number;
  size: number;
}

/** All outputs living on one output hexagon, with the dense links that feed them. */
export interface OutputGroupState {
  hexagon: number;
  interfaces: OutputInterfaceState[];
  /** Total values (sum of interface sizes). */
  width: number;
  /** Allocated width of the link matrix (>= width). */
  widthCapacity: number;
  rows: number;
  rowCapacity: number;
  /** Per row: source hexagon and neuron. */
  rowSrcHex: Int32Array;
  rowSrcNeuron: Int32Array;
  /** Per row: training visits (learning-rate decay). */
  rowUses: Float32Array;
  /** rowCapacity × widthCapacity link weights, row-major. */
  weights: Float32Array;
  bias: Float32Array;
  /** Value outputs: the model learns target / scale; scale = largest |target| seen (>= 1). */
  scale: Float32Array;
}

export interface SynapsePage {
  /** The three columns: as many slots as the page holds on the host now (its capacity, a
   *  power of two from PAGE_INITIAL_SLOTS to SYNAPSES_PER_PAGE, at least `used`). Growth
   *  replaces all three arrays together (growSynapsePage), keeping the page object. */
  weight: Float32Array;
  border: Float32Array;
  meta: Uint32Array;
  /** Slots handed out (bump pointer). */
  used: number;
  /** Walk lane whose sections live here: lanes never share a page, so two threads of a
   *  team never write the same cache line of synapse storage. */
  lane: number;
}

export interface NetworkState {
  seed: number;
  neuronCooldown: number;
  refractoryTime: number;
  enableReduction: boolean;
  /** True when potentials carry over between cycles (see SPIKING_COOLDOWN_LIMIT). */
  spiking: boolean;
  counters: Float64Array;
  hexagons: HexagonState[];
  order: number[];
  inputs: InputInterfaceState[];
  outputs: OutputGroupState[];
  sectionsI32: Int32Array;
  sectionsF32: Float32Array;
  sectionCapacity: number;
  /** Released section ids, reused first-in-first-out order by id for determinism. */
  freeSections: number[];
  pages: SynapsePage[];
  /** Per capacity class (capacity / SYNAPSE_CAPACITY_STEP) and lane, at index
   *  class * WALK_LANES + lane: released slot runs as page * SYNAPSES_PER_PAGE + offset. */
  freeRuns: number[][];
}

// ---------------------------------------------------------------------------------------
// Shared typed-array helpers
// ---------------------------------------------------------------------------------------

export function sharedInt32(length: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, length) * 4));
}
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, length) * 4));
}
export function sharedFloat64(length: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, length) * 8));
}
export function sharedUint32(length: number): Uint32Array {
  return new Uint32Array(new SharedArrayBuffer(Math.max(1, length) * 4));
}

let initialSlots = PAGE_INITIAL_SLOTS;

/** Sets the slots new pages start with on this thread (a power of two up to
 *  SYNAPSES_PER_PAGE; SYNAPSES_PER_PAGE gives whole pages as before pages grew) and returns
 *  the previous value. For tests and measurements that compare the two. */
export function usePageInitialSlots(slots: number): number {
  if (!Number.isInteger(Math.log2(slots)) || slots > SYNAPSES_PER_PAGE) throw new RangeError(`initial page slots must be a power of two up to ${SYNAPSES_PER_PAGE}`);
  const previous = initialSlots;
  initialSlots = slots;
  return previous;
}

/** Host capacity for a page that must hold `slots` slots: the next power of two, from
 *  PAGE_INITIAL_SLOTS up to SYNAPSES_PER_PAGE. */
export function pageCapacityFor(slots: number): number {
  if (slots > SYNAPSES_PER_PAGE) throw new RangeError(`a page holds at most ${SYNAPSES_PER_PAGE} synapses, not ${slots}`);
  let capacity = initialSlots;
  while (capacity < slots) capacity *= 2;
  return Math.min(capacity, SYNAPSES_PER_PAGE);
}

/** Three columns of `capacity` slots over one SharedArrayBuffer. */
function pageColumns(capacity: number): Pick<SynapsePage, 'weight' | 'border' | 'meta'> {
  const sab = new SharedArrayBuffer(capacity * 12);
  return {
    weight: new Float32Array(sab, 0, capacity),
    border: new Float32Array(sab, capacity * 4, capacity),
    meta: new Uint32Array(sab, capacity * 8, capacity),
  };
}

/** A new page whose host arrays hold at least `slots` slots (PAGE_INITIAL_SLOTS by default). */
export function newSynapsePage(lane: number, slots = 0): SynapsePage {
  return { ...pageColumns(pageCapacityFor(slots)), used: 0, lane };
}

/** Makes the page's host arrays hold at least `slots` slots: replaces them with copies of
 *  the next power-of-two size (the same page object; every holder of the old arrays must
 *  take them anew, as after any growth). Returns whether it replaced them. */
export function growSynapsePage(page: SynapsePage, slots: number): boolean {
  if (slots <= page.weight.length) return false;
  const next = pageColumns(pageCapacityFor(Math.max(slots, page.weight.length * 2)));
  next.weight.set(page.weight);
  next.border.set(page.border);
  next.meta.set(page.meta);
  page.weight = next.weight;
  page.border = next.border;
  page.meta = next.meta;
  return true;
}

/** Bytes the host holds for synapse pages (the three columns of every page). */
export function synapsePageBytes(state: NetworkState): number {
  let bytes = 0;
  for (const page of state.pages) bytes += page.weight.byteLength + page.border.byteLength + page.meta.byteLength;
  return bytes;
}

// ---------------------------------------------------------------------------------------
// Creation and sizing
// ---------------------------------------------------------------------------------------

export function isSpiking(neuronCooldown: number, refractoryTime: number): boolean {
  return neuronCooldown < SPIKING_COOLDOWN_LIMIT || refractoryTime > 1;
}

function newHexagon(index: number, kind: HexagonKind, targets: Int32Array): HexagonState {
  const emptyI32 = sharedInt32(0);
  if (targets.length !== TARGET_SLOTS) throw new RangeError(`hexagon ${index}: expected ${TARGET_SLOTS} target slots`);
  return {
    index,
    kind,
    targets: Int32Array.from(targets),
    blocks: 0,
    neuronsI32: emptyI32,
    neuronsF32: new Float32Array(emptyI32.buffer),
    capacityBlocks: 0,
    blockSections: sharedInt32(0),
    freeSlots: 0,
    outputGroup: -1,
  };
}

/** An empty network: no neurons, sections or synapses yet. */
export function createNetworkState(shape: NetworkShape): NetworkState {
  const hexagons = shape.hexagons.map((h, i) => newHexagon(i, h.kind, h.targets));
  const outputs: OutputGroupState[] = [];
  for (const out of shape.outputs) {
    const hex = hexagons[out.hexagon]!;
    if (hex.outputGroup < 0) {
      hex.outputGroup = outputs.length;
      outputs.push(newOutputGroup(out.hexagon));
    }
    outputs[hex.outputGroup]!.interfaces.push({ name: out.name, type: out.type, mode: 'value', offset: 0, size: 0 });
  }
  const state: NetworkState = {
    seed: shape.seed >>> 0,
    neuronCooldown: shape.settings.neuronCooldown,
    refractoryTime: shape.settings.refractoryTime,
    enableReduction: shape.settings.enableReduction,
    spiking: isSpiking(shape.settings.neuronCooldown, shape.settings.refractoryTime),
    counters: sharedFloat64(COUNTER_NAMES.length),
    hexagons,
    order: [...shape.order],
    inputs: shape.inputs.map((i) => ({ name: i.name, hexagon: i.hexagon, type: i.type, offset: 0, size: 0 })),
    outputs,
    sectionsI32: sharedInt32(0),
    sectionsF32: new Float32Array(0),
    sectionCapacity: 0,
    freeSections: [],
    pages: [],
    freeRuns: [],
  };
  const sec = new SharedArrayBuffer(4);
  state.sectionsI32 = new Int32Array(sec);
  state.sectionsF32 = new Float32Array(sec);
  return state;
}

function newOutputGroup(hexagon: number): OutputGroupState {
  return {
    hexagon,
    interfaces: [],
    width: 0,
    widthCapacity: 0,
    rows: 0,
    rowCapacity: 0,
    rowSrcHex: sharedInt32(0),
    rowSrcNeuron: sharedInt32(0),
    rowUses: sharedFloat32(0),
    weights: sharedFloat32(0),
    bias: sharedFloat32(0),
    scale: sharedFloat32(0),
  };
}

export function counter(state: NetworkState, name: keyof typeof COUNTER): number {
  return state.counters[COUNTER[name]]!;
}

/** Neurons currently allocated in a hexagon. */
export function neuronCount(hex: HexagonState): number {
  return hex.blocks * NEURONS_PER_BLOCK;
}

/** Grows a hexagon's neuron table to hold at least `blocks` blocks (capacity doubles, so a
 *  network reallocates its small neuron tables only log(n) times in its life). New neurons
 *  start with no section and no output row. */
export function reserveNeuronBlocks(hex: HexagonState, blocks: number): void {
  if (blocks <= hex.capacityBlocks) return;
  const capacity = Math.max(blocks, hex.capacityBlocks * 2, 1);
  const sab = new SharedArrayBuffer(capacity * NEURONS_PER_BLOCK * NEURON_STRIDE * 4);
  const i32 = new Int32Array(sab);
  const f32 = new Float32Array(sab);
  i32.set(hex.neuronsI32.subarray(0, hex.capacityBlocks * NEURONS_PER_BLOCK * NEURON_STRIDE));
  for (let n = hex.capacityBlocks * NEURONS_PER_BLOCK; n < capacity * NEURONS_PER_BLOCK; n++) {
    i32[n * NEURON_STRIDE + NEU_FIRST_SECTION] = -1;
    i32[n * NEURON_STRIDE + NEU_OUTPUT_ROW] = -1;
  }
  const blockSections = sharedInt32(capacity);
  blockSections.set(hex.blockSections.subarray(0, hex.capacityBlocks));
  hex.neuronsI32 = i32;
  hex.neuronsF32 = f32;
  hex.blockSections = blockSections;
  hex.capacityBlocks = capacity;
}

/** Grows the section table to hold at least `count` records (doubling). */
export function reserveSections(state: NetworkState, count: number): void {
  if (count <= state.sectionCapacity) return;
  const capacity = Math.max(count, state.sectionCapacity * 2, 64);
  const sab = new SharedArrayBuffer(capacity * SECTION_STRIDE * 4);
  const i32 = new Int32Array(sab);
  i32.set(state.sectionsI32.subarray(0, state.sectionCapacity * SECTION_STRIDE));
  state.sectionsI32 = i32;
  state.sectionsF32 = new Float32Array(sab);
  state.sectionCapacity = capacity;
}

/** Grows an output group's link matrix to `rows` × `width` (rows double; a wider output
 *  re-lays the existing rows). */
export function reserveOutputRows(group: OutputGroupState, rows: number, width = group.width): void {
  const widthCapacity = Math.max(width, group.widthCapacity);
  if (rows <= group.rowCapacity && widthCapacity === group.widthCapacity) return;
  const rowCapacity = Math.max(rows, rows > group.rowCapacity ? group.rowCapacity * 2 : group.rowCapacity, 16);
  const weights = sharedFloat32(rowCapacity * widthCapacity);
  for (let r = 0; r < group.rows; r++) {
    weights.set(group.weights.subarray(r * group.widthCapacity, r * group.widthCapacity + group.widthCapacity), r * widthCapacity);
  }
  const srcHex = sharedInt32(rowCapacity);
  srcHex.set(group.rowSrcHex.subarray(0, group.rows));
  const srcNeuron = sharedInt32(rowCapacity);
  srcNeuron.set(group.rowSrcNeuron.subarray(0, group.rows));
  const uses = sharedFloat32(rowCapacity);
  uses.set(group.rowUses.subarray(0, group.rows));
  if (widthCapacity !== group.widthCapacity) {
    const bias = sharedFloat32(widthCapacity);
    bias.set(group.bias.subarray(0, group.widthCapacity));
    const scale = sharedFloat32(widthCapacity);
    scale.set(group.scale.subarray(0, group.widthCapacity));
    for (let k = group.widthCapacity; k < widthCapacity; k++) scale[k] = 1;
    group.bias = bias;
    group.scale = scale;
  }
  group.weights = weights;
  group.rowSrcHex = srcHex;
  group.rowSrcNeuron = srcNeuron;
  group.rowUses = uses;
  group.rowCapacity = rowCapacity;
  group.widthCapacity = widthCapacity;
}

/**
 * Sizes an input interface (grow-only: a cluster that saw 784 inputs keeps them). The input
 * hexagon's neurons are the concatenation of its interfaces.
 */
export function sizeInput(state: NetworkState, name: string, size: number): InputInterfaceState {
  const input = state.inputs.find((i) => i.name === name);
  if (!input) throw new RangeError(`no input named "${name}"`);
  if (size <= input.size) return input;
  const before = input.size;
  input.size = size;
  try {
    layoutInterfaces(state, input.hexagon);
  } catch (e) {
    // Refused before anything moved (the first interface that would move throws): a refused
    // binding leaves the network as it was.
    input.size = before;
    throw e;
  }
  return input;
}

function layoutInterfaces(state: NetworkState, hexagon: number): void {
  let offset = 0;
  const hex = state.hexagons[hexagon]!;
  for (const i of state.inputs) {
    if (i.hexagon !== hexagon) continue;
    if (i.offset !== offset && hasGrown(hex)) {
      // Moving an interface would hand its neurons' sections to another interface.
      throw new RangeError(`input "${i.name}" cannot move once the network has grown; grow the last input of a hexagon only`);
    }
    i.offset = offset;
    offset += i.size;
  }
  const blocks = Math.ceil(offset / NEURONS_PER_BLOCK);
  reserveNeuronBlocks(hex, blocks);
  hex.blocks = Math.max(hex.blocks, blocks);
}

function hasGrown(hex: HexagonState): boolean {
  const n = hex.blocks * NEURONS_PER_BLOCK;
  for (let i = 0; i < n; i++) {
    if (hex.neuronsI32[i * NEURON_STRIDE + NEU_FIRST_SECTION]! >= 0 || hex.neuronsI32[i * NEURON_STRIDE + NEU_OUTPUT_ROW]! >= 0) return true;
  }
  return false;
}

/** Sizes an output interface (grow-only) and fixes how it learns. */
export function sizeOutput(state: NetworkState, name: string, size: number, mode: OutputMode): OutputInterfaceState {
  for (const group of state.outputs) {
    const out = group.interfaces.find((o) => o.name === name);
    if (!out) continue;
    if (out.size > 0 && out.mode !== mode) {
      throw new RangeError(`output "${name}" already learns ${out.mode === 'class' ? 'classes' : 'values'}`);
    }
    out.mode = mode;
    if (size > out.size) {
      const moved = out.size > 0 && out !== group.interfaces[group.interfaces.length - 1];
      if (moved && group.rows > 0) throw new RangeError(`output "${name}" cannot grow once later outputs have learned`);
      out.size = size;
      let offset = 0;
      for (const o of group.interfaces) {
        o.offset = offset;
        offset += o.size;
      }
      group.width = offset;
      reserveOutputRows(group, group.rows, offset);
    }
    return out;
  }
  throw new RangeError(`no output named "${name}"`);
}

export function findInput(state: NetworkState, name: string): InputInterfaceState | undefined {
  return state.inputs.find((i) => i.name === name);
}

export function findOutput(state: NetworkState, name: string): { group: OutputGroupState; output: OutputInterfaceState } | undefined {
  for (const group of state.outputs) {
    const output = group.interfaces.find((o) => o.name === name);
    if (output) return { group, output };
  }
  return undefined;
}

/** Clears what spiking neurons carry between cycles (potential, refractory countdown). */
export function resetSpikingState(state: NetworkState): void {
  for (const hex of state.hexagons) {
    const n = hex.blocks * NEURONS_PER_BLOCK;
    for (let i = 0; i < n; i++) {
      hex.neuronsF32[i * NEURON_STRIDE + NEU_CARRY] = 0;
      hex.neuronsI32[i * NEURON_STRIDE + NEU_REFRACTORY] = 0;
    }
  }
}
