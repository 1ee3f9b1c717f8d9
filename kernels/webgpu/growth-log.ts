/**
 * Draining the GPU's growth log: the requests a batch made, sorted into the order the CPU
 * backend would have made them in (sample, then walk lane, then hexagon in processing order,
 * neuron, and section in the neuron's chain), and applied per sample with that sample's key by
 * the serial allocator of kernels/growth.ts. Sections the reduction pass emptied are freed
 * after that, like the CPU frees them after the growth of the sample that ends a reduction
 * interval.
 */
import { GrowthKind, GrowthRequests, applyGrowth, freeSection, maybeCompact } from '../growth.js';
import {
  COUNTER,
  FREE_SECTION,
  NEURON_STRIDE,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  NEURONS_PER_BLOCK,
  MAX_SYNAPSES_PER_SECTION,
  RELEASE_PENDING,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_NEXT,
  SEC_SRC_HEX,
  SEC_SRC_NEURON,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SectionKind,
} from '../layout.js';
import type { NetworkState } from '../state.js';
import { GROWTH_REQUEST, REQUEST_ROW_SHIFT } from './records.js';
import { fieldOf } from './plan.js';

export interface GrowthRequestRecord {
  kind: number;
  a: number;
  b: number;
  value: number;
  row: number;
  lane: number;
  orderPos: number;
  neuron: number;
  chain: number;
}

const F = {
  kindRow: fieldOf(GROWTH_REQUEST, 'kindRow'),
  a: fieldOf(GROWTH_REQUEST, 'a'),
  b: fieldOf(GROWTH_REQUEST, 'b'),
  value: fieldOf(GROWTH_REQUEST, 'value'),
};

/** Decodes `count` records and sorts them into the CPU's order. The keys the order needs
 *  besides the sample (the walk lane, the source hexagon's place in the processing order, the
 *  source neuron, the section's place in the neuron's chain) are read from `state`, the
 *  network the batch ran on (the walks change none of them). */
export function decodeRequests(words: Uint32Array, count: number, state: NetworkState): GrowthRequestRecord[] {
  const floats = new Float32Array(words.buffer, words.byteOffset, words.length);
  const orderPos = new Array<number>(state.hexagons.length).fill(0);
  state.order.forEach((h, i) => {
    orderPos[h] = i;
  });
  const I = state.sectionsI32;
  const out: GrowthRequestRecord[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * GROWTH_REQUEST.stride;
    const kindRow = words[o + F.kindRow]!;
    const kind = kindRow & ((1 << REQUEST_ROW_SHIFT) - 1);
    const a = words[o + F.a]!;
    const b = words[o + F.b]!;
    let hexagon = a;
    let neuron = b;
    let chain = 0;
    if (kind !== GrowthKind.newSection) {
      hexagon = I[a * SECTION_STRIDE + SEC_SRC_HEX]!;
      neuron = I[a * SECTION_STRIDE + SEC_SRC_NEURON]!;
      const hex = state.hexagons[hexagon]!;
      for (let s = hex.neuronsI32[neuron * NEURON_STRIDE + NEU_FIRST_SECTION]!; s >= 0 && s !== a; s = I[s * SECTION_STRIDE + SEC_NEXT]!) chain++;
    }
    out.push({ kind, a, b, value: floats[o + F.value]!, row: kindRow >>> REQUEST_ROW_SHIFT, lane: kind === GrowthKind.newSection ? 0 : a & 1, orderPos: orderPos[hexagon]!, neuron, chain });
  }
  out.sort((x, y) => x.row - y.row || x.lane - y.lane || x.orderPos - y.orderPos || x.neuron - y.neuron || x.chain - y.chain || x.kind - y.kind);
  return out;
}

const lists = [new GrowthRequests(64), new GrowthRequests(64)];

/** Applies sorted requests, sample by sample, with key firstKey + row. A request for a
 *  section that is gone (freed, or emptied by this batch's reduction pass) is skipped. */
export function applyRequests(state: NetworkState, requests: readonly GrowthRequestRecord[], firstKey: number): void {
  let i = 0;
  while (i < requests.length) {
    const row = requests[i]!.row;
    lists[0]!.count = 0;
    lists[1]!.count = 0;
    for (; i < requests.length && requests[i]!.row === row; i++) {
      const r = requests[i]!;
      if (r.kind !== GrowthKind.newSection && state.sectionsI32[r.a * SECTION_STRIDE + SEC_KIND]! & (FREE_SECTION | RELEASE_PENDING)) continue;
      lists[r.lane & 1]!.push(r.kind, r.a, r.b, r.value);
    }
    if (lists[0]!.count > 0 || lists[1]!.count > 0) applyGrowth(state, lists, firstKey + row);
  }
}

/** Frees the sections the GPU reduction pass marked RELEASE_PENDING (in id order). */
export function releaseEmptied(state: NetworkState): number {
  const I = state.sectionsI32;
  const total = state.counters[COUNTER.sectionCount]!;
  let released = 0;
  for (let s = 0; s < total; s++) {
    const o = s * SECTION_STRIDE;
    if (!(I[o + SEC_KIND]! & RELEASE_PENDING)) continue;
    I[o + SEC_KIND] = I[o + SEC_KIND]! & ~RELEASE_PENDING;
    freeSection(state, s);
    released++;
  }
  if (released > 0) maybeCompact(state);
  return released;
}

/** Requests a batch of `samples` can make at most, counted from the network as it is:
 *  `expected` sizes the first readback of a network whose batches have not been measured yet
 *  (RateWindow), `capacity` the log itself. `events` bounds the synapses the batch can append
 *  inside their sections (the free slots of the plain sections' runs; a run never grows during
 *  a batch), so the event list never overflows. */
export function requestBounds(state: NetworkState, samples: number): { expected: number; capacity: number; events: number } {
  let unconnected = 0;
  for (const hex of state.hexagons) {
    if (hex.kind === 'output') continue;
    const n = hex.blocks * NEURONS_PER_BLOCK;
    for (let i = 0; i < n; i++) {
      if (hex.neuronsI32[i * NEURON_STRIDE + NEU_FIRST_SECTION]! < 0 && hex.neuronsI32[i * NEURON_STRIDE + NEU_OUTPUT_ROW]! < 0) unconnected++;
    }
  }
  let full = 0;
  let splittable = 0;
  let match = 0;
  let free = 0;
  const I = state.sectionsI32;
  const total = state.counters[COUNTER.sectionCount]!;
  for (let s = 0; s < total; s++) {
    const o = s * SECTION_STRIDE;
    const kind = I[o + SEC_KIND]!;
    if (kind & FREE_SECTION) continue;
    if (kind === SectionKind.match) match++;
    else if (kind === SectionKind.plain) {
      const count = I[o + SEC_SYN_COUNT]!;
      if (count >= MAX_SYNAPSES_PER_SECTION) splittable++;
      else if (count >= I[o + SEC_SYN_CAPACITY]!) full++;
      else free += I[o + SEC_SYN_CAPACITY]! - count;
    }
  }
  // A section that must move asks once per new maximum of its leftover potential in a batch
  // (mnist8k: 1.6 times on average, at most 9): the first readback holds two per full
  // section, the log eight.
  const expected = unconnected + 2 * full + splittable + samples * match + 64;
  const capacity = unconnected + 8 * full + splittable + samples * match + 1024;
  return { expected, capacity, events: free };
}

/**
 * How many records (or words) of a log to read back with a batch, before the batch ran: twice
 * the most its recent batches made per sample, times the samples, plus a margin. The window
 * is what crosses the bus every batch whatever the batch made, so it follows what batches
 * make rather than what they could make; a batch that made more costs a second readback
 * (counted). Until `memory` batches of the network were measured it reads `first` (an upper
 * bound, or a generous guess).
 */
export class RateWindow {
  private readonly rates: number[] = [];

  constructor(
    /** Added to every window (records or words). */
    private readonly margin: number,
    /** Batches remembered. */
    private readonly memory = 4,
  ) {}

  size(samples: number, first: number, capacity: number): number {
    // The first batches of a network say little about the next (the first finds it empty).
    if (this.rates.length < this.memory) return Math.max(0, Math.min(first, capacity));
    const rate = Math.max(...this.rates);
    return Math.max(0, Math.min(capacity, Math.ceil(2 * rate * samples) + this.margin));
  }

  record(made: number, samples: number): void {
    this.rates.push(made / Math.max(1, samples));
    if (this.rates.length > this.memory) this.rates.shift();
  }
}

/**
 * The requests of a batch against the host's structure: a section that asks to move must be
 * full (its in-section appends replayed), one that asks for a split must hold the most
 * synapses a section holds. Anything else means the host and the device copy of the network
 * went apart, and growing on would corrupt the network: a clear error instead.
 */
export function checkRequests(state: NetworkState, requests: readonly GrowthRequestRecord[]): void {
  const I = state.sectionsI32;
  const seen = new Set<number>();
  for (const r of requests) {
    if (r.kind !== GrowthKind.appendSynapse && r.kind !== GrowthKind.split) continue;
    if (seen.has(r.a)) continue;
    seen.add(r.a);
    const o = r.a * SECTION_STRIDE;
    const count = I[o + SEC_SYN_COUNT]!;
    const want = r.kind === GrowthKind.split ? MAX_SYNAPSES_PER_SECTION : I[o + SEC_SYN_CAPACITY]!;
    if (r.a >= state.counters[COUNTER.sectionCount]! || I[o + SEC_KIND]! & (FREE_SECTION | RELEASE_PENDING) || count !== want) {
      throw new Error(
        `WebGPU: the host copy of the network disagrees with the device: section ${r.a} asks to ${r.kind === GrowthKind.split ? 'split' : 'move'} with ${count} synapses (expected ${want})`,
      );
    }
  }
}
