/**
 * One network on the GPU: storage buffers holding exactly the bytes of its NetworkState
 * (section table, neuron records, synapse pages, output links), the plan tables, per-sample
 * scratch, and the transfers that keep the host's NetworkState and the GPU copy equal.
 *
 * Buffers grow only between batches and only geometrically (the page buffer by whole pages,
 * doubling), never per step. A buffer that grows is replaced and refilled from the host copy,
 * which is current at every batch boundary; otherwise only the words that changed are
 * written (uploadChanges).
 */
import { NEURON_STRIDE, PAGE_BYTES, SECTION_STRIDE, SYNAPSES_PER_PAGE, COUNTER } from '../layout.js';
import type { NetworkState, SynapsePage } from '../state.js';
import { BufferUsage, type GpuContext, MapMode } from './gpu.js';
import { Binding, type BindingName, type GpuPipelines } from './pipelines.js';
import { type NetworkLayout, buildPlan, networkLayout, sameLayout } from './plan.js';
import { BATCH_PARAMS, GROWTH_HEADER, GROWTH_REQUEST, NEURON_CELL, SECTION_WALK } from './records.js';
import type { InputBinding, TransferCounters } from '../contract.js';

/** Changed words closer than this are uploaded in one write (1 KiB: a write costs more than
 *  copying that much). */
const UPLOAD_GAP_WORDS = 256;

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
      throw new RangeError(`${this.label} needs ${bytes} bytes, more than this adapter binds at once (${this.context.maxStorageBindingBytes}); the network is too large for the WebGPU backend on this device`);
    }
    return this.context.device.createBuffer({ size: bytes, usage: STORAGE, label: this.label });
  }

  /** Makes room for `bytes` (with headroom, so growth stays geometric). Returns true when the
   *  buffer was replaced: its contents are gone and the bind group must be rebuilt. */
  ensure(bytes: number, headroom = 1.5): boolean {
    if (bytes <= this.bytes) return false;
    const size = roundUp(Math.min(Math.max(bytes, Math.ceil(this.bytes * headroom)), Math.max(bytes, this.context.maxStorageBindingBytes)));
    this.buffer.destroy();
    this.bytes = size;
    this.buffer = this.create(size);
    return true;
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

/** Where each part of a batch's readback lies in the staging buffer (bytes). */
export interface ReadbackLayout {
  growth: { offset: number; bytes: number };
  sections: { offset: number; bytes: number };
  pages: { offset: number; used: number }[];
  links: { offset: number; bytes: number };
  neurons: { offset: number; bytes: number } | undefined;
  /** Output values of the batch's samples, when asked for. */
  values: { offset: number; bytes: number } | undefined;
  total: number;
}

/** What the GPU held before the host applied growth (views into the mapped readback), the
 *  reference the changes are uploaded against. */
export interface Snapshot {
  sections: Uint32Array;
  pages: SynapsePage[];
  pageColumns: { weight: Uint32Array; border: Uint32Array; meta: Uint32Array }[];
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
}

export class GpuNetwork {
  readonly params: GPUBuffer;
  private readonly buffers: Record<Exclude<BindingName, 'batch'>, GrowableBuffer>;
  layout: NetworkLayout;
  /** What the GPU holds, for the small host-built tables (uploaded only when they change). */
  private planShadow: Uint32Array = new Uint32Array(0);
  private neuronShadow: Uint32Array = new Uint32Array(0);
  private linkShadow: Uint32Array = new Uint32Array(0);
  /** The page list uploaded last (compaction replaces it) and each page's uploaded length. */
  private pagesOnGpu: SynapsePage[] = [];
  private pageCapacity = 0;
  private bindGroup: GPUBindGroup | undefined;
  private staging: GPUBuffer | undefined;
  private stagingBytes = 0;
  slots = 0;
  valueRows = 0;
  growthRecords = 0;

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

  private write(buffer: GPUBuffer, byteOffset: number, data: Uint32Array): void {
    if (data.length === 0) return;
    // Dawn's writeBuffer takes no SharedArrayBuffer (the host network lives in them): copy.
    const source = data.buffer instanceof SharedArrayBuffer ? data.slice() : data;
    this.context.device.queue.writeBuffer(buffer, byteOffset, source.buffer as ArrayBuffer, source.byteOffset, source.byteLength);
    this.counters.bytesUploaded += data.byteLength;
  }

  /** Writes `next` over `previous` (what the buffer holds at `byteOffset`): the runs of changed
   *  words (runs closer than UPLOAD_GAP_WORDS merged, to keep the number of writes small), plus
   *  whatever `next` adds beyond `previous`. */
  private uploadChanges(buffer: GPUBuffer, byteOffset: number, next: Uint32Array, previous: Uint32Array): void {
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
      this.write(buffer, byteOffset + start * 4, next.subarray(start, end));
      i = end;
    }
    if (next.length > common) this.write(buffer, byteOffset + common * 4, next.subarray(common));
  }

  private replaced(): void {
    this.bindGroup = undefined;
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

  /** Makes the GPU copy equal to `state` (every buffer written in full). */
  load(state: NetworkState, inputs: readonly InputBinding[]): void {
    this.layout = networkLayout(state);
    const sectionWords = state.counters[COUNTER.sectionCount]! * SECTION_STRIDE;
    if (this.buffers.sections.ensure(state.sectionCapacity * SECTION_STRIDE * 4)) this.replaced();
    this.write(this.buffers.sections.buffer, 0, u32(state.sectionsI32, sectionWords));
    this.loadPages(state);
    this.neuronShadow = new Uint32Array(0);
    this.linkShadow = new Uint32Array(0);
    this.planShadow = new Uint32Array(0);
    this.syncTables(state, inputs, true);
  }

  private loadPages(state: NetworkState): void {
    if (state.pages.length > this.pageCapacity) {
      const pages = Math.max(state.pages.length, this.pageCapacity * 2);
      if (this.buffers.pages.ensure(pages * PAGE_BYTES, 1)) this.replaced();
      this.pageCapacity = Math.floor(this.buffers.pages.bytes / PAGE_BYTES);
    }
    state.pages.forEach((page, p) => this.uploadPage(p, page, 0, page.used));
    this.pagesOnGpu = state.pages;
  }

  private uploadPage(p: number, page: SynapsePage, from: number, to: number): void {
    if (to <= from) return;
    const base = p * PAGE_BYTES;
    this.write(this.buffers.pages.buffer, base + from * 4, u32(page.weight).subarray(from, to));
    this.write(this.buffers.pages.buffer, base + (SYNAPSES_PER_PAGE + from) * 4, u32(page.border).subarray(from, to));
    this.write(this.buffers.pages.buffer, base + (2 * SYNAPSES_PER_PAGE + from) * 4, page.meta.subarray(from, to));
  }

  /** Neurons, links and the plan: rebuilt from the host copy and written where they changed
   *  (in full when their layout changed). */
  private syncTables(state: NetworkState, inputs: readonly InputBinding[], force = false): void {
    const layout = networkLayout(state);
    const relaid = force || !sameLayout(layout, this.layout);
    this.layout = layout;
    const neurons = flattenNeurons(state, layout);
    if (this.buffers.neurons.ensure(neurons.byteLength)) this.replaced();
    if (relaid) this.write(this.buffers.neurons.buffer, 0, neurons);
    else this.uploadChanges(this.buffers.neurons.buffer, 0, neurons, this.neuronShadow);
    this.neuronShadow = neurons;
    const links = flattenLinks(state, layout);
    if (this.buffers.links.ensure(links.byteLength)) this.replaced();
    if (relaid) this.write(this.buffers.links.buffer, 0, links);
    else this.uploadChanges(this.buffers.links.buffer, 0, links, this.linkShadow);
    this.linkShadow = links;
    this.setInputs(state, inputs);
  }

  /** Rebuilds the plan (after growth, or for another data binding). */
  setInputs(state: NetworkState, inputs: readonly InputBinding[]): void {
    const plan = buildPlan(state, this.layout, inputs);
    if (this.buffers.plan.ensure(plan.byteLength)) {
      this.replaced();
      this.planShadow = new Uint32Array(0);
    }
    this.uploadChanges(this.buffers.plan.buffer, 0, plan, this.planShadow);
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
      this.buffers.growth.ensure((GROWTH_HEADER.stride + needs.growthRecords * GROWTH_REQUEST.stride) * 4),
      this.buffers.samples.ensure(needs.sampleWords * 4),
    ];
    if (grew.some(Boolean)) this.replaced();
    this.slots = needs.slots;
    this.valueRows = needs.valueRows;
    this.growthRecords = Math.floor((this.buffers.growth.bytes / 4 - GROWTH_HEADER.stride) / GROWTH_REQUEST.stride);
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
  // Readback and upload around a training batch
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

  /** Copies what the host needs after a batch into the staging buffer: the growth log header
   *  and its first `growthWindow` records, the live section records, the used part of every
   *  synapse page, the output links, and (spiking networks) the neuron records. */
  encodeReadback(
    encoder: GPUCommandEncoder,
    state: NetworkState,
    growthWindow: number,
    withNeurons = state.spiking,
    values?: { byteOffset: number; bytes: number },
  ): { staging: GPUBuffer; layout: ReadbackLayout } {
    let offset = 0;
    const take = (bytes: number): { offset: number; bytes: number } => {
      const r = { offset, bytes };
      offset += roundUp(bytes);
      return r;
    };
    const growth = take((GROWTH_HEADER.stride + growthWindow * GROWTH_REQUEST.stride) * 4);
    const sections = take(state.counters[COUNTER.sectionCount]! * SECTION_STRIDE * 4);
    const pages = state.pages.map((page) => ({ offset: take(page.used * 12).offset, used: page.used }));
    const links = take(this.layout.linksLength * 4);
    const neurons = withNeurons ? take(this.layout.cellsPerSlot * NEURON_STRIDE * 4) : undefined;
    const outputValues = values ? take(values.bytes) : undefined;
    const layout: ReadbackLayout = { growth, sections, pages, links, neurons, values: outputValues, total: offset };
    const staging = this.stagingBuffer(offset);
    const copy = (buffer: GPUBuffer, from: number, to: number, bytes: number): void => {
      if (bytes > 0) encoder.copyBufferToBuffer(buffer, from, staging, to, bytes);
    };
    copy(this.buffers.growth.buffer, 0, growth.offset, growth.bytes);
    copy(this.buffers.sections.buffer, 0, sections.offset, sections.bytes);
    pages.forEach((p, i) => {
      for (let column = 0; column < 3; column++) copy(this.buffers.pages.buffer, i * PAGE_BYTES + column * SYNAPSES_PER_PAGE * 4, p.offset + column * p.used * 4, p.used * 4);
    });
    copy(this.buffers.links.buffer, 0, links.offset, links.bytes);
    if (neurons) copy(this.buffers.neurons.buffer, 0, neurons.offset, neurons.bytes);
    if (values && outputValues) copy(this.buffers.outcells.buffer, values.byteOffset, outputValues.offset, outputValues.bytes);
    this.counters.bytesReadBack += offset;
    return { staging, layout };
  }

  /** Copies the mapped readback into the host's NetworkState (which is then current) and
   *  returns the snapshot the later upload compares against. */
  applyReadback(state: NetworkState, mapped: ArrayBuffer, layout: ReadbackLayout): Snapshot {
    const words = (r: { offset: number; bytes: number }): Uint32Array => new Uint32Array(mapped, r.offset, r.bytes / 4);
    const sections = words(layout.sections);
    u32(state.sectionsI32, sections.length).set(sections);
    const pageColumns = layout.pages.map((p, i) => {
      const page = state.pages[i]!;
      const column = (c: number): Uint32Array => new Uint32Array(mapped, p.offset + c * p.used * 4, p.used);
      const columns = { weight: column(0), border: column(1), meta: column(2) };
      u32(page.weight).set(columns.weight);
      u32(page.border).set(columns.border);
      page.meta.set(columns.meta);
      return columns;
    });
    const links = words(layout.links);
    scatterLinks(state, this.layout, links);
    this.linkShadow = links.slice();
    if (layout.neurons) {
      const neurons = words(layout.neurons);
      scatterNeurons(state, this.layout, neurons);
      this.neuronShadow = neurons.slice();
    }
    return { sections, pages: state.pages, pageColumns };
  }

  /** After the host applied growth to `state`: uploads what changed relative to `snapshot`
   *  (and in full whatever had to move or grow). */
  commit(state: NetworkState, inputs: readonly InputBinding[], snapshot: Snapshot): void {
    const sectionWords = state.counters[COUNTER.sectionCount]! * SECTION_STRIDE;
    if (this.buffers.sections.ensure(state.sectionCapacity * SECTION_STRIDE * 4)) {
      this.replaced();
      this.write(this.buffers.sections.buffer, 0, u32(state.sectionsI32, sectionWords));
    } else {
      this.uploadChanges(this.buffers.sections.buffer, 0, u32(state.sectionsI32, sectionWords), snapshot.sections);
    }
    if (state.pages !== snapshot.pages || state.pages !== this.pagesOnGpu || state.pages.length > this.pageCapacity) {
      // Compaction rewrote every page (or the page buffer must grow): upload them all.
      this.loadPages(state);
    } else {
      state.pages.forEach((page, p) => {
        const before = snapshot.pageColumns[p];
        if (!before) {
          this.uploadPage(p, page, 0, page.used);
          return;
        }
        const base = p * PAGE_BYTES;
        this.uploadChanges(this.buffers.pages.buffer, base, u32(page.weight).subarray(0, page.used), before.weight);
        this.uploadChanges(this.buffers.pages.buffer, base + SYNAPSES_PER_PAGE * 4, u32(page.border).subarray(0, page.used), before.border);
        this.uploadChanges(this.buffers.pages.buffer, base + 2 * SYNAPSES_PER_PAGE * 4, page.meta.subarray(0, page.used), before.meta);
      });
    }
    this.syncTables(state, inputs);
  }

  /** Takes neuron records read back from the GPU (spiking inference changed what they carry)
   *  into the host's network. */
  adoptNeurons(state: NetworkState, words: Uint32Array): void {
    scatterNeurons(state, this.layout, words);
    this.neuronShadow = words.slice();
  }

  /** Writes the neuron records where the host's differ from what the GPU holds. What spiking
   *  neurons carry changes without changing the network's shape (a reset of the carried
   *  state, a prediction the host ran), so a resident spiking network is synced before use. */
  syncNeurons(state: NetworkState): void {
    const neurons = flattenNeurons(state, this.layout);
    if (this.buffers.neurons.ensure(neurons.byteLength)) {
      this.replaced();
      this.write(this.buffers.neurons.buffer, 0, neurons);
    } else {
      this.uploadChanges(this.buffers.neurons.buffer, 0, neurons, this.neuronShadow);
    }
    this.neuronShadow = neurons;
  }

  /** Copies the whole GPU copy of the network into `state` (which must have the shape the
   *  GPU copy was loaded or last committed with). One submit, one readback. */
  async download(state: NetworkState): Promise<void> {
    const encoder = this.context.device.createCommandEncoder();
    const { staging, layout } = this.encodeReadback(encoder, state, 0, true);
    this.context.device.queue.submit([encoder.finish()]);
    this.counters.submits++;
    await staging.mapAsync(MapMode.READ, 0, layout.total);
    this.counters.readbacks++;
    try {
      this.applyReadback(state, staging.getMappedRange(0, layout.total), layout);
    } finally {
      staging.unmap();
    }
  }

  /** Reads GPU buffers into host arrays (tests, downloads). */
  async read(name: Exclude<BindingName, 'batch'>, byteOffset: number, bytes: number): Promise<Uint32Array> {
    const staging = this.context.device.createBuffer({ size: roundUp(bytes), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    try {
      const encoder = this.context.device.createCommandEncoder();
      encoder.copyBufferToBuffer(this.buffers[name].buffer, byteOffset, staging, 0, roundUp(bytes));
      this.context.device.queue.submit([encoder.finish()]);
      this.counters.submits++;
      await staging.mapAsync(MapMode.READ);
      this.counters.readbacks++;
      this.counters.bytesReadBack += bytes;
      return new Uint32Array(staging.getMappedRange().slice(0, bytes));
    } finally {
      staging.destroy();
    }
  }

  /** Writes host words into a GPU buffer (tests: scratch set up by the CPU twin). */
  writeWords(name: Exclude<BindingName, 'batch'>, byteOffset: number, words: Uint32Array): void {
    if (this.buffers[name].ensure(byteOffset + words.byteLength)) this.replaced();
    this.write(this.buffers[name].buffer, byteOffset, words);
  }

  destroy(): void {
    this.params.destroy();
    for (const b of Object.values(this.buffers)) b.destroy();
    this.staging?.destroy();
    this.staging = undefined;
  }
}
