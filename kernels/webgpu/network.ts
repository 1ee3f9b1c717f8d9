/**
 * One network on the GPU: storage buffers holding exactly the bytes of its NetworkState
 * (section table, neuron records, synapse pages, output links), the plan tables, per-sample
 * scratch, and the transfers that keep the host's NetworkState and the GPU copy in step.
 *
 * Who owns what while a training job runs (docs/architecture.md, "Keeping the host copy in
 * step"):
 *
 * - The **host copy owns the structure**: every word of the section records but the tolerance
 *   and the use count, the neurons' first section and output row, the page list and fill, the
 *   free lists, the output groups' rows. The allocator (kernels/growth.ts) runs on it. What the
 *   GPU changes of the structure during a batch (a synapse appended inside its section, a
 *   section the reduction pass shortened) comes back as a short event list and is replayed.
 * - The **GPU copy owns the values**: weights, borders, synapse activity counts, tolerances and
 *   section use counts, the output links, the carried state of spiking neurons. They are read
 *   back only when the host copy must be current (`sync`, or a batch that reads the network
 *   back with its growth log: the last one of a job).
 *
 * After the host applied growth, `stage` queues what the GPU must change, as copy commands at
 * the start of the next command buffer (`flush`): no extra submit. The host finds the synapses
 * growth moved (a section moved to a larger run, a match value inserted in order, compaction)
 * by tags: while the host is behind, the meta word of every slot it holds no value for reads
 * TAG | its own global slot, the allocator moves those words with the synapses, and a slot
 * whose tag names another slot is a move the GPU replays (gather into a transfer buffer, then
 * scatter, so moves never read what another move wrote). A slot without a tag holds a value
 * the host wrote (a new synapse): uploaded. Section records are written where their host-owned
 * words changed, neuron records' first section and output row likewise; buffers that must
 * grow are replaced and their contents copied on the GPU, never refilled from the host.
 *
 * Buffers grow only between batches and only geometrically (the page buffer by whole pages,
 * doubling), never per step.
 */
import {
  FREE_SECTION,
  NEURON_STRIDE,
  PAGE_BORDER_COLUMN,
  PAGE_BYTES,
  PAGE_COLUMNS,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TOLERANCE,
  SEC_USES,
  SYNAPSES_PER_PAGE,
  COUNTER,
  RELEASE_PENDING,
} from '../layout.js';
import type { NetworkState, SynapsePage } from '../state.js';
import { BufferUsage, type GpuContext, MapMode } from './gpu.js';
import { Binding, type BindingName, type GpuPipelines } from './pipelines.js';
import { type NetworkLayout, buildPlan, networkLayout } from './plan.js';
import { BATCH_PARAMS, GROWTH_HEADER, GROWTH_REQUEST, NEURON_CELL, SECTION_WALK } from './records.js';
import { RateWindow } from './growth-log.js';
import type { InputBinding, TransferCounters } from '../contract.js';

/** Changed words closer than this are uploaded in one write (1 KiB: a write costs more than
 *  copying that much). Only where the host holds every word in between. */
const UPLOAD_GAP_WORDS = 256;

/** Meta word of a slot whose value only the GPU holds: TAG | the slot's global index
 *  (page × SYNAPSES_PER_PAGE + offset). A real meta word never has the bit (it holds a target
 *  and an activity count in 16 bits). */
export const SLOT_TAG = 0x80000000;

const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;

/** A storage buffer replaced by a larger one when it must grow. */
class GrowableBuffer {
  buffer: GPUBuffer;
  bytes: number;

  constructor(
    private readonly context: GpuContext,
    private readonly label: string,
    bytes: number,
  ) {
    this.bytes = roundUp(Math.max(bytes, 16));
    this.buffer = this.create(this.bytes);
  }

  private create(bytes: number): GPUBuffer {
    if (bytes > this.context.maxStorageBindingBytes) {
      throw new RangeError(
        `${this.label} needs ${bytes} bytes, more than this adapter binds at once (${this.context.maxStorageBindingBytes}); the network is too large for the WebGPU backend on this device`,
      );
    }
    return this.context.device.createBuffer({ size: bytes, usage: STORAGE, label: this.label });
  }

  private sizeFor(bytes: number, headroom: number): number {
    return roundUp(Math.min(Math.max(bytes, Math.ceil(this.bytes * headroom)), Math.max(bytes, this.context.maxStorageBindingBytes)));
  }

  /** Makes room for `bytes` (with headroom, so growth stays geometric). Returns true when the
   *  buffer was replaced: its contents are gone and the bind group must be rebuilt. */
  ensure(bytes: number, headroom = 1.5): boolean {
    if (bytes <= this.bytes) return false;
    const size = this.sizeFor(bytes, headroom);
    this.buffer.destroy();
    this.bytes = size;
    this.buffer = this.create(size);
    return true;
  }

  /** A new buffer of at least `bytes` in place of the old one, which is returned (not
   *  destroyed: commands still to be submitted copy from it). */
  swap(bytes: number, headroom = 1.5): GPUBuffer {
    const old = this.buffer;
    const size = bytes <= this.bytes ? this.bytes : this.sizeFor(bytes, headroom);
    this.buffer = this.create(size);
    this.bytes = size;
    return old;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}

function roundUp(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

function u32(view: ArrayBufferView, words?: number): Uint32Array {
  return new Uint32Array(view.buffer, view.byteOffset, words ?? view.byteLength / 4);
}

/** Byte offset of synapse `offset` of page `page`, column `column`, in the page buffer. */
function slotByte(page: number, column: number, offset: number): number {
  return page * PAGE_BYTES + (column * SYNAPSES_PER_PAGE + offset) * 4;
}

/** Words of the host arrays, as the GPU stores them. */
function flattenNeurons(state: NetworkState, layout: NetworkLayout): Uint32Array {
  const out = new Uint32Array(Math.max(1, layout.cellsPerSlot) * NEURON_STRIDE);
  state.hexagons.forEach((hex, h) => {
    const words = layout.hexCapacity[h]! * NEURON_STRIDE;
    if (words > 0) out.set(u32(hex.neuronsI32, words), layout.hexBase[h]! * NEURON_STRIDE);
  });
  return out;
}

function scatterNeurons(state: NetworkState, layout: NetworkLayout, words: Uint32Array): void {
  state.hexagons.forEach((hex, h) => {
    const n = layout.hexCapacity[h]! * NEURON_STRIDE;
    if (n > 0) u32(hex.neuronsI32, n).set(words.subarray(layout.hexBase[h]! * NEURON_STRIDE, layout.hexBase[h]! * NEURON_STRIDE + n));
  });
}

function flattenLinks(state: NetworkState, layout: NetworkLayout): Uint32Array {
  const out = new Float32Array(Math.max(1, layout.linksLength));
  state.outputs.forEach((g, i) => {
    const l = layout.links[i]!;
    if (l.rowCapacity * l.widthCapacity > 0) out.set(g.weights.subarray(0, l.rowCapacity * l.widthCapacity), l.weights);
    if (l.widthCapacity > 0) {
      out.set(g.bias.subarray(0, l.widthCapacity), l.bias);
      out.set(g.scale.subarray(0, l.widthCapacity), l.scale);
    }
    if (l.rowCapacity > 0) out.set(g.rowUses.subarray(0, l.rowCapacity), l.uses);
  });
  return new Uint32Array(out.buffer);
}

function scatterLinks(state: NetworkState, layout: NetworkLayout, words: Uint32Array): void {
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  state.outputs.forEach((g, i) => {
    const l = layout.links[i]!;
    if (l.rowCapacity * l.widthCapacity > 0) g.weights.set(f.subarray(l.weights, l.weights + l.rowCapacity * l.widthCapacity));
    if (l.widthCapacity > 0) {
      g.bias.set(f.subarray(l.bias, l.bias + l.widthCapacity));
      g.scale.set(f.subarray(l.scale, l.scale + l.widthCapacity));
    }
    if (l.rowCapacity > 0) g.rowUses.set(f.subarray(l.uses, l.uses + l.rowCapacity));
  });
}

/** Where a copy reads or writes: a buffer, or a region of the transfer buffer that exists only
 *  when the copies are encoded (`upload`: host words written just before; `gather`: moved
 *  synapses in transit). */
type Place = GPUBuffer | 'upload' | 'gather';

interface CopyOp {
  src: Place;
  srcOffset: number;
  dst: Place;
  dstOffset: number;
  bytes: number;
}

/** Copies queued for the start of the network's next command buffer, in order. */
class PendingCopies {
  uploads: Uint32Array[] = [];
  uploadBytes = 0;
  gatherBytes = 0;
  ops: CopyOp[] = [];
  /** Buffers replaced by larger ones: destroyed once the copies out of them are submitted. */
  retired: GPUBuffer[] = [];

  /** Host words to write into `dst` (copied now). */
  write(dst: GPUBuffer, dstOffset: number, words: Uint32Array): void {
    if (words.length === 0) return;
    const last = this.ops[this.ops.length - 1];
    const srcOffset = this.uploadBytes;
    this.uploads.push(words.slice());
    this.uploadBytes += words.byteLength;
    if (last && last.src === 'upload' && last.dst === dst && last.srcOffset + last.bytes === srcOffset && last.dstOffset + last.bytes === dstOffset) {
      last.bytes += words.byteLength;
      return;
    }
    this.ops.push({ src: 'upload', srcOffset, dst, dstOffset, bytes: words.byteLength });
  }

  copy(src: Place, srcOffset: number, dst: Place, dstOffset: number, bytes: number): void {
    if (bytes > 0) this.ops.push({ src, srcOffset, dst, dstOffset, bytes });
  }

  /** Room for `bytes` of moved synapses in the gather region: its offset. */
  gather(bytes: number): number {
    const at = this.gatherBytes;
    this.gatherBytes += bytes;
    return at;
  }

  clear(): void {
    this.uploads = [];
    this.uploadBytes = 0;
    this.gatherBytes = 0;
    this.ops = [];
    this.retired = [];
  }
}

/** The parts of one readback, each at its offset in one staging buffer. */
export class Readback {
  readonly parts: { buffer: GPUBuffer; offset: number; at: number; bytes: number }[] = [];
  total = 0;

  /** Adds `bytes` of `buffer` from `offset`; returns where they will be in the staging buffer. */
  add(buffer: GPUBuffer, offset: number, bytes: number): number {
    const at = this.total;
    if (bytes > 0) this.parts.push({ buffer, offset, at, bytes });
    this.total += roundUp(bytes);
    return at;
  }
}

/** Where a whole network lies in a readback (`addNetwork`). */
export interface NetworkReadback {
  sections: { at: number; words: number };
  pages: { at: number; used: number }[];
  links: { at: number; words: number };
  neurons: { at: number; words: number } | undefined;
}

/** Scratch sizes a job needs. */
export interface ScratchNeeds {
  /** Samples in flight at once (one cell row each). */
  slots: number;
  /** Output rows kept (one per sample of a batch). */
  valueRows: number;
  /** Words of the samples buffer (inputs + targets). */
  sampleWords: number;
  /** Growth request records. */
  growthRecords: number;
  /** Words of the event list after the records (0: none). */
  eventWords?: number;
}

export class GpuNetwork {
  readonly params: GPUBuffer;
  private readonly buffers: Record<Exclude<BindingName, 'batch'>, GrowableBuffer>;
  /** The layout of the neuron and link buffers on the GPU. */
  layout: NetworkLayout;
  private planShadow: Uint32Array = new Uint32Array(0);
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
  private pageCapacity = 0;
  private bindGroup: GPUBindGroup | undefined;
  private staging: GPUBuffer | undefined;
  private stagingBytes = 0;
  private transfer: GPUBuffer | undefined;
  private transferBytes = 0;
  private readonly pending = new PendingCopies();
  /** Replaced buffers whose copies are encoded: destroyed after the next submit. */
  private retiring: GPUBuffer[] = [];
  /** The GPU copy learned since the host copy was last brought current: the host holds the
   *  structure, but not the values (see the file comment). */
  hostBehind = false;
  /** The host's meta words are slot tags (SLOT_TAG), not values. */
  private tagged = false;
  /** How much of the growth log and the event list to read back with a batch. */
  readonly windows = { requests: new RateWindow(16), events: new RateWindow(32), reductions: new RateWindow(32) };
  slots = 0;
  valueRows = 0;
  growthRecords = 0;
  /** Words of the event list (after the growthRecords request records). */
  eventWords = 0;

  constructor(
    readonly context: GpuContext,
    private readonly pipelines: GpuPipelines,
    state: NetworkState,
    readonly counters: TransferCounters,
  ) {
    const device = context.device;
    this.params = device.createBuffer({ size: BATCH_PARAMS.stride * 4, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST, label: 'batch params' });
    this.layout = networkLayout(state);
    const make = (label: string, bytes: number): GrowableBuffer => new GrowableBuffer(context, label, bytes);
    this.buffers = {
      plan: make('plan', 1024),
      sections: make('sections', 64 * 64),
      neurons: make('neurons', 1024),
      pages: make('pages', PAGE_BYTES),
      links: make('links', 1024),
      cells: make('cells', 1024),
      accum: make('accum', 1024),
      walks: make('walks', 1024),
      outcells: make('outcells', 1024),
      growth: make('growth', 1024),
      samples: make('samples', 1024),
    };
    this.pageCapacity = 1;
  }

  buffer(name: Exclude<BindingName, 'batch'>): GPUBuffer {
    return this.buffers[name].buffer;
  }

  /** Word offset of the event list in the growth buffer (training batches). */
  get eventBase(): number {
    return GROWTH_HEADER.stride + this.growthRecords * GROWTH_REQUEST.stride;
  }

  private write(buffer: GPUBuffer, byteOffset: number, data: Uint32Array): void {
    if (data.length === 0) return;
    // Dawn's writeBuffer takes no SharedArrayBuffer (the host network lives in them): copy.
    const source = data.buffer instanceof SharedArrayBuffer ? data.slice() : data;
    this.context.device.queue.writeBuffer(buffer, byteOffset, source.buffer, source.byteOffset, source.byteLength);
    this.counters.bytesUploaded += data.byteLength;
  }

  /** Queues writes of `next` over `previous` (what the buffer holds at `byteOffset`): the runs
   *  of changed words, runs closer than UPLOAD_GAP_WORDS merged, plus whatever `next` adds. */
  private queueChanges(buffer: GPUBuffer, byteOffset: number, next: Uint32Array, previous: Uint32Array): void {
    const common = Math.min(next.length, previous.length);
    let i = 0;
    while (i < common) {
      if (next[i] === previous[i]) {
        i++;
        continue;
      }
      const start = i;
      let end = i + 1;
      for (let j = end; j < common && j < end + UPLOAD_GAP_WORDS; j++) {
        if (next[j] !== previous[j]) end = j + 1;
      }
      this.pending.write(buffer, byteOffset + start * 4, next.subarray(start, end));
      i = end;
    }
    if (next.length > common) this.pending.write(buffer, byteOffset + common * 4, next.subarray(common));
  }

  private replaced(): void {
    this.bindGroup = undefined;
  }

  /** Replaces a buffer of the network by one of at least `bytes`; the old one is returned for
   *  the copies out of it and destroyed after they are submitted. */
  private swap(name: 'sections' | 'neurons' | 'pages' | 'links', bytes: number, headroom = 1.5): GPUBuffer {
    const old = this.buffers[name].swap(bytes, headroom);
    this.pending.retired.push(old);
    this.replaced();
    return old;
  }

  /** The bind group over the current buffers (rebuilt only after a buffer was replaced). */
  getBindGroup(): GPUBindGroup {
    if (!this.bindGroup) {
      const entries: GPUBindGroupEntry[] = [{ binding: Binding.batch, resource: { buffer: this.params } }];
      for (const [name, gb] of Object.entries(this.buffers) as [Exclude<BindingName, 'batch'>, GrowableBuffer][]) {
        entries.push({ binding: Binding[name], resource: { buffer: gb.buffer } });
      }
      this.bindGroup = this.context.device.createBindGroup({ layout: this.pipelines.bindGroupLayout, entries });
    }
    return this.bindGroup;
  }

  // -------------------------------------------------------------------------------------
  // Whole network
  // -------------------------------------------------------------------------------------

  /** Makes the GPU copy equal to `state` (every buffer written in full). The host copy must be
   *  current: it is from now on what the GPU holds. */
  load(state: NetworkState, inputs: readonly InputBinding[]): void {
    this.discardPending();
    this.layout = networkLayout(state);
    const count = state.counters[COUNTER.sectionCount]!;
    if (this.buffers.sections.ensure(state.sectionCapacity * SECTION_STRIDE * 4)) this.replaced();
    this.write(this.buffers.sections.buffer, 0, u32(state.sectionsI32, count * SECTION_STRIDE));
    if (state.pages.length > this.pageCapacity) {
      const pages = Math.max(state.pages.length, this.pageCapacity * 2);
      if (this.buffers.pages.ensure(pages * PAGE_BYTES, 1)) this.replaced();
      this.pageCapacity = Math.floor(this.buffers.pages.bytes / PAGE_BYTES);
    }
    state.pages.forEach((page, p) => {
      for (const [column, words] of [u32(page.weight), u32(page.border), page.meta].entries()) this.write(this.buffers.pages.buffer, slotByte(p, column, 0), words.subarray(0, page.used));
    });
    const neurons = flattenNeurons(state, this.layout);
    if (this.buffers.neurons.ensure(neurons.byteLength)) this.replaced();
    this.write(this.buffers.neurons.buffer, 0, neurons);
    const links = flattenLinks(state, this.layout);
    if (this.buffers.links.ensure(links.byteLength)) this.replaced();
    this.write(this.buffers.links.buffer, 0, links);
    this.planShadow = new Uint32Array(0);
    this.setInputs(state, inputs);
    this.adoptStructure(state, neurons);
    this.hostBehind = false;
    this.tagged = false;
  }

  /** After the host copy and the GPU copy were made equal: the shadows say so. */
  private adoptStructure(state: NetworkState, neurons: Uint32Array): void {
    this.sectionShadow = state.sectionsI32.slice(0, state.counters[COUNTER.sectionCount]! * SECTION_STRIDE);
    this.neuronShadow = neurons;
    this.linkRows = state.outputs.map((g) => g.rows);
    this.pagesOnGpu = state.pages;
    this.usedOnGpu = state.pages.map((p) => p.used);
  }

  private discardPending(): void {
    for (const b of [...this.pending.retired, ...this.retiring]) b.destroy();
    this.pending.clear();
    this.retiring = [];
  }

  /** Rebuilds the plan (after growth, or for another data binding). The plan is the host's
   *  alone (no copy ever writes it), so it is written directly. */
  setInputs(state: NetworkState, inputs: readonly InputBinding[]): void {
    const plan = buildPlan(state, this.layout, inputs);
    if (this.buffers.plan.ensure(plan.byteLength)) {
      this.replaced();
      this.planShadow = new Uint32Array(0);
    }
    const previous = this.planShadow;
    const common = Math.min(plan.length, previous.length);
    let i = 0;
    while (i < common) {
      if (plan[i] === previous[i]) {
        i++;
        continue;
      }
      const start = i;
      let end = i + 1;
      for (let j = end; j < common && j < end + UPLOAD_GAP_WORDS; j++) if (plan[j] !== previous[j]) end = j + 1;
      this.write(this.buffers.plan.buffer, start * 4, plan.subarray(start, end));
      i = end;
    }
    if (plan.length > common) this.write(this.buffers.plan.buffer, common * 4, plan.subarray(common));
    this.planShadow = plan;
  }

  /** Sizes the scratch buffers (replaced only when they must grow). */
  ensureScratch(needs: ScratchNeeds, state: NetworkState): void {
    const cells = Math.max(1, this.layout.cellsPerSlot) * needs.slots;
    const grew = [
      this.buffers.cells.ensure(cells * NEURON_CELL.stride * 4),
      this.buffers.accum.ensure(cells * 2 * 4),
      this.buffers.walks.ensure(Math.max(1, state.sectionCapacity) * SECTION_WALK.stride * 4),
      this.buffers.outcells.ensure(Math.max(1, this.layout.totalWidth) * (2 * needs.slots + needs.valueRows) * 4),
      this.buffers.growth.ensure((GROWTH_HEADER.stride + needs.growthRecords * GROWTH_REQUEST.stride + (needs.eventWords ?? 0)) * 4),
      this.buffers.samples.ensure(needs.sampleWords * 4),
    ];
    if (grew.some(Boolean)) this.replaced();
    this.slots = needs.slots;
    this.valueRows = needs.valueRows;
    const words = Math.floor(this.buffers.growth.bytes / 4) - GROWTH_HEADER.stride;
    if (needs.eventWords === undefined) {
      // Callers that read no events (single steps of the twin tests): all records.
      this.growthRecords = Math.floor(words / GROWTH_REQUEST.stride);
      this.eventWords = 0;
    } else {
      this.growthRecords = needs.growthRecords;
      this.eventWords = words - needs.growthRecords * GROWTH_REQUEST.stride;
    }
  }

  /** Makes the growth buffer hold `words` event words right after its header (the reduction
   *  pass, which makes no requests); returns the words it holds. */
  ensureEventList(words: number): number {
    if (this.buffers.growth.ensure((GROWTH_HEADER.stride + words) * 4)) this.replaced();
    return Math.floor(this.buffers.growth.bytes / 4) - GROWTH_HEADER.stride;
  }

  /** Clears the per-batch scratch (cells of the slots in use, accumulators, walk scratch, the
   *  growth log header). Copy commands, not dispatches. */
  encodeClearScratch(encoder: GPUCommandEncoder, state: NetworkState, slots: number): void {
    const cells = Math.max(1, this.layout.cellsPerSlot) * slots;
    encoder.clearBuffer(this.buffers.cells.buffer, 0, roundUp(cells * NEURON_CELL.stride * 4));
    encoder.clearBuffer(this.buffers.accum.buffer, 0, roundUp(cells * 2 * 4));
    encoder.clearBuffer(this.buffers.walks.buffer, 0, roundUp(Math.max(1, state.counters[COUNTER.sectionCount]!) * SECTION_WALK.stride * 4));
    encoder.clearBuffer(this.buffers.growth.buffer, 0, GROWTH_HEADER.stride * 4);
  }

  writeParams(words: Uint32Array): void {
    this.write(this.params, 0, words);
  }

  writeSamples(words: Uint32Array): void {
    this.write(this.buffers.samples.buffer, 0, words);
    this.counters.sampleBytesUploaded += words.byteLength;
  }

  // -------------------------------------------------------------------------------------
  // Command buffers: pending copies first, one submit
  // -------------------------------------------------------------------------------------

  /** Encodes the copies queued by `stage` (and `syncNeurons`) at the start of a command buffer
   *  that uses the network. Every command buffer of the network starts with this. */
  flush(encoder: GPUCommandEncoder): void {
    const p = this.pending;
    this.retiring.push(...p.retired);
    p.retired = [];
    if (p.ops.length === 0) {
      p.clear();
      return;
    }
    const total = roundUp(p.uploadBytes + p.gatherBytes);
    if (!this.transfer || this.transferBytes < total) {
      if (this.transfer) this.retiring.push(this.transfer);
      this.transferBytes = roundUp(Math.max(total, this.transferBytes * 1.5, 4096));
      if (this.transferBytes > this.context.maxBufferBytes) this.transferBytes = total;
      this.transfer = this.context.device.createBuffer({ size: this.transferBytes, usage: BufferUsage.COPY_SRC | BufferUsage.COPY_DST, label: 'transfer' });
    }
    const transfer = this.transfer;
    if (p.uploadBytes > 0) {
      const words = new Uint32Array(p.uploadBytes / 4);
      let at = 0;
      for (const chunk of p.uploads) {
        words.set(chunk, at);
        at += chunk.length;
      }
      this.write(transfer, 0, words);
    }
    const gatherBase = p.uploadBytes;
    const resolve = (place: Place, offset: number): [GPUBuffer, number] => (place === 'upload' ? [transfer, offset] : place === 'gather' ? [transfer, gatherBase + offset] : [place, offset]);
    for (const op of p.ops) {
      const [src, srcOffset] = resolve(op.src, op.srcOffset);
      const [dst, dstOffset] = resolve(op.dst, op.dstOffset);
      encoder.copyBufferToBuffer(src, srcOffset, dst, dstOffset, op.bytes);
    }
    p.clear();
  }

  /** Submits a command buffer of the network (started with `flush`). */
  submit(encoder: GPUCommandEncoder): void {
    this.context.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
    for (const b of this.retiring) b.destroy();
    this.retiring = [];
  }

  // -------------------------------------------------------------------------------------
  // Readbacks
  // -------------------------------------------------------------------------------------

  /** A MAP_READ buffer of at least `bytes`, reused between batches. */
  stagingBuffer(bytes: number): GPUBuffer {
    if (!this.staging || this.stagingBytes < bytes) {
      this.staging?.destroy();
      this.stagingBytes = roundUp(Math.max(bytes, this.stagingBytes * 1.5));
      this.staging = this.context.device.createBuffer({ size: this.stagingBytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST, label: 'readback' });
    }
    return this.staging;
  }

  /** Encodes the copies of a readback into the staging buffer (counted as read back). */
  encodeReadback(encoder: GPUCommandEncoder, readback: Readback): GPUBuffer {
    const staging = this.stagingBuffer(readback.total);
    for (const part of readback.parts) encoder.copyBufferToBuffer(part.buffer, part.offset, staging, part.at, part.bytes);
    this.counters.bytesReadBack += readback.total;
    return staging;
  }

  /** Adds the whole network to a readback: the live section records, the used part of every
   *  synapse page, the output links, and (spiking networks) the neuron records. */
  addNetwork(readback: Readback, state: NetworkState, withNeurons = state.spiking): NetworkReadback {
    const before = readback.total;
    const words = state.counters[COUNTER.sectionCount]! * SECTION_STRIDE;
    const sections = { at: readback.add(this.buffers.sections.buffer, 0, words * 4), words };
    const pages = state.pages.map((page, p) => {
      const at = readback.total;
      for (let column = 0; column < PAGE_COLUMNS; column++) readback.add(this.buffers.pages.buffer, slotByte(p, column, 0), page.used * 4);
      return { at, used: page.used };
    });
    const links = { at: readback.add(this.buffers.links.buffer, 0, this.layout.linksLength * 4), words: this.layout.linksLength };
    const neuronWords = this.layout.cellsPerSlot * NEURON_STRIDE;
    const neurons = withNeurons ? { at: readback.add(this.buffers.neurons.buffer, 0, neuronWords * 4), words: neuronWords } : undefined;
    this.counters.networkBytesReadBack += readback.total - before;
    return { sections, pages, links, neurons };
  }

  /** Copies a network readback into `state`. With `verify`, the host's structure is compared
   *  with the GPU's first (they must be equal: see the file comment) and the host copy is from
   *  now on current, as what the GPU holds. */
  adoptNetwork(state: NetworkState, mapped: ArrayBuffer, where: NetworkReadback, verify: boolean): void {
    const sections = new Uint32Array(mapped, where.sections.at, where.sections.words);
    if (verify) this.verifySections(state, sections);
    u32(state.sectionsI32, sections.length).set(sections);
    where.pages.forEach((p, i) => {
      const page = state.pages[i]!;
      u32(page.weight).set(new Uint32Array(mapped, p.at, p.used));
      u32(page.border).set(new Uint32Array(mapped, p.at + roundUp(p.used * 4), p.used));
      page.meta.set(new Uint32Array(mapped, p.at + 2 * roundUp(p.used * 4), p.used));
    });
    scatterLinks(state, this.layout, new Uint32Array(mapped, where.links.at, where.links.words));
    let neurons: Uint32Array | undefined;
    if (where.neurons) {
      neurons = new Uint32Array(mapped, where.neurons.at, where.neurons.words);
      if (verify) this.verifyNeurons(state, neurons);
      scatterNeurons(state, this.layout, neurons);
    }
    if (!verify) return;
    this.adoptStructure(state, neurons ? neurons.slice() : flattenNeurons(state, this.layout));
    this.hostBehind = false;
    this.tagged = false;
  }

  private verifySections(state: NetworkState, device: Uint32Array): void {
    const host = u32(state.sectionsI32, device.length);
    for (let i = 0; i < device.length; i++) {
      const word = i % SECTION_STRIDE;
      if (word === SEC_TOLERANCE || word === SEC_USES || host[i] === device[i]) continue;
      throw new Error(`WebGPU: the host copy of the network disagrees with the device: section ${Math.floor(i / SECTION_STRIDE)} word ${word} is ${host[i]} on the host, ${device[i]} on the device`);
    }
  }

  private verifyNeurons(state: NetworkState, device: Uint32Array): void {
    const host = flattenNeurons(state, this.layout);
    for (let n = 0; n < device.length / NEURON_STRIDE; n++) {
      for (let w = 0; w < 2; w++) {
        const i = n * NEURON_STRIDE + w;
        if (host[i] !== device[i]) throw new Error(`WebGPU: the host copy of the network disagrees with the device: neuron cell ${n} word ${w} is ${host[i]} on the host, ${device[i]} on the device`);
      }
    }
  }

  /** Brings the host copy current (one submit, one readback of the whole network) when the
   *  GPU copy learned since it last was. */
  async sync(state: NetworkState): Promise<void> {
    if (!this.hostBehind) return;
    const encoder = this.context.device.createCommandEncoder();
    this.flush(encoder);
    const readback = new Readback();
    const where = this.addNetwork(readback, state);
    const staging = this.encodeReadback(encoder, readback);
    this.submit(encoder);
    await staging.mapAsync(MapMode.READ, 0, readback.total);
    this.counters.readbacks++;
    try {
      this.adoptNetwork(state, staging.getMappedRange(0, readback.total), where, true);
    } finally {
      staging.unmap();
    }
  }

  /** Copies the whole GPU copy of the network into `state` (which must have the shape the
   *  GPU copy has: a clone of the host copy, in tests). One submit, one readback. */
  async download(state: NetworkState): Promise<void> {
    const encoder = this.context.device.createCommandEncoder();
    this.flush(encoder);
    const readback = new Readback();
    const where = this.addNetwork(readback, state, true);
    const staging = this.encodeReadback(encoder, readback);
    this.submit(encoder);
    await staging.mapAsync(MapMode.READ, 0, readback.total);
    this.counters.readbacks++;
    try {
      this.adoptNetwork(state, staging.getMappedRange(0, readback.total), where, false);
    } finally {
      staging.unmap();
    }
  }

  /** Reads ranges of GPU buffers into host arrays in one submit and one readback (a batch's
   *  growth log beyond its window, split sections' borders; tests). */
  async readRanges(ranges: readonly { name: Exclude<BindingName, 'batch'>; offset: number; bytes: number }[]): Promise<Uint32Array[]> {
    const readback = new Readback();
    const at = ranges.map((r) => readback.add(this.buffers[r.name].buffer, r.offset, r.bytes));
    const staging = this.context.device.createBuffer({ size: Math.max(16, readback.total), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      const encoder = this.context.device.createCommandEncoder();
      this.flush(encoder);
      for (const part of readback.parts) encoder.copyBufferToBuffer(part.buffer, part.offset, staging, part.at, part.bytes);
      this.counters.bytesReadBack += readback.total;
      this.submit(encoder);
      await staging.mapAsync(MapMode.READ);
      this.counters.readbacks++;
      const mapped = staging.getMappedRange();
      return ranges.map((r, i) => new Uint32Array(mapped.slice(at[i], at[i]! + r.bytes)));
    } finally {
      staging.destroy();
    }
  }

  /** Reads a GPU buffer range into a host array (tests). */
  async read(name: Exclude<BindingName, 'batch'>, byteOffset: number, bytes: number): Promise<Uint32Array> {
    const [words] = await this.readRanges([{ name, offset: byteOffset, bytes }]);
    return words!;
  }

  /** Writes host words into a GPU buffer (tests: scratch set up by the CPU twin). */
  writeWords(name: Exclude<BindingName, 'batch'>, byteOffset: number, words: Uint32Array): void {
    if (this.buffers[name].ensure(byteOffset + words.byteLength)) this.replaced();
    this.write(this.buffers[name].buffer, byteOffset, words);
  }

  // -------------------------------------------------------------------------------------
  // Keeping the host's structure in step while the GPU owns the values
  // -------------------------------------------------------------------------------------

  /** A command buffer that trains (or reduces) was submitted: the host copy's values are
   *  behind until the next readback of the network. */
  learned(): void {
    this.hostBehind = true;
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
   * (copied on the GPU) or wrote (uploaded). Then the plan.
   */
  stage(state: NetworkState, inputs: readonly InputBinding[]): void {
    if (this.hostBehind && !this.tagged) throw new Error('WebGPU: growth ran on a host copy whose synapses were not tracked (track() first)');
    const layout = networkLayout(state);
    this.stageNeurons(state, layout);
    this.stageLinks(state, layout);
    this.layout = layout;
    const touched = this.stageSections(state);
    this.stagePages(state, touched);
    this.setInputs(state, inputs);
  }

  private stageNeurons(state: NetworkState, layout: NetworkLayout): void {
    const old = this.layout;
    const next = flattenNeurons(state, layout);
    const shadow = this.neuronShadow;
    const relaid = layout.cellsPerSlot !== old.cellsPerSlot || layout.hexBase.some((b, h) => b !== old.hexBase[h] || layout.hexCapacity[h] !== old.hexCapacity[h]);
    let target = this.buffers.neurons.buffer;
    if (relaid) {
      // Hexagons move: a new buffer, each hexagon's records copied there on the GPU (they
      // carry what only the GPU knows of spiking neurons).
      const previous = this.swap('neurons', next.byteLength);
      target = this.buffers.neurons.buffer;
      state.hexagons.forEach((_, h) =>
        this.pending.copy(previous, old.hexBase[h]! * NEURON_STRIDE * 4, target, layout.hexBase[h]! * NEURON_STRIDE * 4, Math.min(old.hexCapacity[h] ?? 0, layout.hexCapacity[h]!) * NEURON_STRIDE * 4),
      );
    }
    state.hexagons.forEach((_, h) => {
      const kept = Math.min(old.hexCapacity[h] ?? 0, layout.hexCapacity[h]!);
      for (let n = 0; n < kept; n++) {
        const i = (layout.hexBase[h]! + n) * NEURON_STRIDE;
        const j = (old.hexBase[h]! + n) * NEURON_STRIDE;
        next[i + 2] = shadow[j + 2]!;
        next[i + 3] = shadow[j + 3]!;
        if (next[i] !== shadow[j] || next[i + 1] !== shadow[j + 1]) this.pending.write(target, i * 4, next.subarray(i, i + 2));
      }
      // Records beyond the old capacity are new: the host's, in full.
      const from = (layout.hexBase[h]! + kept) * NEURON_STRIDE;
      const to = (layout.hexBase[h]! + layout.hexCapacity[h]!) * NEURON_STRIDE;
      if (to > from) this.pending.write(target, from * 4, next.subarray(from, to));
    });
    this.neuronShadow = next;
  }

  private stageLinks(state: NetworkState, layout: NetworkLayout): void {
    const old = this.layout;
    const relaid = old.linksLength !== layout.linksLength || layout.links.some((l, i) => l.weights !== old.links[i]?.weights || l.bias !== old.links[i]?.bias || l.uses !== old.links[i]?.uses);
    let target = this.buffers.links.buffer;
    if (relaid) {
      // A group's row capacity doubled: a new buffer, the learned links copied there on the GPU.
      const previous = this.swap('links', Math.max(1, layout.linksLength) * 4);
      target = this.buffers.links.buffer;
      state.outputs.forEach((_, i) => {
        const o = old.links[i]!;
        const n = layout.links[i]!;
        if (o.widthCapacity !== n.widthCapacity) throw new Error('WebGPU: an output widened during training (widths change only when data is bound)');
        const rows = this.linkRows[i] ?? 0;
        this.pending.copy(previous, o.weights * 4, target, n.weights * 4, rows * o.widthCapacity * 4);
        this.pending.copy(previous, o.bias * 4, target, n.bias * 4, o.widthCapacity * 4);
        this.pending.copy(previous, o.scale * 4, target, n.scale * 4, o.widthCapacity * 4);
        this.pending.copy(previous, o.uses * 4, target, n.uses * 4, rows * 4);
      });
    }
    state.outputs.forEach((g, i) => {
      const n = layout.links[i]!;
      const from = this.linkRows[i] ?? 0;
      if (g.rows <= from) return;
      // New rows: zero links and use counts, as allocateOutputRow wrote them.
      this.pending.write(target, (n.weights + from * n.widthCapacity) * 4, u32(g.weights.subarray(from * n.widthCapacity, g.rows * n.widthCapacity)));
      this.pending.write(target, (n.uses + from) * 4, u32(g.rowUses.subarray(from, g.rows)));
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
    if (state.sectionCapacity * SECTION_STRIDE * 4 > this.buffers.sections.bytes) {
      const previous = this.swap('sections', state.sectionCapacity * SECTION_STRIDE * 4);
      this.pending.copy(previous, 0, this.buffers.sections.buffer, 0, before * SECTION_STRIDE * 4);
    }
    const target = this.buffers.sections.buffer;
    const words = u32(I, count * SECTION_STRIDE);
    // Pieces of records to write, contiguous ones merged.
    let runStart = -1;
    let runEnd = -1;
    const flushRun = (): void => {
      if (runStart >= 0) this.pending.write(target, runStart * 4, words.subarray(runStart, runEnd));
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
      const previous = this.swap('pages', pages * PAGE_BYTES, 1);
      this.pageCapacity = Math.floor(this.buffers.pages.bytes / PAGE_BYTES);
      this.usedOnGpu.forEach((used, p) => {
        for (let column = 0; column < PAGE_COLUMNS; column++) this.pending.copy(previous, slotByte(p, column, 0), this.buffers.pages.buffer, slotByte(p, column, 0), used * 4);
      });
    }
    const target = this.buffers.pages.buffer;
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
      m.gathered = this.pending.gather(PAGE_COLUMNS * m.length * 4);
      const page = Math.floor(m.src / SYNAPSES_PER_PAGE);
      for (let column = 0; column < PAGE_COLUMNS; column++) this.pending.copy(target, slotByte(page, column, m.src % SYNAPSES_PER_PAGE), 'gather', m.gathered + column * m.length * 4, m.length * 4);
    }
    for (const m of moves) {
      const page = Math.floor(m.dst / SYNAPSES_PER_PAGE);
      for (let column = 0; column < PAGE_COLUMNS; column++) this.pending.copy('gather', m.gathered + column * m.length * 4, target, slotByte(page, column, m.dst % SYNAPSES_PER_PAGE), m.length * 4);
    }
    for (const w of writes) {
      const page = Math.floor(w.slot / SYNAPSES_PER_PAGE);
      const offset = w.slot % SYNAPSES_PER_PAGE;
      const host = state.pages[page]!;
      for (const [column, words] of [u32(host.weight), u32(host.border), host.meta].entries()) this.pending.write(target, slotByte(page, column, offset), words.subarray(offset, offset + w.length));
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
  syncNeurons(state: NetworkState): void {
    const neurons = flattenNeurons(state, this.layout);
    if (neurons.byteLength > this.buffers.neurons.bytes) {
      this.swap('neurons', neurons.byteLength);
      this.pending.write(this.buffers.neurons.buffer, 0, neurons);
    } else {
      this.queueChanges(this.buffers.neurons.buffer, 0, neurons, this.neuronShadow);
    }
    this.neuronShadow = neurons;
  }

  /** Takes neuron records read back from the GPU (spiking inference changed what they carry)
   *  into the host's network. */
  adoptNeurons(state: NetworkState, words: Uint32Array): void {
    scatterNeurons(state, this.layout, words);
    this.neuronShadow = words.slice();
  }

  destroy(): void {
    this.discardPending();
    this.params.destroy();
    for (const b of Object.values(this.buffers)) b.destroy();
    this.staging?.destroy();
    this.staging = undefined;
    this.transfer?.destroy();
    this.transfer = undefined;
  }
}

/** The byte offset of a section's first synapse border in the page buffer (the borders a
 *  split sums). */
export function borderByte(state: NetworkState, section: number): number {
  const o = section * SECTION_STRIDE;
  return slotByte(state.sectionsI32[o + SEC_SYN_PAGE]!, PAGE_BORDER_COLUMN, state.sectionsI32[o + SEC_SYN_OFFSET]!);
}
