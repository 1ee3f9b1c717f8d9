/**
 * The training section walks in WebAssembly (cpu-fallback/wasm/walk.wat, compiled by
 * scripts/build-wasm.js): the same rules and arithmetic as forwardSectionsTrain and
 * backwardSections in steps.ts, which stay the reference (the test compares the two byte for
 * byte).
 *
 * WebAssembly sees only its own linear memory, so for one training slice the arrays the walk
 * touches are *mapped* into it: copied in once, and the network's and the context's typed
 * arrays are replaced by views of the copies, so every other step (loading rows, the neuron
 * update, the output layer, growth, reduction) keeps working on the same bytes through the
 * same fields. When growth replaces an array (more sections, blocks or pages, compaction),
 * the next walk maps again. At the end of the slice ({@link WasmWalk.release}) the contents
 * go back into the original shared buffers and the original arrays are put back, so between
 * slices the network is exactly what it would be without this module.
 *
 * Used only by a thread training alone (no team: a partner thread could not see this
 * thread's private memory) on networks whose sections are all plain (binary and match
 * input sections keep the TypeScript walk). HANAMI_WALK=ts turns it off.
 */
import { readFileSync } from 'node:fs';
import type { BoundData, InputBinding } from '../kernels/contract.js';
import { type GrowthRequests } from '../kernels/growth.js';
import { PAGE_COLUMNS, SYNAPSES_PER_PAGE } from '../kernels/layout.js';
import type { NetworkState, SynapsePage } from '../kernels/state.js';
import type { ExecutionContext, HexagonScratch, OutputScratch, SliceWalk } from './context.js';

/** The part of the WebAssembly JS API used here (the project's type libraries do not
 *  declare it: no DOM lib, and @types/node 20 leaves it out). */
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
};
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

interface WalkExports {
  memory: WasmMemory;
  configure(pageTab: number, hexTab: number, log: number, req: number): void;
  visits(): number;
  logCount(): number;
  reqCount(): number;
  forwardTrain(h: number, act: number, active: number, count: number, neu: number, sec: number, logIn: number): void;
  backward(h: number, hidden: number, reinforce: number, from: number, to: number, sec: number): void;
  clearActive(act: number, active: number, count: number): void;
  loadValues(stage: number, bytes: number, size: number, act: number, active: number, count: number, to: number): number;
  outputsForward(z: number, width: number, wc: number, W: number, rows: number, srcHex: number, srcNeuron: number, activeRows: number, rowY: number): number;
  outputsBackward(grad: number, width: number, wc: number, W: number, srcHex: number, srcNeuron: number, uses: number, activeRows: number, rowY: number, count: number): void;
}

/** Addresses of one output group's arrays and of its context scratch. */
interface OutputAddresses {
  weights: number;
  srcHex: number;
  srcNeuron: number;
  uses: number;
  z: number;
  grad: number;
  rows: number;
  rowY: number;
}

const WASM_PAGE = 65536;
const LOG_ENTRY_BYTES = 40;
const REQUEST_BYTES = 24;
const HEX_ENTRY_BYTES = 32;
const PAGE_BYTES = SYNAPSES_PER_PAGE * 4 * PAGE_COLUMNS;

type View = Int32Array | Uint32Array | Float32Array | Float64Array;

/** One array replaced by a view of its copy in linear memory. `alias`: a second view of the
 *  same bytes (sectionsF32 beside sectionsI32), restored but not copied. */
interface Mapping {
  owner: object;
  key: string;
  original: View;
  view: View;
  alias: boolean;
  /** Elements to copy back (pages: up to their bump pointer at release). */
  page?: SynapsePage;
}

let compiled: object | null | undefined;

/** The compiled module, or null when dist/…/walk.wasm is missing (a build without
 *  scripts/build-wasm.js): training then uses the TypeScript walk. */
function moduleOnce(): object | null {
  if (compiled !== undefined) return compiled;
  try {
    compiled = new WebAssembly.Module(readFileSync(new URL('./wasm/walk.wasm', import.meta.url)));
  } catch (error) {
    compiled = null;
    process.emitWarning(`the WebAssembly walk is not available (${error instanceof Error ? error.message : String(error)}); training uses the TypeScript walk`);
  }
  return compiled;
}

/** A new instance (its own linear memory), or null without the module. */
function instantiate(): WalkExports | null {
  const module = moduleOnce();
  if (!module) return null;
  return new WebAssembly.Instance(module, { Math: { log2: Math.log2 } }).exports as WalkExports;
}

/** Whether the WebAssembly walk can run in this process (built and loadable). */
export function wasmWalkAvailable(): boolean {
  return moduleOnce() !== null;
}

/** Linear memory cannot shrink: a thread's walker whose memory grew beyond this for a large
 *  network is dropped after the slice (and made anew for the next), so a worker does not
 *  keep the largest network it ever trained. */
const RETAIN_BYTES = 64 * 1024 * 1024;

/** Fewest rows a trainRows call must have to use the walk: mapping a network in and out of
 *  linear memory copies its synapse pages (768 KiB each) twice, about the time the walk saves
 *  on 4–5 samples (fashion60k: ~0.26 ms per call against ~60 µs saved per sample), so a
 *  direct-training call of a few rows keeps the TypeScript walk. */
export const WASM_WALK_MIN_ROWS = 32;

/** Whether training should use it by default (HANAMI_WALK=ts selects the reference walk). */
export function wasmWalkWanted(): boolean {
  return process.env.HANAMI_WALK !== 'ts';
}

function set(owner: object, key: string, value: unknown): void {
  (owner as Record<string, unknown>)[key] = value;
}
function get(owner: object, key: string): unknown {
  return (owner as Record<string, unknown>)[key];
}

export class WasmWalk implements SliceWalk {
  private readonly x: WalkExports;
  private state: NetworkState | null = null;
  private ctx: ExecutionContext | null = null;
  private mappings: Mapping[] = [];
  private sections: Int32Array | null = null;
  private pageViews: Float32Array[] = [];
  private neuronViews: Int32Array[] = [];
  private scratch: HexagonScratch[] = [];
  private outWeights: Float32Array[] = [];
  private outSrcHex: Int32Array[] = [];
  private outScratch: OutputScratch[] = [];
  private outAddr: OutputAddresses[] = [];
  private secAddr = 0;
  private logAddr = 0;
  private stageAddr = 0;
  private stageF32 = new Float32Array(0);
  private stageU8 = new Uint8Array(0);
  private neuAddr: number[] = [];
  private actAddr: number[] = [];
  private activeAddr: number[] = [];
  private reqView = new Float64Array(0);
  private reqI32 = new Int32Array(0);
  /** Mappings made (for tests: growth that replaces arrays maps again). */
  maps = 0;

  private constructor(x: WalkExports) {
    this.x = x;
  }

  private static instance: WasmWalk | null | undefined;

  /** This thread's walker, or null when the module is not available. */
  static forThread(): WasmWalk | null {
    if (WasmWalk.instance === undefined) {
      const x = instantiate();
      WasmWalk.instance = x ? new WasmWalk(x) : null;
    }
    return WasmWalk.instance;
  }

  /** Whether the walk can take this network (all sections plain). */
  static supports(state: NetworkState): boolean {
    return state.inputs.every((i) => i.type === 'plain');
  }

  /** Makes sure the network and the context are mapped, as they are now. Callers must not
   *  hold arrays of either across this call (they may be replaced by views). */
  ensure(state: NetworkState, ctx: ExecutionContext): void {
    if (this.current(state, ctx)) return;
    this.release();
    this.map(state, ctx);
  }

  private current(state: NetworkState, ctx: ExecutionContext): boolean {
    if (this.state !== state || this.ctx !== ctx || this.sections !== state.sectionsI32) return false;
    const pages = state.pages;
    if (pages.length !== this.pageViews.length) return false;
    for (let p = 0; p < pages.length; p++) if (pages[p]!.weight !== this.pageViews[p]) return false;
    const hexagons = state.hexagons;
    if (hexagons.length !== this.neuronViews.length) return false;
    for (let h = 0; h < hexagons.length; h++) {
      if (hexagons[h]!.neuronsI32 !== this.neuronViews[h] || ctx.hex[h] !== this.scratch[h]) return false;
    }
    const outputs = state.outputs;
    if (outputs.length !== this.outWeights.length) return false;
    for (let g = 0; g < outputs.length; g++) {
      const o = outputs[g]!;
      if (o.weights !== this.outWeights[g] || o.rowSrcHex !== this.outSrcHex[g] || ctx.out[g] !== this.outScratch[g]) return false;
    }
    return true;
  }

  private map(state: NetworkState, ctx: ExecutionContext): void {
    const x = this.x;
    const hexagons = state.hexagons;
    const H = hexagons.length;
    const P = state.pages.length;
    let at = 64;
    const take = (bytes: number): number => {
      const a = at;
      at = (at + bytes + 15) & ~15;
      return a;
    };
    const pageTab = take(4 * Math.max(1, P));
    const hexTab = take(HEX_ENTRY_BYTES * H);
    const secAddr = take(state.sectionsI32.byteLength);
    const neuAddr = hexagons.map((h) => take(h.neuronsI32.byteLength));
    const scratchKeys = ['input0', 'input1', 'delta', 'dpart0', 'dpart1', 'act', 'active'] as const;
    const scratchAddr = ctx.hex.slice(0, H).map((s) => scratchKeys.map((k) => take(s[k].byteLength)));
    let neurons = 0;
    for (const h of hexagons) neurons += h.capacityBlocks * 128;
    const sectionRecords = Math.max(state.sectionCapacity, state.sectionsI32.length >> 4);
    const logAddr = take(LOG_ENTRY_BYTES * (sectionRecords + 1));
    const reqCapacity = sectionRecords + neurons + 16;
    const reqAddr = take(REQUEST_BYTES * reqCapacity);
    const outAddr: OutputAddresses[] = state.outputs.map((o, g) => {
      const out = ctx.out[g]!;
      return {
        weights: take(o.weights.byteLength),
        srcHex: take(o.rowSrcHex.byteLength),
        srcNeuron: take(o.rowSrcNeuron.byteLength),
        uses: take(o.rowUses.byteLength),
        z: take(out.z.byteLength),
        grad: take(out.grad.byteLength),
        rows: take(out.rows.byteLength),
        rowY: take(out.rowY.byteLength),
      };
    });
    // Staging for one input row's values (a binding is at most its input hexagon's size).
    const stageAddr = take(4 * neurons);
    const pageAddr = state.pages.map(() => take(PAGE_BYTES));
    // A mapping in the middle of a sample keeps the walk log the forward pass wrote (its
    // entries name pages and hexagons by index, so they stay valid at the new addresses).
    const logBytes = ctx.log.count * LOG_ENTRY_BYTES;
    const keptLog = logBytes > 0 && this.logAddr > 0 ? new Uint8Array(x.memory.buffer, this.logAddr, logBytes).slice() : null;
    const need = Math.ceil(at / WASM_PAGE);
    const have = x.memory.buffer.byteLength / WASM_PAGE;
    if (need > have) x.memory.grow(need - have);
    const buffer = x.memory.buffer;
    if (keptLog) new Uint8Array(buffer, logAddr, keptLog.length).set(keptLog);

    const mappings: Mapping[] = [];
    const adopt = <T extends View>(owner: object, key: string, view: T, alias = false): T => {
      const original = get(owner, key) as T;
      if (!alias) view.set(original);
      set(owner, key, view);
      mappings.push({ owner, key, original, view, alias });
      return view;
    };
    // Sections (two views of one record array).
    const sections = adopt(state, 'sectionsI32', new Int32Array(buffer, secAddr, state.sectionsI32.length));
    adopt(state, 'sectionsF32', new Float32Array(buffer, secAddr, state.sectionsI32.length), true);
    const neuronViews = hexagons.map((h, i) => {
      const v = adopt(h, 'neuronsI32', new Int32Array(buffer, neuAddr[i], h.neuronsI32.length));
      adopt(h, 'neuronsF32', new Float32Array(buffer, neuAddr[i], h.neuronsI32.length), true);
      return v;
    });
    const hexTable = new Int32Array(buffer, hexTab, (HEX_ENTRY_BYTES / 4) * H);
    const scratch = ctx.hex.slice(0, H);
    scratch.forEach((s, h) => {
      const addr = scratchAddr[h]!;
      adopt(s, 'input0', new Float64Array(buffer, addr[0], s.input0.length));
      adopt(s, 'input1', new Float64Array(buffer, addr[1], s.input1.length));
      adopt(s, 'delta', new Float32Array(buffer, addr[2], s.delta.length));
      adopt(s, 'dpart0', new Float64Array(buffer, addr[3], s.dpart0.length));
      adopt(s, 'dpart1', new Float64Array(buffer, addr[4], s.dpart1.length));
      adopt(s, 'act', new Float32Array(buffer, addr[5], s.act.length));
      adopt(s, 'active', new Int32Array(buffer, addr[6], s.active.length));
      const row = h * (HEX_ENTRY_BYTES / 4);
      for (let k = 0; k < 6; k++) hexTable[row + k] = addr[k]!;
      hexTable[row + 6] = hexagons[h]!.kind === 'input' ? 1 : 0;
    });
    const outWeights = state.outputs.map((o, g) => {
      const a = outAddr[g]!;
      const out = ctx.out[g]!;
      adopt(o, 'rowSrcHex', new Int32Array(buffer, a.srcHex, o.rowSrcHex.length));
      adopt(o, 'rowSrcNeuron', new Int32Array(buffer, a.srcNeuron, o.rowSrcNeuron.length));
      adopt(o, 'rowUses', new Float32Array(buffer, a.uses, o.rowUses.length));
      adopt(out, 'z', new Float64Array(buffer, a.z, out.z.length));
      adopt(out, 'grad', new Float64Array(buffer, a.grad, out.grad.length));
      adopt(out, 'rows', new Int32Array(buffer, a.rows, out.rows.length));
      adopt(out, 'rowY', new Float64Array(buffer, a.rowY, out.rowY.length));
      return adopt(o, 'weights', new Float32Array(buffer, a.weights, o.weights.length));
    });
    const pageTable = new Int32Array(buffer, pageTab, Math.max(1, P));
    const pageViews = state.pages.map((page, p) => {
      const a = pageAddr[p]!;
      pageTable[p] = a;
      const weight = new Float32Array(buffer, a, SYNAPSES_PER_PAGE);
      weight.set(page.weight);
      const border = new Float32Array(buffer, a + SYNAPSES_PER_PAGE * 4, SYNAPSES_PER_PAGE);
      border.set(page.border);
      const meta = new Uint32Array(buffer, a + SYNAPSES_PER_PAGE * 8, SYNAPSES_PER_PAGE);
      meta.set(page.meta);
      for (const [key, view] of [
        ['weight', weight],
        ['border', border],
        ['meta', meta],
      ] as const) {
        mappings.push({ owner: page, key, original: page[key], view, alias: false, page });
        set(page, key, view);
      }
      return weight;
    });
    x.configure(pageTab, hexTab, logAddr, reqAddr);

    this.state = state;
    this.ctx = ctx;
    this.mappings = mappings;
    this.sections = sections;
    this.pageViews = pageViews;
    this.neuronViews = neuronViews;
    this.scratch = scratch;
    this.outWeights = outWeights;
    this.outSrcHex = state.outputs.map((o) => o.rowSrcHex);
    this.outScratch = state.outputs.map((_, g) => ctx.out[g]!);
    this.outAddr = outAddr;
    this.logAddr = logAddr;
    this.stageAddr = stageAddr;
    this.stageF32 = new Float32Array(buffer, stageAddr, neurons);
    this.stageU8 = new Uint8Array(buffer, stageAddr, 4 * neurons);
    this.secAddr = secAddr;
    this.neuAddr = neuAddr;
    this.actAddr = scratchAddr.map((a) => a[5]!);
    this.activeAddr = scratchAddr.map((a) => a[6]!);
    this.reqView = new Float64Array(buffer, reqAddr, (REQUEST_BYTES / 8) * reqCapacity);
    this.reqI32 = new Int32Array(buffer, reqAddr, (REQUEST_BYTES / 4) * reqCapacity);
    this.maps++;
  }

  /**
   * Copies what is mapped back into the original arrays and puts them back. An array that
   * growth replaced meanwhile (with a copy made from the view) is left as growth left it.
   */
  release(): void {
    for (const m of this.mappings) {
      if (get(m.owner, m.key) !== m.view) continue;
      if (!m.alias) {
        if (m.page) (m.original as Float32Array).set((m.view as Float32Array).subarray(0, m.page.used));
        else (m.original as Float32Array).set(m.view);
      }
      set(m.owner, m.key, m.original);
    }
    this.mappings = [];
    if (this.x.memory.buffer.byteLength > RETAIN_BYTES && WasmWalk.instance === this) WasmWalk.instance = undefined;
    this.state = null;
    this.ctx = null;
    this.sections = null;
    this.pageViews = [];
    this.neuronViews = [];
    this.scratch = [];
    this.outWeights = [];
    this.outSrcHex = [];
    this.outScratch = [];
    this.outAddr = [];
  }

  /** forwardSectionsTrain for every lane of `hexagon`. */
  forward(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
    this.ensure(state, ctx);
    const x = this.x;
    const log = ctx.log;
    ctx.logStart[hexagon] = log.count;
    x.forwardTrain(hexagon, this.actAddr[hexagon]!, this.activeAddr[hexagon]!, ctx.activeCount[hexagon]!, this.neuAddr[hexagon]!, this.secAddr, log.count);
    log.count = x.logCount();
    ctx.logEnd[hexagon] = log.count;
    ctx.visits += x.visits();
    const requests = x.reqCount();
    if (requests > 0) this.replayRequests(ctx.requests, requests);
  }

  private replayRequests(lists: GrowthRequests[], count: number): void {
    const I = this.reqI32;
    const F = this.reqView;
    for (let r = 0; r < count; r++) {
      const w = r * (REQUEST_BYTES / 4);
      lists[I[w]!]!.push(I[w + 1]!, I[w + 2]!, I[w + 3]!, F[r * (REQUEST_BYTES / 8) + 2]!);
    }
  }

  /** backwardSections for `hexagon` (the log entries its forward walk made). */
  backward(ctx: ExecutionContext, state: NetworkState, hexagon: number): void {
    this.ensure(state, ctx);
    const x = this.x;
    x.backward(hexagon, state.hexagons[hexagon]!.kind === 'hidden' ? 1 : 0, state.enableReduction ? 1 : 0, ctx.logStart[hexagon]!, ctx.logEnd[hexagon]!, this.secAddr);
    ctx.visits += x.visits();
  }

  /** The link part of computeOutputs (after ensure): z += y · W over the active rows, which
   *  are recorded with their activations for the backward step. */
  outputsForward(state: NetworkState, ctx: ExecutionContext, group: number): void {
    const g = state.outputs[group]!;
    const a = this.outAddr[group]!;
    ctx.out[group]!.rowCount = this.x.outputsForward(a.z, g.width, g.widthCapacity, a.weights, g.rows, a.srcHex, a.srcNeuron, a.rows, a.rowY);
  }

  /** The link part of backwardOutputs (after ensure). */
  outputsBackward(state: NetworkState, ctx: ExecutionContext, group: number): void {
    const g = state.outputs[group]!;
    const a = this.outAddr[group]!;
    this.x.outputsBackward(a.grad, g.width, g.widthCapacity, a.weights, a.srcHex, a.srcNeuron, a.uses, a.rows, a.rowY, ctx.out[group]!.rowCount);
  }

  /** loadRow: clears the previous row's active input neurons, then copies each binding's
   *  values (in neuron order) into linear memory in one block and loads them there without a
   *  branch per value. */
  loadRow(ctx: ExecutionContext, state: NetworkState, data: BoundData, row: number, bindings: readonly InputBinding[]): void {
    this.ensure(state, ctx);
    const x = this.x;
    const hexagons = state.hexagons;
    for (let h = 0; h < hexagons.length; h++) {
      if (hexagons[h]!.kind !== 'input') continue;
      x.clearActive(this.actAddr[h]!, this.activeAddr[h]!, ctx.activeCount[h]!);
      ctx.activeCount[h] = 0;
    }
    const src = data.inputs;
    const bytes = src instanceof Uint8Array ? 1 : 0;
    const base = row * data.inputWidth;
    for (const b of bindings) {
      const iface = state.inputs[b.input]!;
      const from = base + b.column;
      if (bytes) this.stageU8.set((src as Uint8Array).subarray(from, from + b.size));
      else this.stageF32.set((src as Float32Array).subarray(from, from + b.size));
      const h = iface.hexagon;
      ctx.activeCount[h] = x.loadValues(this.stageAddr, bytes, b.size, this.actAddr[h]!, this.activeAddr[h]!, ctx.activeCount[h]!, iface.offset);
    }
  }
}
