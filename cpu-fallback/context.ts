/**
 * Per-execution scratch: neuron inputs, activations and deltas, the section walk record
 * used by the backward pass, output values and growth requests. The network's persistent
 * state (kernels/state.ts) is shared; a context belongs to one thread, so several workers
 * can run inference on the same network at once, each with its own context.
 */
import { GrowthRequests } from '../kernels/growth.js';
import { NEURONS_PER_BLOCK } from '../kernels/layout.js';
import type { NetworkState } from '../kernels/state.js';

export interface HexagonScratch {
  /** Sum of synaptic contributions gathered this cycle (zeroed when consumed); double
   *  precision so the walk's hot loop needs no float conversions on its stores. */
  input: Float64Array;
  /** Activation: raw value for input neurons, log2(1 + x) for hidden ones. */
  act: Float32Array;
  delta: Float32Array;
  /** Hidden neurons: slope of the activation at this cycle's potential (for backward). */
  slope: Float32Array;
  /** Indices of neurons with activation > 0 this cycle, in increasing order. */
  active: Int32Array;
  activeCount: number;
}

export interface OutputScratch {
  /** Pre-activation (logit) per output value. */
  z: Float64Array;
  /** Final output values: class probabilities, or values in target units. */
  value: Float32Array;
  /** Loss gradient per output value. */
  grad: Float64Array;
}

/** Columns of the walk log (grown by doubling). */
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
    const grow = <T extends Int32Array | Float64Array>(a: T, make: (n: number) => T): T => {
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

export class ExecutionContext {
  hex: HexagonScratch[] = [];
  /** 1 for input hexagons (their raw values are compressed before feeding output links). */
  inputHex = new Uint8Array(0);
  out: OutputScratch[] = [];
  /** What the training forward pass walked, one entry per walked section, in walk order;
   *  the backward pass replays it without touching section records again. */
  log = new WalkLog();
  /** Per hexagon: the log entries its neurons' sections produced, [start, end). */
  logStart = new Int32Array(0);
  logEnd = new Int32Array(0);
  requests = new GrowthRequests();
  /** Synapses visited (forward + backward), counted for work measurements. */
  visits = 0;

  constructor(state: NetworkState) {
    this.fit(state);
  }

  /** Resizes scratch after the network grew. Cheap when nothing changed. */
  fit(state: NetworkState): void {
    if (this.inputHex.length !== state.hexagons.length) this.inputHex = Uint8Array.from(state.hexagons, (h) => (h.kind === 'input' ? 1 : 0));
    for (let h = 0; h < state.hexagons.length; h++) {
      const need = state.hexagons[h]!.capacityBlocks * NEURONS_PER_BLOCK;
      const cur = this.hex[h];
      if (cur && cur.act.length >= need) continue;
      const next: HexagonScratch = {
        input: new Float64Array(need),
        act: new Float32Array(need),
        delta: new Float32Array(need),
        slope: new Float32Array(need),
        active: new Int32Array(need),
        activeCount: 0,
      };
      if (cur) {
        next.input.set(cur.input);
        next.act.set(cur.act);
      }
      this.hex[h] = next;
    }
    if (this.logStart.length !== state.hexagons.length) {
      this.logStart = new Int32Array(state.hexagons.length);
      this.logEnd = new Int32Array(state.hexagons.length);
    }
    for (let g = 0; g < state.outputs.length; g++) {
      const need = state.outputs[g]!.widthCapacity;
      const cur = this.out[g];
      if (cur && cur.z.length >= need) continue;
      this.out[g] = { z: new Float64Array(need), value: new Float32Array(need), grad: new Float64Array(need) };
    }
  }
}
