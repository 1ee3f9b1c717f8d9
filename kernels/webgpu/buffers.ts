/**
 * The buffer plumbing of a network on the GPU (kernels/webgpu/network.ts): storage buffers
 * that grow geometrically (`GrowableBuffer`), the copies queued for the start of the next
 * command buffer (`PendingCopies`), the parts of one readback (`Readback`), and how the host's
 * arrays map onto GPU words (neuron records and output links flattened and scattered back,
 * synapse slots in the page buffer).
 *
 * Nothing here knows who owns which word (see network.ts and host-sync.ts): these are the
 * mechanics both build on.
 */
import { NEURON_STRIDE, PAGE_BORDER_COLUMN, PAGE_BYTES, SECTION_STRIDE, SEC_SYN_OFFSET, SEC_SYN_PAGE, SYNAPSES_PER_PAGE } from '../layout.js';
import type { NetworkState } from '../state.js';
import { BufferUsage, type GpuContext } from './gpu.js';
import type { NetworkLayout } from './plan.js';

/** Changed words closer than this are uploaded in one write (1 KiB: a write costs more than
 *  copying that much). Only where the host holds every word in between. */
const UPLOAD_GAP_WORDS = 256;

/** Calls `emit(start, end)` for each run of words where `next` differs from `previous` (what
 *  a buffer holds), runs closer than UPLOAD_GAP_WORDS merged, then for whatever `next` adds. */
export function changedRuns(next: Uint32Array, previous: Uint32Array, emit: (start: number, end: number) => void): void {
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
    emit(start, end);
    i = end;
  }
  if (next.length > common) emit(common, next.length);
}

const STORAGE = BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC;

/** A storage buffer replaced by a larger one when it must grow. */
export class GrowableBuffer {
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

export function roundUp(bytes: number): number {
  return Math.ceil(bytes / 16) * 16;
}

export function u32(view: ArrayBufferView, words?: number): Uint32Array {
  return new Uint32Array(view.buffer, view.byteOffset, words ?? view.byteLength / 4);
}

/** Byte offset of synapse `offset` of page `page`, column `column`, in the page buffer. */
export function slotByte(page: number, column: number, offset: number): number {
  return page * PAGE_BYTES + (column * SYNAPSES_PER_PAGE + offset) * 4;
}

/** Words of the host arrays, as the GPU stores them. */
export function flattenNeurons(state: NetworkState, layout: NetworkLayout): Uint32Array {
  const out = new Uint32Array(Math.max(1, layout.cellsPerSlot) * NEURON_STRIDE);
  state.hexagons.forEach((hex, h) => {
    const words = layout.hexCapacity[h]! * NEURON_STRIDE;
    if (words > 0) out.set(u32(hex.neuronsI32, words), layout.hexBase[h]! * NEURON_STRIDE);
  });
  return out;
}

export function scatterNeurons(state: NetworkState, layout: NetworkLayout, words: Uint32Array): void {
  state.hexagons.forEach((hex, h) => {
    const n = layout.hexCapacity[h]! * NEURON_STRIDE;
    if (n > 0) u32(hex.neuronsI32, n).set(words.subarray(layout.hexBase[h]! * NEURON_STRIDE, layout.hexBase[h]! * NEURON_STRIDE + n));
  });
}

export function flattenLinks(state: NetworkState, layout: NetworkLayout): Uint32Array {
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

export function scatterLinks(state: NetworkState, layout: NetworkLayout, words: Uint32Array): void {
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
export type Place = GPUBuffer | 'upload' | 'gather';

export interface CopyOp {
  src: Place;
  srcOffset: number;
  dst: Place;
  dstOffset: number;
  bytes: number;
}

/** Copies queued for the start of the network's next command buffer, in order. */
export class PendingCopies {
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

/** The byte offset of a section's first synapse border in the page buffer (the borders a
 *  split sums). */
export function borderByte(state: NetworkState, section: number): number {
  const o = section * SECTION_STRIDE;
  return slotByte(state.sectionsI32[o + SEC_SYN_PAGE]!, PAGE_BORDER_COLUMN, state.sectionsI32[o + SEC_SYN_OFFSET]!);
}
