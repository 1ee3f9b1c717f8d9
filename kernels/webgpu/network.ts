/**
 * One network on the GPU: storage buffers holding exactly the bytes of its NetworkState
 * (section table, neuron records, synapse pages, output links), the plan tables, per-sample
 * scratch, and the transfers that keep the host's NetworkState and the GPU copy in step.
 * The buffer mechanics are in buffers.ts, the host's side of keeping the copies in step
 * (shadows, replay, staging growth) in host-sync.ts.
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
 * the start of the next command buffer (`flush`): no extra submit. The synapses growth moved
 * are found by slot tags (host-sync.ts); buffers that must grow are replaced and their contents
 * copied on the GPU, never refilled from the host.
 *
 * Buffers grow only between batches and only geometrically (the page buffer by whole pages,
 * doubling), never per step.
 */
import { COUNTER, NEURON_STRIDE, PAGE_BYTES, PAGE_COLUMNS, SECTION_STRIDE } from '../layout.js';
import type { NetworkState } from '../state.js';
import { BufferUsage, type GpuContext, MapMode } from './gpu.js';
import { Binding, type BindingName, type GpuPipelines } from './pipelines.js';
import { type NetworkLayout, buildPlan, networkLayout } from './plan.js';
import { BATCH_PARAMS, GROWTH_HEADER, GROWTH_REQUEST, NEURON_CELL, SECTION_WALK } from './records.js';
import { RateWindow } from './growth-log.js';
import type { InputBinding, TransferCounters } from '../contract.js';
import {
  GrowableBuffer,
  type NetworkReadback,
  PendingCopies,
  type Place,
  changedRuns,
  Readback,
  flattenLinks,
  flattenNeurons,
  roundUp,
  scatterLinks,
  scatterNeurons,
  slotByte,
  u32,
} from './buffers.js';
import { HostSync, type StructureBuffer, verifyNeurons, verifySections } from './host-sync.js';

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
  private bindGroup: GPUBindGroup | undefined;
  private staging: GPUBuffer | undefined;
  private stagingBytes = 0;
  private transfer: GPUBuffer | undefined;
  private transferBytes = 0;
  private readonly pending = new PendingCopies();
  /** What the host knows the GPU copy holds of the structure (host-sync.ts). */
  private readonly hostSync: HostSync;
  /** Replaced buffers whose copies are encoded: destroyed after the next submit. */
  private retiring: GPUBuffer[] = [];
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
    this.hostSync = new HostSync({ buffers: this.buffers, pending: this.pending, swap: (name, bytes, headroom) => this.swap(name, bytes, headroom) });
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

  private replaced(): void {
    this.bindGroup = undefined;
  }

  /** Replaces a buffer of the network by one of at least `bytes`; the old one is returned for
   *  the copies out of it and destroyed after they are submitted. */
  private swap(name: StructureBuffer, bytes: number, headroom = 1.5): GPUBuffer {
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
    if (state.pages.length > this.hostSync.pageCapacity) {
      const pages = Math.max(state.pages.length, this.hostSync.pageCapacity * 2);
      if (this.buffers.pages.ensure(pages * PAGE_BYTES, 1)) this.replaced();
      this.hostSync.pageCapacity = Math.floor(this.buffers.pages.bytes / PAGE_BYTES);
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
    this.hostSync.adopt(state, neurons);
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
    changedRuns(plan, this.planShadow, (start, end) => this.write(this.buffers.plan.buffer, start * 4, plan.subarray(start, end)));
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
    if (verify) verifySections(state, sections);
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
      if (verify) verifyNeurons(state, this.layout, neurons);
      scatterNeurons(state, this.layout, neurons);
    }
    if (!verify) return;
    this.hostSync.adopt(state, neurons ? neurons.slice() : flattenNeurons(state, this.layout));
  }

  /** Brings the host copy current (one submit, one readback of the whole network) when the
   *  GPU copy learned since it last was. */
  async sync(state: NetworkState): Promise<void> {
    if (this.hostSync.hostBehind) await this.readNetwork(state, state.spiking, true);
  }

  /** Copies the whole GPU copy of the network into `state` (which must have the shape the
   *  GPU copy has: a clone of the host copy, in tests). One submit, one readback. */
  async download(state: NetworkState): Promise<void> {
    await this.readNetwork(state, true, false);
  }

  private async readNetwork(state: NetworkState, withNeurons: boolean, verify: boolean): Promise<void> {
    const encoder = this.context.device.createCommandEncoder();
    this.flush(encoder);
    const readback = new Readback();
    const where = this.addNetwork(readback, state, withNeurons);
    const staging = this.encodeReadback(encoder, readback);
    this.submit(encoder);
    await staging.mapAsync(MapMode.READ, 0, readback.total);
    this.counters.readbacks++;
    try {
      this.adoptNetwork(state, staging.getMappedRange(0, readback.total), where, verify);
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

  /** The GPU copy learned since the host copy was last brought current: the host holds the
   *  structure, but not the values (see the file comment). */
  get hostBehind(): boolean {
    return this.hostSync.hostBehind;
  }

  /** A command buffer that trains (or reduces) was submitted: the host copy's values are
   *  behind until the next readback of the network. */
  learned(): void {
    this.hostSync.hostBehind = true;
  }

  /** Before the host's allocator runs on a copy whose values are behind: tags every slot the
   *  host holds, so the moves growth makes can be found afterwards (`stage`). */
  track(state: NetworkState): void {
    this.hostSync.track(state);
  }

  /** Synapses the GPU appended inside their sections during a batch (the event list: one
   *  section id per synapse): their sections' counts, on the host and as the GPU holds them. */
  replayAppends(state: NetworkState, events: Uint32Array): void {
    this.hostSync.replayAppends(state, events);
  }

  /** Sections the reduction pass shortened (the event list: section id and new count): their
   *  counts, and the RELEASE_PENDING mark of those it emptied, as the GPU holds them. */
  replayReductions(state: NetworkState, events: Uint32Array): void {
    this.hostSync.replayReductions(state, events);
  }

  /** After the host applied growth to `state`: queues what the GPU copy must change for the
   *  next command buffer (host-sync.ts), then rebuilds the plan. */
  stage(state: NetworkState, inputs: readonly InputBinding[]): void {
    const layout = networkLayout(state);
    this.hostSync.stage(state, this.layout, layout);
    this.layout = layout;
    this.setInputs(state, inputs);
  }

  /** Queues writes of the neuron records where the host's differ from what the GPU holds.
   *  What spiking neurons carry changes without changing the network's shape (a reset of the
   *  carried state), so a resident spiking network is synced before use, when the host copy
   *  is current. */
  syncNeurons(state: NetworkState): void {
    this.hostSync.syncNeurons(state, this.layout);
  }

  /** Takes neuron records read back from the GPU (spiking inference changed what they carry)
   *  into the host's network. */
  adoptNeurons(state: NetworkState, words: Uint32Array): void {
    this.hostSync.adoptNeurons(state, this.layout, words);
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
