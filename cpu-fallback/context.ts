/**
 * Per-execution scratch: neuron inputs, activations and deltas, the walk log used by the
 * backward pass, output values and growth requests. The network's persistent state
 * (kernels/state.ts) is shared; a context belongs to one execution (one thread, or one team
 * of two threads training one network together), so several workers can run inference on the
 * same network at once, each with its own context.
 *
 * Section walks are split into WALK_LANES lanes by section id (lane = id & 1). Every lane has
 * its own input accumulators, delta partials and growth requests, summed or applied in lane
 * order afterwards. One thread runs both lanes; a team of two runs one each, and the results
 * are the same bit for bit. The arrays a team shares live in SharedArrayBuffers.
 */
import type { BoundData, InputBinding } from '../kernels/contract.js';
import { GrowthRequests } from '../kernels/growth.js';
import { NEURONS_PER_BLOCK, WALK_LANES } from '../kernels/layout.js';
import type { NetworkState } from '../kernels/state.js';

export interface HexagonScratch {
  /** Per lane: sum of synaptic contributions gathered this cycle (zeroed when consumed);
   *  double precision so the walk's hot loop needs no float conversions on its stores. */
  input0: Float64Array;
  input1: Float64Array;
  /** Activation: raw value for input neurons, log2(1 + x) for hidden ones. */
  act: Float32Array;
  delta: Float32Array;
  /** Per lane: sum(weight × target delta) collected by hidden source neurons. */
  dpart0: Float64Array;
  dpart1: Float64Array;
  /** Hidden neurons: slope of the activation at this cycle's potential (for backward). */
  slope: Float32Array;
  /** Indices of neurons with activation > 0 this cycle, in increasing order
   *  (the count is in ExecutionContext.activeCount). */
  active: Int32Array;
}

export interface OutputScratch {
  /** Pre-activation (logit) per output value. */
  z: Float64Array;
  /** Final output values: class probabilities, or values in target units. */
  value: Float32Array;
  /** Loss gradient per output value. */
  grad: Float64Array;
  /** Rows whose source was active in the last forward pass (in row order), and each one's
   *  link activation: the backward step reuses them instead of recomputing. */
  rows: Int32Array;
  rowY: Float64Array;
  rowCount: number;
}

/** The steps a training slice runs elsewhere than in steps.ts: the WebAssembly walk
 *  (wasm-walk.ts implements it; declared here so the context does not import it). */
export interface SliceWalk {
  /** Maps the network and the context for the walk if they changed; arrays of either must
   *  not be held across this call. */
  ensure(state: NetworkState, ctx: ExecutionContext): void;
  loadRow(ctx: ExecutionContext, state: NetworkState, data: BoundData, row: number, bindings: readonly InputBinding[]): void;
  forward(ctx: ExecutionContext, state: NetworkState, hexagon: number): void;
  backward(ctx: ExecutionContext, state: NetworkState, hexagon: number): void;
  outputsForward(state: NetworkState, ctx: ExecutionContext, group: number): void;
  outputsBackward(state: NetworkState, ctx: ExecutionContext, group: number): void;
  /** Ends the slice: the network and the context are back in their own arrays. */
  release(): void;
}

/** What the two threads of a team share (sent to the second thread when it joins). */
export interface SharedScratch {
  hex: HexagonScratch[];
  activeCount: Int32Array;
  requests: GrowthRequests[];
}

/** Columns of the walk log (grown by doubling; each thread of a team has its own). */
export class WalkLog {
  count = 0;
  section: Int32Array = new Int32Array(1024);
  /** Index of the first reached synapse in its page, and how many were reached. */
  first: Int32Array = new Int32Array(1024);
  length: Int32Array = new Int32Array(1024);
  page: Int32Array = new Int32Array(1024);
  tgtHex: Int32Array = new Int32Array(1024);
  /** First neuron of the target block inside the target hexagon. */
  tgtBase: Int32Array = new Int32Array(1024);
  srcNeuron: Int32Array = new Int32Array(1024);
  /** Covered share of the last reached synapse (1 = fully). */
  share: Float64Array = new Float64Array(1024);

  /** Makes room for one more entry. */
  reserve(): void {
    if (this.count < this.section.length) return;
    const n = this.section.length * 2;
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (k: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    const i32 = (k: number): Int32Array => new Int32Array(k);
    this.section = grow(this.section, i32);
    this.first = grow(this.first, i32);
    this.length = grow(this.length, i32);
    this.page = grow(this.page, i32);
    this.tgtHex = grow(this.tgtHex, i32);
    this.tgtBase = grow(this.tgtBase, i32);
    this.srcNeuron = grow(this.srcNeuron, i32);
    this.share = grow(this.share, (k) => new Float64Array(k));
  }
}

function sharedF64(n: number): Float64Array {
  return new Float64Array(new SharedArrayBuffer(Math.max(1, n) * 8));
}
function sharedF32(n: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(Math.max(1, n) * 4));
}
function sharedI32(n: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(Math.max(1, n) * 4));
}

export class ExecutionContext {
  /** -1: this thread runs every lane; 0 or 1: the lane this thread runs in a team. */
  lane = -1;
  hex: HexagonScratch[] = [];
  /** Per hexagon: active neurons this cycle. */
  activeCount = sharedI32(0);
  /** 1 for input hexagons (their raw values are compressed before feeding output links). */
  inputHex = new Uint8Array(0);
  out: OutputScratch[] = [];
  /** What the training forward pass walked, one entry per walked section, in walk order;
   *  the backward pass replays it without touching section records again. */
  log = new WalkLog();
  /** Per hexagon: the log entries its neurons' sections produced, [start, end). */
  logStart = new Int32Array(0);
  logEnd = new Int32Array(0);
  /** Growth requests per lane, applied lane 0 first. */
  requests: GrowthRequests[] = Array.from({ length: WALK_LANES }, () => new GrowthRequests());
  /** Synapses visited (forward + backward), counted for work measurements. */
  visits = 0;
  /** Bumped whenever a shared array is replaced (a team member must re-read them). */
  generation = 0;
  /** Which training walk this context runs when it trains alone: the WebAssembly one
   *  (cpu-fallback/wasm-walk.ts) or the TypeScript reference (steps.ts). */
  walk: 'wasm' | 'ts' = process.env.HANAMI_WALK === 'ts' ? 'ts' : 'wasm';
  /** Set by trainRows for the duration of a slice that uses the WebAssembly walk. */
  wasm: SliceWalk | null = null;

  constructor(state: NetworkState) {
    this.fit(state);
  }

  /** A context for the second thread of a team, over the first thread's shared arrays. */
  static teamMember(state: NetworkState, shared: SharedScratch, lane: number): ExecutionContext {
    const ctx = new ExecutionContext(state);
    ctx.adopt(shared);
    ctx.lane = lane;
    return ctx;
  }

  shared(): SharedScratch {
    return { hex: this.hex, activeCount: this.activeCount, requests: this.requests };
  }

  adopt(shared: SharedScratch): void {
    this.hex = shared.hex;
    this.activeCount = shared.activeCount;
    this.requests = shared.requests.map((r) => GrowthRequests.revive(r));
  }

  /** Resizes scratch after the network grew. Cheap when nothing changed. */
  fit(state: NetworkState): void {
    const hexagons = state.hexagons.length;
    if (this.inputHex.length !== hexagons) {
      this.inputHex = Uint8Array.from(state.hexagons, (h) => (h.kind === 'input' ? 1 : 0));
      this.logStart = new Int32Array(hexagons);
      this.logEnd = new Int32Array(hexagons);
      this.activeCount = sharedI32(hexagons);
      this.generation++;
    }
    for (let h = 0; h < hexagons; h++) {
      const need = state.hexagons[h]!.capacityBlocks * NEURONS_PER_BLOCK;
      const cur = this.hex[h];
      if (cur && cur.act.length >= need) continue;
      const next: HexagonScratch = {
        input0: sharedF64(need),
        input1: sharedF64(need),
        act: sharedF32(need),
        delta: sharedF32(need),
        dpart0: sharedF64(need),
        dpart1: sharedF64(need),
        slope: sharedF32(need),
        active: sharedI32(need),
      };
      if (cur) {
        next.input0.set(cur.input0);
        next.input1.set(cur.input1);
        next.act.set(cur.act);
        next.active.set(cur.active);
      }
      this.hex[h] = next;
      this.generation++;
    }
    // Requests: a lane makes at most one per section it walks, plus one per active neuron.
    let neurons = 0;
    for (const h of state.hexagons) neurons += h.capacityBlocks * NEURONS_PER_BLOCK;
    const need = state.sectionCapacity + neurons + 16;
    for (const r of this.requests) {
      if (r.capacity < need) {
        r.reserve(need);
        this.generation++;
      }
    }
    for (let g = 0; g < state.outputs.length; g++) {
      const width = state.outputs[g]!.widthCapacity;
      const cur = this.out[g];
      const rows = state.outputs[g]!.rowCapacity;
      if (cur && cur.z.length >= width && cur.rows.length >= rows) continue;
      this.out[g] = { z: new Float64Array(width), value: new Float32Array(width), grad: new Float64Array(width), rows: new Int32Array(rows), rowY: new Float64Array(rows), rowCount: 0 };
    }
  }
}
