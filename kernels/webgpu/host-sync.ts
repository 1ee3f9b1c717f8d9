/**
 * Keeping the host copy of a training network in step with the GPU copy (docs/architecture.md,
 * "Keeping the host copy in step"; the ownership rules are in network.ts's file comment): what
 * the host knows the GPU holds of the structure (the shadows), the replay of what the GPU
 * changed of it during a batch (appends, reductions), and the staging of what growth on the
 * host changed, as copies queued for the network's next command buffer.
 *
 * The host finds the synapses growth moved (a section moved to a larger run, a match value
 * inserted in order, compaction) by tags: while the host is behind, the meta word of every slot
 * it holds no value for reads TAG | its own global slot, the allocator moves those words with
 * the synapses, and a slot whose tag names another slot is a move the GPU replays (gather into
 * a transfer buffer, then scatter, so moves never read what another move wrote). A slot without
 * a tag holds a value the host wrote (a new synapse): uploaded. Section records are written
 * where their host-owned words changed, neuron records' first section and output row likewise;
 * buffers that must grow are replaced and their contents copied on the GPU, never refilled from
 * the host.
 */
import {
  COUNTER,
  FREE_SECTION,
  NEURON_STRIDE,
  PAGE_BYTES,
  PAGE_COLUMNS,
  RELEASE_PENDING,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TOLERANCE,
  SEC_USES,
  SYNAPSES_PER_PAGE,
} from '../layout.js';
import type { NetworkState, SynapsePage } from '../state.js';
import { type GrowableBuffer, type PendingCopies, changedRuns, flattenNeurons, scatterNeurons, slotByte, u32 } from './buffers.js';
import type { NetworkLayout } from './plan.js';

/** Meta word of a slot whose value only the GPU holds: TAG | the slot's global index
 *  (page × SYNAPSES_PER_PAGE + offset). A real meta word never has the bit (it holds a target
 *  and an activity count in 16 bits). */
export const SLOT_TAG = 0x80000000;

/** The network buffers whose contents the host's structure decides. */
export type StructureBuffer = 'sections' | 'neurons' | 'pages' | 'links';

/** What keeping the copies in step needs of the GPU network: its structure buffers, the
 *  copies queued for its next command buffer, and buffer replacement. */
export interface StructureTarget {
  readonly buffers: Readonly<Record<StructureBuffer, GrowableBuffer>>;
  readonly pending: PendingCopies;
  /** Replaces a buffer by one of at least `bytes`; the old one is returned for the copies out
   *  of it (destroyed after they are submitted). */
  swap(name: StructureBuffer, bytes: number, headroom?: number): GPUBuffer;
}

/** The host's side of one GPU network: what it knows the GPU copy holds of the structure, and
 *  whether the host copy's values are behind the GPU's. */
export class HostSync {
  /** What the GPU holds (as far as the host knows) of the neuron records: words 0..1 are the
   *  host's, the carried state of spiking neurons is the GPU's as of the last readback. */
  private neuronShadow: Uint32Array = new Uint32Array(0);
  /** The host's section records as last written to the GPU (their tolerance and use count are
   *  the GPU's, and not compared). */
  private sectionShadow: Int32Array = new Int32Array(0);
  /** Link rows per output group on the GPU. */
  private linkRows: number[] = [];
  /** The page list on the GPU (compaction replaces the host's) and each page's fill there. */
  private pagesOnGpu: SynapsePage[] = [];
  private usedOnGpu: number[] = [];
  /** Whole pages the page buffer holds. */
  pageCapacity = 1;
  /** The GPU copy learned since the host copy was last brought current: the host holds the
   *  structure, but not the values (see network.ts's file comment). */
  hostBehind = false;
  /** The host's meta words are slot tags (SLOT_TAG), not values. */
  private tagged = false;

  constructor(private readonly gpu: StructureTarget) {}

  /** After the host copy and the GPU copy were made equal (`neurons`: the neuron records as
   *  the GPU holds them): the shadows say so, and the host copy is current. */
  adopt(state: NetworkState, neurons: Uint32Array): void {
    this.sectionShadow = state.sectionsI32.slice(0, state.counters[COUNTER.sectionCount]! * SECTION_STRIDE);
    this.neuronShadow = neurons;
    this.linkRows = state.outputs.map((g) => g.rows);
    this.pagesOnGpu = state.pages;
    this.usedOnGpu = state.pages.map((p) => p.used);
    this.hostBehind = false;
    this.tagged = false;
  }

  /** Before the host's allocator runs on a copy whose values are behind: tags every slot the
   *  host holds (the used part of every page) with its own index, so the moves growth makes
   *  can be found afterwards (`stage`). */
  track(state: NetworkState): void {
    if (!this.hostBehind || this.tagged) return;
    state.pages.forEach((page, p) => {
      const base = p * SYNAPSES_PER_PAGE;
      const meta = page.meta;
      for (let i = 0; i < page.used; i++) meta[i] = (SLOT_TAG | (base + i)) >>> 0;
    });
    this.tagged = true;
  }

  /** Synapses the GPU appended inside their sections during a batch (the event list: one
   *  section id per synapse): their sections' counts, on the host and as the GPU holds them. */
  replayAppends(state: NetworkState, events: Uint32Array): void {
    const I = state.sectionsI32;
    const sections = state.counters[COUNTER.sectionCount]!;
    for (const s of events) {
      const o = s * SECTION_STRIDE;
      if (s >= sections || I[o + SEC_KIND]! & FREE_SECTION || I[o + SEC_SYN_COUNT]! >= I[o + SEC_SYN_CAPACITY]!) {
        throw new Error(`WebGPU: the host copy of the network disagrees with the device: the device appended a synapse to section ${s}, which has no free slot on the host`);
      }
      I[o + SEC_SYN_COUNT] = I[o + SEC_SYN_COUNT]! + 1;
      this.sectionShadow[o + SEC_SYN_COUNT] = I[o + SEC_SYN_COUNT]!;
    }
  }

  /** Sections the reduction pass shortened (the event list: section id and new count): their
   *  counts, and the RELEASE_PENDING mark of those it emptied, as the GPU holds them. */
  replayReductions(state: NetworkState, events: Uint32Array): void {
    const I = state.sectionsI32;
    for (let e = 0; e + 1 < events.length; e += 2) {
      const s = events[e]!;
      const count = events[e + 1]!;
      const o = s * SECTION_STRIDE;
      if (s >= state.counters[COUNTER.sectionCount]! || I[o + SEC_KIND]! & FREE_SECTION || count >= I[o + SEC_SYN_COUNT]!) {
        throw new Error(`WebGPU: the host copy of the network disagrees with the device: the reduction pass shortened section ${s} to ${count} synapses`);
      }
      I[o + SEC_SYN_COUNT] = count;
      if (count === 0) I[o + SEC_KIND] = I[o + SEC_KIND]! | RELEASE_PENDING;
      this.sectionShadow[o + SEC_SYN_COUNT] = I[o + SEC_SYN_COUNT]!;
      this.sectionShadow[o + SEC_KIND] = I[o + SEC_KIND]!;
    }
  }

  /**
   * After the host applied growth to `state`: queues what the GPU copy must change for the
   * next command buffer (see the file comment): buffers that grew (copied on the GPU), the
   * neurons' and sections' host-owned words that changed, new link rows, synapses growth moved
   * (copied on the GPU) or wrote (uploaded). `old` is the layout the GPU copy has, `layout` the
   * one `state` needs (networkLayout). The plan is the caller's.
   */
  stage(state: NetworkState, old: NetworkLayout, layout: NetworkLayout): void {
    if (this.hostBehind && !this.tagged) throw new Error('WebGPU: growth ran on a host copy whose synapses were not tracked (track() first)');
    this.stageNeurons(state, old, layout);
    this.stageLinks(state, old, layout);
    const touched = this.stageSections(state);
    this.stagePages(state, touched);
  }

  private stageNeurons(state: NetworkState, old: NetworkLayout, layout: NetworkLayout): void {
    const next = flattenNeurons(state, layout);
    const shadow = this.neuronShadow;
    const relaid = layout.cellsPerSlot !== old.cellsPerSlot || layout.hexBase.some((b, h) => b !== old.hexBase[h] || layout.hexCapacity[h] !== old.hexCapacity[h]);
    let target = this.gpu.buffers.neurons.buffer;
    if (relaid) {
      // Hexagons move: a new buffer, each hexagon's records copied there on the GPU (they
      // carry what only the GPU knows of spiking neurons).
      const previous = this.gpu.swap('neurons', next.byteLength);
      target = this.gpu.buffers.neurons.buffer;
      state.hexagons.forEach((_, h) =>
        this.gpu.pending.copy(
          previous,
          old.hexBase[h]! * NEURON_STRIDE * 4,
          target,
          layout.hexBase[h]! * NEURON_STRIDE * 4,
          Math.min(old.hexCapacity[h] ?? 0, layout.hexCapacity[h]!) * NEURON_STRIDE * 4,
        ),
      );
    }
    state.hexagons.forEach((_, h) => {
      const kept = Math.min(old.hexCapacity[h] ?? 0, layout.hexCapacity[h]!);
      for (let n = 0; n < kept; n++) {
        const i = (layout.hexBase[h]! + n) * NEURON_STRIDE;
        const j = (old.hexBase[h]! + n) * NEURON_STRIDE;
        next[i + 2] = shadow[j + 2]!;
        next[i + 3] = shadow[j + 3]!;
        if (next[i] !== shadow[j] || next[i + 1] !== shadow[j + 1]) this.gpu.pending.write(target, i * 4, next.subarray(i, i + 2));
      }
      // Records beyond the old capacity are new: the host's, in full.
      const from = (layout.hexBase[h]! + kept) * NEURON_STRIDE;
      const to = (layout.hexBase[h]! + layout.hexCapacity[h]!) * NEURON_STRIDE;
      if (to > from) this.gpu.pending.write(target, from * 4, next.subarray(from, to));
    });
    this.neuronShadow = next;
  }

  private stageLinks(state: NetworkState, old: NetworkLayout, layout: NetworkLayout): void {
    const relaid = old.linksLength !== layout.linksLength || layout.links.some((l, i) => l.weights !== old.links[i]?.weights || l.bias !== old.links[i]?.bias || l.uses !== old.links[i]?.uses);
    let target = this.gpu.buffers.links.buffer;
    if (relaid) {
      // A group's row capacity doubled: a new buffer, the learned links copied there on the GPU.
      const previous = this.gpu.swap('links', Math.max(1, layout.linksLength) * 4);
      target = this.gpu.buffers.links.buffer;
      state.outputs.forEach((_, i) => {
        const o = old.links[i]!;
        const n = layout.links[i]!;
        if (o.widthCapacity !== n.widthCapacity) throw new Error('WebGPU: an output widened during training (widths change only when data is bound)');
        const rows = this.linkRows[i] ?? 0;
        this.gpu.pending.copy(previous, o.weights * 4, target, n.weights * 4, rows * o.widthCapacity * 4);
        this.gpu.pending.copy(previous, o.bias * 4, target, n.bias * 4, o.widthCapacity * 4);
        this.gpu.pending.copy(previous, o.scale * 4, target, n.scale * 4, o.widthCapacity * 4);
        this.gpu.pending.copy(previous, o.uses * 4, target, n.uses * 4, rows * 4);
      });
    }
    state.outputs.forEach((g, i) => {
      const n = layout.links[i]!;
      const from = this.linkRows[i] ?? 0;
      if (g.rows <= from) return;
      // New rows: zero links and use counts, as allocateOutputRow wrote them.
      this.gpu.pending.write(target, (n.weights + from * n.widthCapacity) * 4, u32(g.weights.subarray(from * n.widthCapacity, g.rows * n.widthCapacity)));
      this.gpu.pending.write(target, (n.uses + from) * 4, u32(g.rowUses.subarray(from, g.rows)));
    });
    this.linkRows = state.outputs.map((g) => g.rows);
  }

  /** Writes the host-owned words of every section record that changed; returns the live
   *  sections whose records changed (their synapses may have moved). */
  private stageSections(state: NetworkState): number[] {
    const count = state.counters[COUNTER.sectionCount]!;
    const I = state.sectionsI32;
    const S = this.sectionShadow;
    const before = S.length / SECTION_STRIDE;
    if (state.sectionCapacity * SECTION_STRIDE * 4 > this.gpu.buffers.sections.bytes) {
      const previous = this.gpu.swap('sections', state.sectionCapacity * SECTION_STRIDE * 4);
      this.gpu.pending.copy(previous, 0, this.gpu.buffers.sections.buffer, 0, before * SECTION_STRIDE * 4);
    }
    const target = this.gpu.buffers.sections.buffer;
    const words = u32(I, count * SECTION_STRIDE);
    // Pieces of records to write, contiguous ones merged.
    let runStart = -1;
    let runEnd = -1;
    const flushRun = (): void => {
      if (runStart >= 0) this.gpu.pending.write(target, runStart * 4, words.subarray(runStart, runEnd));
      runStart = -1;
      runEnd = -1;
    };
    const piece = (from: number, to: number): void => {
      if (from !== runEnd) {
        flushRun();
        runStart = from;
      }
      runEnd = to;
    };
    const touched: number[] = [];
    for (let s = 0; s < count; s++) {
      const o = s * SECTION_STRIDE;
      const free = (I[o + SEC_KIND]! & FREE_SECTION) !== 0;
      if (s >= before) {
        piece(o, o + SECTION_STRIDE);
        if (!free) touched.push(s);
        continue;
      }
      const wasFree = (S[o + SEC_KIND]! & FREE_SECTION) !== 0;
      let changed = false;
      for (let w = 0; w < SECTION_STRIDE && !changed; w++) {
        if ((w !== SEC_TOLERANCE && w !== SEC_USES) || free || wasFree) changed = I[o + w] !== S[o + w];
      }
      if (!changed) continue;
      if (free || wasFree) {
        // Freed, or allocated anew: the whole record is the host's.
        piece(o, o + SECTION_STRIDE);
      } else {
        // The tolerance and use count are the GPU's.
        piece(o, o + SEC_TOLERANCE);
        piece(o + SEC_USES + 1, o + SECTION_STRIDE);
      }
      if (!free) touched.push(s);
    }
    flushRun();
    this.sectionShadow = I.slice(0, count * SECTION_STRIDE);
    return touched;
  }

  private stagePages(state: NetworkState, touched: readonly number[]): void {
    const compacted = state.pages !== this.pagesOnGpu;
    if (state.pages.length > this.pageCapacity) {
      const pages = Math.max(state.pages.length, this.pageCapacity * 2);
      const previous = this.gpu.swap('pages', pages * PAGE_BYTES, 1);
      this.pageCapacity = Math.floor(this.gpu.buffers.pages.bytes / PAGE_BYTES);
      this.usedOnGpu.forEach((used, p) => {
        for (let column = 0; column < PAGE_COLUMNS; column++) this.gpu.pending.copy(previous, slotByte(p, column, 0), this.gpu.buffers.pages.buffer, slotByte(p, column, 0), used * 4);
      });
    }
    const target = this.gpu.buffers.pages.buffer;
    const I = state.sectionsI32;
    let sections: Iterable<number> = touched;
    if (compacted) {
      // Compaction rewrote every live section into new pages.
      const live: number[] = [];
      for (let s = 0; s < state.counters[COUNTER.sectionCount]!; s++) if (!(I[s * SECTION_STRIDE + SEC_KIND]! & FREE_SECTION)) live.push(s);
      sections = live;
    }
    // Moves as runs (source, destination, length) and written slots as runs (slot, length).
    const moves: { src: number; dst: number; length: number; gathered: number }[] = [];
    const writes: { slot: number; length: number }[] = [];
    for (const s of sections) {
      const o = s * SECTION_STRIDE;
      const count = I[o + SEC_SYN_COUNT]!;
      if (count === 0) continue;
      const page = I[o + SEC_SYN_PAGE]!;
      const first = I[o + SEC_SYN_OFFSET]!;
      const meta = state.pages[page]!.meta;
      const base = page * SYNAPSES_PER_PAGE;
      for (let i = first; i < first + count; i++) {
        const slot = base + i;
        const m = meta[i]!;
        if (m === (SLOT_TAG | slot) >>> 0) continue;
        if (m >= SLOT_TAG) {
          const src = m - SLOT_TAG;
          const last = moves[moves.length - 1];
          if (last && last.src + last.length === src && last.dst + last.length === slot && src % SYNAPSES_PER_PAGE !== 0 && slot % SYNAPSES_PER_PAGE !== 0) last.length++;
          else moves.push({ src, dst: slot, length: 1, gathered: 0 });
        } else {
          const last = writes[writes.length - 1];
          if (last && last.slot + last.length === slot && slot % SYNAPSES_PER_PAGE !== 0) last.length++;
          else writes.push({ slot, length: 1 });
        }
      }
    }
    // Every move reads before any writes: gather all, then scatter.
    for (const m of moves) {
      m.gathered = this.gpu.pending.gather(PAGE_COLUMNS * m.length * 4);
      const page = Math.floor(m.src / SYNAPSES_PER_PAGE);
      for (let column = 0; column < PAGE_COLUMNS; column++)
        this.gpu.pending.copy(target, slotByte(page, column, m.src % SYNAPSES_PER_PAGE), 'gather', m.gathered + column * m.length * 4, m.length * 4);
    }
    for (const m of moves) {
      const page = Math.floor(m.dst / SYNAPSES_PER_PAGE);
      for (let column = 0; column < PAGE_COLUMNS; column++)
        this.gpu.pending.copy('gather', m.gathered + column * m.length * 4, target, slotByte(page, column, m.dst % SYNAPSES_PER_PAGE), m.length * 4);
    }
    for (const w of writes) {
      const page = Math.floor(w.slot / SYNAPSES_PER_PAGE);
      const offset = w.slot % SYNAPSES_PER_PAGE;
      const host = state.pages[page]!;
      for (const [column, words] of [u32(host.weight), u32(host.border), host.meta].entries())
        this.gpu.pending.write(target, slotByte(page, column, offset), words.subarray(offset, offset + w.length));
    }
    if (this.tagged) {
      // The GPU holds every value now: every slot is tagged with its own index again. Not only
      // the live slots scanned: the allocator may have written into a run it released again
      // within this growth (a new section that moved on), whose slots a later section's run
      // or the GPU's in-section appends may reuse. A host-side pass over the used slots.
      state.pages.forEach((page, p) => {
        const meta = page.meta;
        const base = p * SYNAPSES_PER_PAGE;
        for (let i = 0; i < page.used; i++) {
          const tag = (SLOT_TAG | (base + i)) >>> 0;
          if (meta[i] !== tag) meta[i] = tag;
        }
      });
    }
    this.pagesOnGpu = state.pages;
    this.usedOnGpu = state.pages.map((p) => p.used);
  }

  /** Queues writes of the neuron records where the host's differ from what the GPU holds.
   *  What spiking neurons carry changes without changing the network's shape (a reset of the
   *  carried state), so a resident spiking network is synced before use, when the host copy
   *  is current. */
  syncNeurons(state: NetworkState, layout: NetworkLayout): void {
    const neurons = flattenNeurons(state, layout);
    if (neurons.byteLength > this.gpu.buffers.neurons.bytes) {
      this.gpu.swap('neurons', neurons.byteLength);
      this.gpu.pending.write(this.gpu.buffers.neurons.buffer, 0, neurons);
    } else {
      this.queueChanges(this.gpu.buffers.neurons.buffer, 0, neurons, this.neuronShadow);
    }
    this.neuronShadow = neurons;
  }

  /** Takes neuron records read back from the GPU (spiking inference changed what they carry)
   *  into the host's network. */
  adoptNeurons(state: NetworkState, layout: NetworkLayout, words: Uint32Array): void {
    scatterNeurons(state, layout, words);
    this.neuronShadow = words.slice();
  }

  /** Queues writes of `next` over `previous` (what the buffer holds at `byteOffset`): the runs
   *  of changed words, runs closer than UPLOAD_GAP_WORDS merged, plus whatever `next` adds. */
  private queueChanges(buffer: GPUBuffer, byteOffset: number, next: Uint32Array, previous: Uint32Array): void {
    changedRuns(next, previous, (start, end) => this.gpu.pending.write(buffer, byteOffset + start * 4, next.subarray(start, end)));
  }
}

/** Checks that the host's section records equal the device's (`device`, read back), but for
 *  the words the GPU owns (tolerance, use count). */
export function verifySections(state: NetworkState, device: Uint32Array): void {
  const host = u32(state.sectionsI32, device.length);
  for (let i = 0; i < device.length; i++) {
    const word = i % SECTION_STRIDE;
    if (word === SEC_TOLERANCE || word === SEC_USES || host[i] === device[i]) continue;
    throw new Error(`WebGPU: the host copy of the network disagrees with the device: section ${Math.floor(i / SECTION_STRIDE)} word ${word} is ${host[i]} on the host, ${device[i]} on the device`);
  }
}

/** Checks that the host-owned words of the neuron records (first section, output row) equal
 *  the device's (`device`, read back). */
export function verifyNeurons(state: NetworkState, layout: NetworkLayout, device: Uint32Array): void {
  const host = flattenNeurons(state, layout);
  for (let n = 0; n < device.length / NEURON_STRIDE; n++) {
    for (let w = 0; w < 2; w++) {
      const i = n * NEURON_STRIDE + w;
      if (host[i] !== device[i]) throw new Error(`WebGPU: the host copy of the network disagrees with the device: neuron cell ${n} word ${w} is ${host[i]} on the host, ${device[i]} on the device`);
    }
  }
}
