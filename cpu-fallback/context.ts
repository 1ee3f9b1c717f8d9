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
  /** Sum of synaptic contributions gathered this cycle (zeroed when consumed). */
  input: Float32Array;
  /** Activation: raw value for input neurons, log2(1 + x) for hidden ones. */
  act: Float32Array;
  delta: Float32Array;
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

export class ExecutionContext {
  hex: HexagonScratch[] = [];
  out: OutputScratch[] = [];
  /** Per section: synapses the last forward walk reached (0 = not walked). */
  walked = new Int32Array(0);
  /** Per section: share of the last reached synapse that was covered (1 = fully). */
  share = new Float32Array(0);
  requests = new GrowthRequests();
  /** Synapses visited (forward + backward), counted for work measurements. */
  visits = 0;

  constructor(state: NetworkState) {
    this.fit(state);
  }

  /** Resizes scratch after the network grew. Cheap when nothing changed. */
  fit(state: NetworkState): void {
    for (let h = 0; h < state.hexagons.length; h++) {
      const need = state.hexagons[h]!.capacityBlocks * NEURONS_PER_BLOCK;
      const cur = this.hex[h];
      if (cur && cur.act.length >= need) continue;
      const next: HexagonScratch = {
        input: new Float32Array(need),
        act: new Float32Array(need),
        delta: new Float32Array(need),
        active: new Int32Array(need),
        activeCount: 0,
      };
      if (cur) {
        next.input.set(cur.input);
        next.act.set(cur.act);
      }
      this.hex[h] = next;
    }
    if (this.walked.length < state.sectionCapacity) {
      const walked = new Int32Array(state.sectionCapacity);
      walked.set(this.walked);
      const share = new Float32Array(state.sectionCapacity);
      share.set(this.share);
      this.walked = walked;
      this.share = share;
    }
    for (let g = 0; g < state.outputs.length; g++) {
      const need = state.outputs[g]!.widthCapacity;
      const cur = this.out[g];
      if (cur && cur.z.length >= need) continue;
      this.out[g] = { z: new Float64Array(need), value: new Float32Array(need), grad: new Float64Array(need) };
    }
  }
}
