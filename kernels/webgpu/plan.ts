/**
 * How one network maps onto the flat GPU buffers, and the read-only "plan" tables the
 * kernels read it from (kernels/plan.wgsl): hexagon kinds, cell bases and neuron counts, the
 * processing order, target slots, output groups with their interfaces and link offsets, and
 * which dataset column feeds each input neuron.
 *
 * Neurons of all hexagons are laid out back to back by capacity (capacityBlocks × 128), the
 * way their records are stored per hexagon on the host, so a hexagon growing a block inside
 * its capacity changes nothing but its count.
 */
import type { InputBinding } from '../contract.js';
import { NEURONS_PER_BLOCK, TARGET_SLOTS } from '../layout.js';
import type { NetworkState } from '../state.js';
import { HEX_HIDDEN, HEX_INPUT, HEX_OUTPUT, IFACE_CLASS, IFACE_VALUE, INPUT_SOURCE_BIT, NO_COLUMN, PLAN_GROUP, PLAN_HEADER, PLAN_HEX, PLAN_IFACE } from './records.js';

/** Offsets of one output group's arrays inside the links buffer (in floats). */
export interface LinkOffsets {
  weights: number;
  bias: number;
  scale: number;
  uses: number;
  rowCapacity: number;
  widthCapacity: number;
}

export interface NetworkLayout {
  /** Per hexagon: first cell (global neuron index). */
  hexBase: number[];
  /** Per hexagon: neuron capacity (capacityBlocks × 128). */
  hexCapacity: number[];
  /** Cells per scratch slot = neuron records on the GPU. */
  cellsPerSlot: number;
  /** Per output group: its arrays in the links buffer. */
  links: LinkOffsets[];
  linksLength: number;
  /** Per output group: first of its values in a sample's output row. */
  groupOut: number[];
  totalWidth: number;
}

/** The flat layout of a network's neurons and output links. */
export function networkLayout(state: NetworkState): NetworkLayout {
  const hexBase: number[] = [];
  const hexCapacity: number[] = [];
  let cells = 0;
  for (const hex of state.hexagons) {
    hexBase.push(cells);
    const capacity = hex.capacityBlocks * NEURONS_PER_BLOCK;
    hexCapacity.push(capacity);
    cells += capacity;
  }
  const links: LinkOffsets[] = [];
  const groupOut: number[] = [];
  let offset = 0;
  let width = 0;
  for (const g of state.outputs) {
    const weights = offset;
    const bias = weights + g.rowCapacity * g.widthCapacity;
    const scale = bias + g.widthCapacity;
    const uses = scale + g.widthCapacity;
    offset = uses + g.rowCapacity;
    links.push({ weights, bias, scale, uses, rowCapacity: g.rowCapacity, widthCapacity: g.widthCapacity });
    groupOut.push(width);
    width += g.width;
  }
  return { hexBase, hexCapacity, cellsPerSlot: cells, links, linksLength: offset, groupOut, totalWidth: width };
}

/** Whether two layouts place every neuron and link at the same offsets. */
export function sameLayout(a: NetworkLayout, b: NetworkLayout): boolean {
  return (
    a.cellsPerSlot === b.cellsPerSlot &&
    a.linksLength === b.linksLength &&
    a.hexBase.every((x, i) => x === b.hexBase[i]) &&
    a.links.every((l, i) => l.weights === b.links[i]!.weights && l.rowCapacity === b.links[i]!.rowCapacity && l.widthCapacity === b.links[i]!.widthCapacity)
  );
}

function hexKind(kind: string): number {
  return kind === 'input' ? HEX_INPUT : kind === 'hidden' ? HEX_HIDDEN : HEX_OUTPUT;
}

/** Builds the plan words. `inputs` says which dataset columns feed which input interface;
 *  neurons nothing feeds read 0. */
export function buildPlan(state: NetworkState, layout: NetworkLayout, inputs: readonly InputBinding[] = []): Uint32Array {
  const words: number[] = new Array<number>(PLAN_HEADER.stride).fill(0);
  const put = (offset: number, field: number, value: number): void => {
    words[offset + field] = value >>> 0;
  };
  const hexagons = state.hexagons.length;
  const orderPos = new Array<number>(hexagons).fill(0);
  state.order.forEach((h, i) => {
    orderPos[h] = i;
  });

  const order = words.length;
  words.push(...state.order);
  const targets = words.length;
  for (const hex of state.hexagons) words.push(...Array.from(hex.targets.subarray(0, TARGET_SLOTS), (t) => t >>> 0));
  const hexes = words.length;
  words.push(...new Array<number>(hexagons * PLAN_HEX.stride).fill(0));
  state.hexagons.forEach((hex, h) => {
    const o = hexes + h * PLAN_HEX.stride;
    put(o, fieldOf(PLAN_HEX, 'kind'), hexKind(hex.kind));
    put(o, fieldOf(PLAN_HEX, 'base'), layout.hexBase[h]!);
    put(o, fieldOf(PLAN_HEX, 'count'), hex.blocks * NEURONS_PER_BLOCK);
    put(o, fieldOf(PLAN_HEX, 'group'), hex.outputGroup);
    put(o, fieldOf(PLAN_HEX, 'targetsOffset'), targets + h * TARGET_SLOTS);
    put(o, fieldOf(PLAN_HEX, 'orderPos'), orderPos[h]!);
  });

  const groups = words.length;
  words.push(...new Array<number>(state.outputs.length * PLAN_GROUP.stride).fill(0));
  const ifaces = words.length;
  let ifaceCount = 0;
  for (const g of state.outputs) {
    for (const iface of g.interfaces) {
      const o = words.length;
      words.push(...new Array<number>(PLAN_IFACE.stride).fill(0));
      put(o, fieldOf(PLAN_IFACE, 'offset'), iface.offset);
      put(o, fieldOf(PLAN_IFACE, 'size'), iface.size);
      put(o, fieldOf(PLAN_IFACE, 'mode'), iface.mode === 'class' ? IFACE_CLASS : IFACE_VALUE);
    }
  }
  // Input list: every neuron of every input hexagon, with the column feeding it.
  const columnOf = new Map<number, number>();
  for (const b of inputs) {
    const iface = state.inputs[b.input]!;
    const base = layout.hexBase[iface.hexagon]! + iface.offset;
    for (let i = 0; i < b.size; i++) columnOf.set(base + i, b.column + i);
  }
  const inputList = words.length;
  let inputCount = 0;
  state.hexagons.forEach((hex, h) => {
    if (hex.kind !== 'input') return;
    const n = hex.blocks * NEURONS_PER_BLOCK;
    for (let i = 0; i < n; i++) {
      const cell = layout.hexBase[h]! + i;
      words.push(cell, columnOf.get(cell) ?? NO_COLUMN);
      inputCount++;
    }
  });

  // Row sources last: they grow with every link row, and everything before them stays put
  // (the plan is re-uploaded only from the first word that changed).
  state.outputs.forEach((g, i) => {
    const o = groups + i * PLAN_GROUP.stride;
    const sources = words.length;
    for (let r = 0; r < g.rows; r++) {
      const hex = g.rowSrcHex[r]!;
      const cell = layout.hexBase[hex]! + g.rowSrcNeuron[r]!;
      words.push((state.hexagons[hex]!.kind === 'input' ? cell | INPUT_SOURCE_BIT : cell) >>> 0);
    }
    const links = layout.links[i]!;
    put(o, fieldOf(PLAN_GROUP, 'hexagon'), g.hexagon);
    put(o, fieldOf(PLAN_GROUP, 'width'), g.width);
    put(o, fieldOf(PLAN_GROUP, 'widthCapacity'), g.widthCapacity);
    put(o, fieldOf(PLAN_GROUP, 'rows'), g.rows);
    put(o, fieldOf(PLAN_GROUP, 'weightsOffset'), links.weights);
    put(o, fieldOf(PLAN_GROUP, 'biasOffset'), links.bias);
    put(o, fieldOf(PLAN_GROUP, 'scaleOffset'), links.scale);
    put(o, fieldOf(PLAN_GROUP, 'usesOffset'), links.uses);
    put(o, fieldOf(PLAN_GROUP, 'sourcesOffset'), sources);
    put(o, fieldOf(PLAN_GROUP, 'outOffset'), layout.groupOut[i]!);
    put(o, fieldOf(PLAN_GROUP, 'ifaceStart'), ifaceCount);
    put(o, fieldOf(PLAN_GROUP, 'ifaceCount'), g.interfaces.length);
    ifaceCount += g.interfaces.length;
  });

  put(0, fieldOf(PLAN_HEADER, 'hexagonCount'), hexagons);
  put(0, fieldOf(PLAN_HEADER, 'orderOffset'), order);
  put(0, fieldOf(PLAN_HEADER, 'hexesOffset'), hexes);
  put(0, fieldOf(PLAN_HEADER, 'groupCount'), state.outputs.length);
  put(0, fieldOf(PLAN_HEADER, 'groupsOffset'), groups);
  put(0, fieldOf(PLAN_HEADER, 'ifacesOffset'), ifaces);
  put(0, fieldOf(PLAN_HEADER, 'inputsOffset'), inputList);
  put(0, fieldOf(PLAN_HEADER, 'inputCount'), inputCount);
  return Uint32Array.from(words, (w) => w >>> 0);
}

/** Offset of a named field (throws on a typo, at plan-building time rather than in a shader). */
export function fieldOf(record: { name: string; fields: readonly { name: string; offset: number }[] }, name: string): number {
  const f = record.fields.find((x) => x.name === name);
  if (!f) throw new Error(`${record.name} has no field ${name}`);
  return f.offset;
}
