/**
 * Direct I/O with one network: samples in, their outputs back, through the host's backend.
 * Inputs and targets are bound by ./binding.ts (the rules datasets follow too); the rows run
 * as `inline` work (kernels/contract.ts): on the CPU backend in the calling thread, where one
 * MNIST-size sample takes tens of microseconds and a worker round trip as long again, on the
 * WebGPU backend as one batch. Larger batches of concurrent requests may go to the CPU worker
 * pool instead (`requestMany`, used by server/io/).
 */
import { type Backend, type BoundData, type ClusterHandle, outputWidth } from '../../kernels/contract.js';
import { BindError, type SampleInputs, type SampleTarget, bindSample } from './binding.js';
import { argmax } from './evaluate.js';

export type { SampleInputs, SampleTarget };

export interface DirectAnswer {
  /** Every output value of every output, in output order. */
  outputs: Float32Array;
  /** Per output interface: its name, where its values start in `outputs`, and for class
   *  outputs the index of the largest value. */
  interfaces: { name: string; offset: number; size: number; mode: 'class' | 'value'; argmax?: number }[];
}

export interface RequestManyOptions {
  /** Answer in the calling thread where the backend can (a few rows, or a read between two
   *  slices of a running task): PredictRequest.inline. */
  inline: boolean;
  /** When not inline: cut the valid rows into this many slices (the CPU pool's workers). */
  slices?: number;
}

/** Runs samples against one cluster. The caller serializes calls per cluster (and keeps
 *  tasks off the cluster meanwhile, or calls from a task's `between` hook). */
export class DirectRunner {
  constructor(
    private readonly cluster: ClusterHandle,
    private readonly backend: Backend,
  ) {}

  /** Forward only. Spiking networks carry their state to the next call. */
  async request(inputs: SampleInputs): Promise<DirectAnswer> {
    const data = bindSample(this.cluster.state, inputs, undefined, false);
    const { outputs } = await this.backend.predict(this.cluster, data, { inline: true });
    return this.answer(outputs);
  }

  /** Learns one sample (growth included); returns the outputs it produced before learning. */
  async train(inputs: SampleInputs, target: SampleTarget | Record<string, SampleTarget>): Promise<DirectAnswer> {
    const data = bindSample(this.cluster.state, inputs, target, true);
    const outputs = new Float32Array(outputWidth(this.cluster.state));
    await this.backend.train(this.cluster, data, { inline: true, outputs });
    return this.answer(outputs);
  }

  /**
   * Validates several requests and answers the valid ones with one prediction over all their
   * rows together (on the CPU backend the worker pool unless `inline`; on WebGPU one batched
   * dispatch); invalid ones get their BindError. Answers are the same as one `request` each
   * would give: every row goes through the same forward pass, and on a spiking network the
   * rows run in order.
   */
  async requestMany(list: SampleInputs[], options: RequestManyOptions): Promise<(DirectAnswer | BindError)[]> {
    // Answered below; no placeholder Error (capturing its stack costs microseconds a call).
    const results: (DirectAnswer | BindError | undefined)[] = [];
    const rows: BoundData[] = [];
    const at: number[] = [];
    for (const inputs of list) {
      try {
        rows.push(bindSample(this.cluster.state, inputs, undefined, false));
        at.push(results.length);
        results.push(undefined);
      } catch (e) {
        if (!(e instanceof BindError)) throw e;
        results.push(e);
      }
    }
    if (rows.length === 0) return results as BindError[];
    const { outputs } = await this.backend.predict(this.cluster, this.joinRows(rows, options.inline), {
      inline: options.inline,
      ...(options.slices !== undefined ? { sliceRows: Math.ceil(rows.length / options.slices) } : {}),
    });
    const w = outputWidth(this.cluster.state);
    at.forEach((slot, i) => {
      results[slot] = this.answer(rows.length === 1 ? outputs : outputs.slice(i * w, (i + 1) * w));
    });
    return results as (DirectAnswer | BindError)[];
  }

  /** One BoundData of several bound samples (their inputs sit in the same columns: a request
   *  binds every input that has learned). Rows for workers go into shared memory. */
  private joinRows(rows: BoundData[], inline: boolean): BoundData {
    const first = rows[0]!;
    if (rows.length === 1) return first;
    const width = first.inputWidth;
    const bytes = Math.max(1, rows.length * width) * 4;
    const inputs = new Float32Array(inline ? new ArrayBuffer(bytes) : new SharedArrayBuffer(bytes));
    rows.forEach((r, i) => inputs.set(r.inputs, i * width));
    return { ...first, rows: rows.length, inputs };
  }

  private answer(out: Float32Array): DirectAnswer {
    const interfaces: DirectAnswer['interfaces'] = [];
    let base = 0;
    for (const g of this.cluster.state.outputs) {
      for (const iface of g.interfaces) {
        const offset = base + iface.offset;
        interfaces.push({
          name: iface.name,
          offset,
          size: iface.size,
          mode: iface.mode,
          ...(iface.mode === 'class' && iface.size > 0 ? { argmax: argmax(out, offset, iface.size) } : {}),
        });
      }
      base += g.width;
    }
    return { outputs: out, interfaces };
  }
}
