/**
 * Checkpoint codec. A checkpoint is the network's own buffers, byte for byte:
 *
 *   offset 0   8 bytes  magic "HANAMICP"
 *   offset 8   u32 LE   format version (1)
 *   offset 12  u32 LE   header length H
 *   offset 16  H bytes  header: UTF-8 JSON (metadata + the list of buffers that follow)
 *   ...        buffers  in header order, each 8-byte aligned (zero padding)
 *   last 32    SHA-256  of everything before it
 *
 * Saving never changes the network (free lists are stored as they are, nothing is
 * compacted), so save → restore → save gives identical bytes. Restoring checks the magic,
 * version, checksum, and then every index in the buffers, so a damaged or foreign file is
 * rejected with a CheckpointError instead of crashing later.
 */
import { DomainError } from '../errors.js';
import { createHash } from 'node:crypto';
import {
  COUNTER,
  COUNTER_NAMES,
  FREE_SECTION,
  MAX_SYNAPSES_PER_SECTION,
  NEURONS_PER_BLOCK,
  NEURON_STRIDE,
  NEU_FIRST_SECTION,
  NEU_OUTPUT_ROW,
  SECTION_STRIDE,
  SEC_KIND,
  SEC_NEXT,
  SEC_SRC_HEX,
  SEC_SRC_NEURON,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  SEC_TGT_BLOCK,
  SEC_TGT_HEX,
  SYNAPSES_PER_PAGE,
  TARGET_SLOTS,
  WALK_LANES,
} from '../../kernels/layout.js';
import {
  type HexagonKind,
  type InputKind,
  type NetworkState,
  type OutputKind,
  type OutputMode,
  isSpiking,
  newSynapsePage,
  reserveNeuronBlocks,
  reserveOutputRows,
  reserveSections,
  sharedFloat64,
} from '../../kernels/state.js';

export const CHECKPOINT_MAGIC = 'HANAMICP';
export const CHECKPOINT_VERSION = 1;
const PREFIX_BYTES = 16;
const CHECKSUM_BYTES = 32;
/** Refuse headers larger than this (a corrupt length must not make us allocate gigabytes). */
const MAX_HEADER_BYTES = 64 * 1024 * 1024;

export class CheckpointError extends DomainError {
  constructor(message: string) {
    super('bad_checkpoint', message);
    this.name = 'CheckpointError';
  }
}

/** What a checkpoint carries besides the buffers. */
export interface CheckpointMeta {
  /** Template the network was created from (canonical text form). */
  template: string;
  /** Free-form labels (cluster name etc.); never interpreted by the codec. */
  labels?: Record<string, string>;
}

interface HeaderHexagon {
  kind: HexagonKind;
  blocks: number;
  freeSlots: number;
  outputGroup: number;
  targets: number[];
}

interface HeaderOutputGroup {
  hexagon: number;
  width: number;
  rows: number;
  interfaces: { name: string; type: OutputKind; mode: OutputMode; offset: number; size: number }[];
}

interface Header {
  format: 'hanami-checkpoint';
  meta: CheckpointMeta;
  seed: number;
  neuronCooldown: number;
  refractoryTime: number;
  enableReduction: boolean;
  order: number[];
  hexagons: HeaderHexagon[];
  inputs: { name: string; hexagon: number; type: InputKind; offset: number; size: number }[];
  outputs: HeaderOutputGroup[];
  sectionCount: number;
  freeSections: number[];
  pages: { used: number; lane: number }[];
  freeRuns: number[][];
  buffers: { name: string; bytes: number }[];
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

function bytesOf(view: ArrayBufferView, length = view.byteLength): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, length);
}

/** Serialises a network. The network must not be trained while this runs. */
export function encodeCheckpoint(state: NetworkState, meta: CheckpointMeta): Buffer {
  const buffers: { name: string; data: Uint8Array }[] = [];
  const add = (name: string, view: ArrayBufferView, length?: number): void => {
    buffers.push({ name, data: bytesOf(view, length) });
  };
  add('counters', state.counters);
  state.hexagons.forEach((hex, h) => {
    add(`hexagon${h}.neurons`, hex.neuronsI32, hex.blocks * NEURONS_PER_BLOCK * NEURON_STRIDE * 4);
    add(`hexagon${h}.blockSections`, hex.blockSections, hex.blocks * 4);
  });
  const sectionCount = state.counters[COUNTER.sectionCount]!;
  add('sections', state.sectionsI32, sectionCount * SECTION_STRIDE * 4);
  state.pages.forEach((page, p) => {
    add(`page${p}.weight`, page.weight, page.used * 4);
    add(`page${p}.border`, page.border, page.used * 4);
    add(`page${p}.meta`, page.meta, page.used * 4);
  });
  state.outputs.forEach((g, i) => {
    add(`output${i}.weights`, packRows(g.weights, g.rows, g.width, g.widthCapacity));
    add(`output${i}.rowSrcHex`, g.rowSrcHex, g.rows * 4);
    add(`output${i}.rowSrcNeuron`, g.rowSrcNeuron, g.rows * 4);
    add(`output${i}.rowUses`, g.rowUses, g.rows * 4);
    add(`output${i}.bias`, g.bias, g.width * 4);
    add(`output${i}.scale`, g.scale, g.width * 4);
  });
  const header: Header = {
    format: 'hanami-checkpoint',
    meta,
    seed: state.seed,
    neuronCooldown: state.neuronCooldown,
    refractoryTime: state.refractoryTime,
    enableReduction: state.enableReduction,
    order: state.order,
    hexagons: state.hexagons.map((h) => ({ kind: h.kind, blocks: h.blocks, freeSlots: h.freeSlots, outputGroup: h.outputGroup, targets: Array.from(h.targets) })),
    inputs: state.inputs.map((i) => ({ ...i })),
    outputs: state.outputs.map((g) => ({
      hexagon: g.hexagon,
      width: g.width,
      rows: g.rows,
      interfaces: g.interfaces.map((i) => ({ ...i })),
    })),
    sectionCount,
    freeSections: state.freeSections,
    pages: state.pages.map((p) => ({ used: p.used, lane: p.lane })),
    freeRuns: state.freeRuns,
    buffers: buffers.map((b) => ({ name: b.name, bytes: b.data.byteLength })),
  };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const parts: Uint8Array[] = [];
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(CHECKPOINT_MAGIC, 0, 'latin1');
  prefix.writeUInt32LE(CHECKPOINT_VERSION, 8);
  prefix.writeUInt32LE(headerBytes.byteLength, 12);
  parts.push(prefix, headerBytes);
  let offset = PREFIX_BYTES + headerBytes.byteLength;
  for (const b of buffers) {
    const pad = padding(offset);
    if (pad > 0) parts.push(Buffer.alloc(pad));
    parts.push(b.data);
    offset += pad + b.data.byteLength;
  }
  const body = Buffer.concat(parts);
  const checksum = createHash('sha256').update(body).digest();
  return Buffer.concat([body, checksum]);
}

/** Link weights without the unused tail of each row (the in-memory matrix may be wider). */
function packRows(weights: Float32Array, rows: number, width: number, widthCapacity: number): Float32Array {
  if (width === widthCapacity) return weights.subarray(0, rows * width);
  const packed = new Float32Array(rows * width);
  for (let r = 0; r < rows; r++) packed.set(weights.subarray(r * widthCapacity, r * widthCapacity + width), r * width);
  return packed;
}

function padding(offset: number): number {
  return (8 - (offset % 8)) % 8;
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/** The interfaces a checkpoint's network has, with their sizes (what data must fit). */
export interface CheckpointInterfaces {
  inputs: { name: string; hexagon: number; size: number }[];
  /** Output groups (one per output hexagon): rows of links learned so far, and their interfaces. */
  outputs: { rows: number; interfaces: { name: string; mode: OutputMode; size: number }[] }[];
}

/** Bytes before the header (magic, version, header length). */
export const CHECKPOINT_PREFIX_BYTES = PREFIX_BYTES;

/** How many bytes from the start of a checkpoint hold its header, read from its first CHECKPOINT_PREFIX_BYTES. */
export function checkpointHeadBytes(prefix: Uint8Array): number {
  if (prefix.byteLength < PREFIX_BYTES || Buffer.from(prefix.buffer, prefix.byteOffset, 8).toString('latin1') !== CHECKPOINT_MAGIC) {
    throw new CheckpointError('not a Hanami checkpoint: wrong magic bytes at offset 0');
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, PREFIX_BYTES);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION) throw new CheckpointError(`unsupported checkpoint version ${version} (this build reads version ${CHECKPOINT_VERSION})`);
  const headerLength = view.getUint32(12, true);
  if (headerLength > MAX_HEADER_BYTES) throw new CheckpointError(`checkpoint header of ${headerLength} bytes is larger than the limit`);
  return PREFIX_BYTES + headerLength;
}

/**
 * The interfaces of a checkpoint's network from its head alone (the first
 * `checkpointHeadBytes` bytes), without reading the buffers. The checksum is not checked (it
 * covers the whole file): this is for checks before work is queued; loading the network
 * later verifies everything.
 */
export function readCheckpointInterfaces(head: Uint8Array): CheckpointInterfaces {
  const length = checkpointHeadBytes(head);
  if (head.byteLength < length) throw new CheckpointError(`checkpoint is truncated: header of ${length - PREFIX_BYTES} bytes does not fit in ${head.byteLength} bytes`);
  const h = parseHeader({ header: Buffer.from(head.buffer, head.byteOffset + PREFIX_BYTES, length - PREFIX_BYTES).toString('utf8') });
  check(Array.isArray(h.inputs) && Array.isArray(h.outputs), 'header lists');
  return {
    inputs: h.inputs.map((i) => ({ name: String(i.name), hexagon: Number(i.hexagon), size: Number(i.size) })),
    outputs: h.outputs.map((g) => ({
      rows: Number(g.rows),
      interfaces: (Array.isArray(g.interfaces) ? g.interfaces : []).map((o) => ({ name: String(o.name), mode: o.mode === 'class' ? 'class' : 'value', size: Number(o.size) })),
    })),
  };
}

/** Reads the metadata of a checkpoint without building the network (after verifying it). */
export function readCheckpointMeta(file: Uint8Array): CheckpointMeta {
  return parseHeader(verify(file)).meta;
}

function verify(file: Uint8Array): { header: string; bodyEnd: number; headerEnd: number } {
  if (file.byteLength < PREFIX_BYTES + CHECKSUM_BYTES) {
    throw new CheckpointError(`not a Hanami checkpoint: ${file.byteLength} bytes is shorter than the smallest checkpoint`);
  }
  const magic = Buffer.from(file.buffer, file.byteOffset, 8).toString('latin1');
  if (magic !== CHECKPOINT_MAGIC) throw new CheckpointError('not a Hanami checkpoint: wrong magic bytes at offset 0');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const version = view.getUint32(8, true);
  if (version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(`unsupported checkpoint version ${version} (this build reads version ${CHECKPOINT_VERSION})`);
  }
  const headerLength = view.getUint32(12, true);
  const bodyEnd = file.byteLength - CHECKSUM_BYTES;
  if (headerLength > MAX_HEADER_BYTES || PREFIX_BYTES + headerLength > bodyEnd) {
    throw new CheckpointError(`checkpoint is truncated: header of ${headerLength} bytes does not fit in ${file.byteLength} bytes`);
  }
  const expected = Buffer.from(file.buffer, file.byteOffset + bodyEnd, CHECKSUM_BYTES);
  const actual = createHash('sha256')
    .update(Buffer.from(file.buffer, file.byteOffset, bodyEnd))
    .digest();
  if (!actual.equals(expected)) throw new CheckpointError('checkpoint is corrupted or truncated: SHA-256 checksum does not match');
  const headerEnd = PREFIX_BYTES + headerLength;
  return { header: Buffer.from(file.buffer, file.byteOffset + PREFIX_BYTES, headerLength).toString('utf8'), bodyEnd, headerEnd };
}

function parseHeader(v: { header: string }): Header {
  let header: unknown;
  try {
    header = JSON.parse(v.header);
  } catch {
    throw new CheckpointError('checkpoint header is not valid JSON');
  }
  if (typeof header !== 'object' || header === null || (header as { format?: unknown }).format !== 'hanami-checkpoint') {
    throw new CheckpointError('checkpoint header is not a Hanami checkpoint header');
  }
  return header as Header;
}

/** Rebuilds a network from checkpoint bytes. Throws CheckpointError on any inconsistency. */
export function decodeCheckpoint(file: Uint8Array): { state: NetworkState; meta: CheckpointMeta } {
  const v = verify(file);
  const header = parseHeader(v);
  try {
    return { state: buildState(file, v, header), meta: header.meta };
  } catch (e) {
    if (e instanceof CheckpointError) throw e;
    throw new CheckpointError(`checkpoint is inconsistent: ${(e as Error).message}`);
  }
}

class BufferReader {
  private offset: number;
  private index = 0;
  constructor(
    private readonly file: Uint8Array,
    start: number,
    private readonly end: number,
    private readonly list: { name: string; bytes: number }[],
  ) {
    this.offset = start;
  }

  /** Copies the next buffer (which must be called `name` and hold `bytes` bytes) into `into`. */
  next(name: string, bytes: number, into: ArrayBufferView): void {
    const entry = this.list[this.index++];
    if (!entry || entry.name !== name) throw new CheckpointError(`checkpoint buffer ${this.index - 1} should be "${name}", found "${entry?.name ?? 'nothing'}"`);
    if (entry.bytes !== bytes) throw new CheckpointError(`checkpoint buffer "${name}" has ${entry.bytes} bytes, expected ${bytes}`);
    this.offset += padding(this.offset);
    if (this.offset + bytes > this.end) throw new CheckpointError(`checkpoint is truncated inside buffer "${name}"`);
    if (bytes > into.byteLength) throw new CheckpointError(`checkpoint buffer "${name}" is larger than its table`);
    bytesOf(into, bytes).set(this.file.subarray(this.offset, this.offset + bytes));
    this.offset += bytes;
  }

  finish(): void {
    if (this.index !== this.list.length) throw new CheckpointError(`checkpoint lists ${this.list.length} buffers, ${this.index} were expected`);
    if (this.offset !== this.end) throw new CheckpointError(`checkpoint has ${this.end - this.offset} unexpected bytes after its buffers`);
  }
}

function check(condition: boolean, what: string): void {
  if (!condition) throw new CheckpointError(`checkpoint is inconsistent: ${what}`);
}

function isIndex(n: unknown, limit: number): n is number {
  return Number.isInteger(n) && (n as number) >= 0 && (n as number) < limit;
}

function buildState(file: Uint8Array, v: { headerEnd: number; bodyEnd: number }, h: Header): NetworkState {
  check(Array.isArray(h.hexagons) && h.hexagons.length > 0 && h.hexagons.length < 65536, 'hexagon list');
  const nHex = h.hexagons.length;
  check(Array.isArray(h.order) && h.order.length === nHex && new Set(h.order).size === nHex && h.order.every((x) => isIndex(x, nHex)), 'processing order');
  check(Array.isArray(h.outputs) && Array.isArray(h.inputs) && Array.isArray(h.pages) && Array.isArray(h.freeRuns) && Array.isArray(h.freeSections), 'header lists');
  check(Number.isInteger(h.sectionCount) && h.sectionCount >= 0 && h.sectionCount < 2 ** 31 / SECTION_STRIDE, 'section count');
  check(Number.isFinite(h.neuronCooldown) && h.neuronCooldown > 1 && Number.isInteger(h.refractoryTime) && h.refractoryTime >= 1, 'settings');
  const state: NetworkState = {
    seed: h.seed >>> 0,
    neuronCooldown: h.neuronCooldown,
    refractoryTime: h.refractoryTime,
    enableReduction: h.enableReduction === true,
    spiking: isSpiking(h.neuronCooldown, h.refractoryTime),
    counters: sharedFloat64(COUNTER_NAMES.length),
    hexagons: [],
    order: [...h.order],
    inputs: [],
    outputs: [],
    sectionsI32: new Int32Array(new SharedArrayBuffer(4)),
    sectionsF32: new Float32Array(new SharedArrayBuffer(4)),
    sectionCapacity: 0,
    freeSections: [...h.freeSections],
    pages: [],
    freeRuns: h.freeRuns.map((r) => [...r]),
  };
  state.sectionsF32 = new Float32Array(state.sectionsI32.buffer);
  const reader = new BufferReader(file, v.headerEnd, v.bodyEnd, h.buffers);
  reader.next('counters', COUNTER_NAMES.length * 8, state.counters);
  check(state.counters[COUNTER.sectionCount] === h.sectionCount, 'section counter');

  h.hexagons.forEach((hh, i) => {
    check(['input', 'hidden', 'output'].includes(hh.kind), `kind of hexagon ${i}`);
    check(Number.isInteger(hh.blocks) && hh.blocks >= 0 && hh.blocks < 1 << 20, `blocks of hexagon ${i}`);
    check(Array.isArray(hh.targets) && hh.targets.length === TARGET_SLOTS && hh.targets.every((t) => t === -1 || isIndex(t, nHex)), `targets of hexagon ${i}`);
    const neurons = new SharedArrayBuffer(4);
    const hex = {
      index: i,
      kind: hh.kind,
      targets: Int32Array.from(hh.targets),
      blocks: 0,
      neuronsI32: new Int32Array(neurons),
      neuronsF32: new Float32Array(neurons),
      capacityBlocks: 0,
      blockSections: new Int32Array(new SharedArrayBuffer(4)),
      freeSlots: hh.freeSlots,
      outputGroup: hh.outputGroup,
    };
    reserveNeuronBlocks(hex, hh.blocks);
    hex.blocks = hh.blocks;
    reader.next(`hexagon${i}.neurons`, hh.blocks * NEURONS_PER_BLOCK * NEURON_STRIDE * 4, hex.neuronsI32);
    reader.next(`hexagon${i}.blockSections`, hh.blocks * 4, hex.blockSections);
    state.hexagons.push(hex);
  });

  reserveSections(state, h.sectionCount);
  reader.next('sections', h.sectionCount * SECTION_STRIDE * 4, state.sectionsI32);

  h.pages.forEach((entry, p) => {
    const used = entry?.used;
    check(Number.isInteger(used) && used >= 0 && used <= SYNAPSES_PER_PAGE && isIndex(entry.lane, WALK_LANES), `page ${p}`);
    const page = newSynapsePage(entry.lane, used);
    page.used = used;
    reader.next(`page${p}.weight`, used * 4, page.weight);
    reader.next(`page${p}.border`, used * 4, page.border);
    reader.next(`page${p}.meta`, used * 4, page.meta);
    state.pages.push(page);
  });

  h.outputs.forEach((go, i) => {
    check(isIndex(go.hexagon, nHex) && state.hexagons[go.hexagon]!.kind === 'output', `hexagon of output group ${i}`);
    check(Number.isInteger(go.width) && go.width >= 0 && go.width < 1 << 20 && Number.isInteger(go.rows) && go.rows >= 0 && go.rows < 1 << 28, `size of output group ${i}`);
    const group = {
      hexagon: go.hexagon,
      interfaces: go.interfaces.map((x) => ({ ...x })),
      width: go.width,
      widthCapacity: 0,
      rows: 0,
      rowCapacity: 0,
      rowSrcHex: new Int32Array(new SharedArrayBuffer(4)),
      rowSrcNeuron: new Int32Array(new SharedArrayBuffer(4)),
      rowUses: new Float32Array(new SharedArrayBuffer(4)),
      weights: new Float32Array(new SharedArrayBuffer(4)),
      bias: new Float32Array(new SharedArrayBuffer(4)),
      scale: new Float32Array(new SharedArrayBuffer(4)),
    };
    reserveOutputRows(group, go.rows, go.width);
    group.rows = go.rows;
    reader.next(`output${i}.weights`, go.rows * go.width * 4, group.weights);
    reader.next(`output${i}.rowSrcHex`, go.rows * 4, group.rowSrcHex);
    reader.next(`output${i}.rowSrcNeuron`, go.rows * 4, group.rowSrcNeuron);
    reader.next(`output${i}.rowUses`, go.rows * 4, group.rowUses);
    reader.next(`output${i}.bias`, go.width * 4, group.bias);
    reader.next(`output${i}.scale`, go.width * 4, group.scale);
    state.outputs.push(group);
  });
  reader.finish();
  state.inputs = h.inputs.map((x) => ({ ...x }));
  validateTopology(state);
  return state;
}

/** Every index stored in the buffers must point inside the network. */
function validateTopology(state: NetworkState): void {
  const I = state.sectionsI32;
  const total = state.counters[COUNTER.sectionCount]!;
  for (let s = 0; s < total; s++) {
    const o = s * SECTION_STRIDE;
    if (I[o + SEC_KIND]! & FREE_SECTION) continue;
    const src = state.hexagons[I[o + SEC_SRC_HEX]!];
    const tgt = state.hexagons[I[o + SEC_TGT_HEX]!];
    check(src !== undefined && tgt !== undefined && tgt.kind !== 'output', `hexagons of section ${s}`);
    check(isIndex(I[o + SEC_SRC_NEURON], src!.blocks * NEURONS_PER_BLOCK), `source neuron of section ${s}`);
    check(isIndex(I[o + SEC_TGT_BLOCK], tgt!.blocks), `target block of section ${s}`);
    const page = state.pages[I[o + SEC_SYN_PAGE]!];
    const count = I[o + SEC_SYN_COUNT]!;
    const capacity = I[o + SEC_SYN_CAPACITY]!;
    check(count >= 0 && count <= capacity && capacity <= MAX_SYNAPSES_PER_SECTION, `synapse count of section ${s}`);
    check(capacity === 0 || (page !== undefined && page.lane === (s & 1) && I[o + SEC_SYN_OFFSET]! >= 0 && I[o + SEC_SYN_OFFSET]! + capacity <= page.used), `synapse run of section ${s}`);
    const next = I[o + SEC_NEXT]!;
    check(next === -1 || isIndex(next, total), `chain of section ${s}`);
  }
  for (const hex of state.hexagons) {
    const n = hex.blocks * NEURONS_PER_BLOCK;
    for (let i = 0; i < n; i++) {
      const first = hex.neuronsI32[i * NEURON_STRIDE + NEU_FIRST_SECTION]!;
      check(first === -1 || isIndex(first, total), `first section of neuron ${i} in hexagon ${hex.index}`);
      const row = hex.neuronsI32[i * NEURON_STRIDE + NEU_OUTPUT_ROW]!;
      check(row === -1 || hex.targets.some((t) => t >= 0 && state.hexagons[t]!.kind === 'output'), `output row of neuron ${i} in hexagon ${hex.index}`);
    }
    check(hex.outputGroup === -1 || isIndex(hex.outputGroup, state.outputs.length), `output group of hexagon ${hex.index}`);
  }
  for (const g of state.outputs) {
    for (let r = 0; r < g.rows; r++) {
      const hex = state.hexagons[g.rowSrcHex[r]!];
      check(hex !== undefined && isIndex(g.rowSrcNeuron[r], hex.blocks * NEURONS_PER_BLOCK), `source of output row ${r}`);
    }
    let offset = 0;
    for (const iface of g.interfaces) {
      check(iface.offset === offset && Number.isInteger(iface.size) && iface.size >= 0 && (iface.mode === 'class' || iface.mode === 'value'), `output interface ${iface.name}`);
      offset += iface.size;
    }
    check(offset === g.width, 'output widths');
  }
  for (const input of state.inputs) {
    const hex = state.hexagons[input.hexagon];
    check(hex !== undefined && hex.kind === 'input' && input.offset + input.size <= hex.blocks * NEURONS_PER_BLOCK, `input interface ${input.name}`);
  }
  for (const s of state.freeSections) check(isIndex(s, total) && (I[s * SECTION_STRIDE + SEC_KIND]! & FREE_SECTION) !== 0, 'free section list');
  for (const runs of state.freeRuns) {
    check(Array.isArray(runs), 'free run list');
    for (const run of runs) check(Number.isInteger(run) && isIndex(Math.floor(run / SYNAPSES_PER_PAGE), state.pages.length), 'free run');
  }
}
