/**
 * Direct I/O with one network: one input in, its outputs back, in the calling thread (no
 * worker hand-off: a single MNIST-size inference takes tens of microseconds, a worker round
 * trip as long again). Used by the Socket.IO endpoint; batches of concurrent requests go to
 * the backend instead (see server/io/).
 */
import { ExecutionContext } from '../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../cpu-fallback/engine.js';
import { type BoundData, outputWidth } from '../../kernels/contract.js';
import { findOutput, sizeInput, sizeOutput } from '../../kernels/state.js';
import type { Cluster } from './cluster.js';
import { argmax } from './evaluate.js';

export class DirectInputError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'DirectInputError';
  }
}

/** Inputs of one sample: one array per input interface, by name (a network with a single
 *  input may be given the array alone). */
export type SampleInputs = Float32Array | Record<string, Float32Array>;

/** What one training sample should teach: a class (of `classes`) or values, per output
 *  (a network with a single output may be given the target alone). */
export type SampleTarget = { label: number; classes?: number } | { values: Float32Array };

export interface DirectAnswer {
  /** Every output value of every output, in output order. */
  outputs: Float32Array;
  /** Per output interface: its name, where its values start in `outputs`, and for class
   *  outputs the index of the largest value. */
  interfaces: { name: string; offset: number; size: number; mode: 'class' | 'value'; argmax?: number }[];
}

/** Runs single samples against one cluster in this thread. Not thread-safe: the caller
 *  serializes calls per cluster (and keeps tasks off the cluster meanwhile). */
export class DirectRunner {
  private ctx: ExecutionContext;

  constructor(private readonly cluster: Cluster) {
    this.ctx = new ExecutionContext(cluster.state);
  }

  /** Forward only. Spiking networks carry their state to the next call. */
  request(inputs: SampleInputs): DirectAnswer {
    const data = this.bind(inputs, undefined, false);
    const out = new Float32Array(outputWidth(this.cluster.state));
    predictRows(this.ctx, this.cluster.state, data, 0, 1, out);
    return this.answer(out);
  }

  /** Learns one sample (growth included); returns the outputs it produced before learning. */
  train(inputs: SampleInputs, target: SampleTarget | Record<string, SampleTarget>): DirectAnswer {
    const data = this.bind(inputs, target, true);
    const state = this.cluster.state;
    trainRows(this.ctx, state, data, 0, 1);
    // The outputs the forward pass of this sample produced (before the backward step).
    const out = new Float32Array(outputWidth(state));
    let o = 0;
    for (let g = 0; g < state.outputs.length; g++) {
      const n = state.outputs[g]!.width;
      out.set(this.ctx.out[g]!.value.subarray(0, n), o);
      o += n;
    }
    return this.answer(out);
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

  /**
   * Validates several requests and answers the valid ones with one call of `execute` on all
   * their rows together (e.g. the backend's batched or multi-worker inference); invalid ones
   * get their DirectInputError. Answers are the same as one `request` each would give.
   */
  async requestMany(list: SampleInputs[], execute: (data: BoundData) => Promise<Float32Array>): Promise<(DirectAnswer | DirectInputError)[]> {
    const results: (DirectAnswer | DirectInputError)[] = [];
    const rows: BoundData[] = [];
    const at: number[] = [];
    for (const inputs of list) {
      try {
        rows.push(this.bind(inputs, undefined, false));
        at.push(results.length);
        results.push(new DirectInputError('internal', 'not answered'));
      } catch (e) {
        if (!(e instanceof DirectInputError)) throw e;
        results.push(e);
      }
    }
    if (rows.length === 0) return results;
    const first = rows[0]!;
    const width = first.inputWidth;
    const inputs = new Float32Array(new SharedArrayBuffer(Math.max(1, rows.length * width) * 4));
    rows.forEach((r, i) => inputs.set(r.inputs as Float32Array, i * width));
    const outputs = await execute({ ...first, rows: rows.length, inputs });
    const w = outputWidth(this.cluster.state);
    at.forEach((slot, i) => {
      results[slot] = this.answer(outputs.slice(i * w, (i + 1) * w));
    });
    return results;
  }

  /** Builds a one-row BoundData; sizes unsized interfaces when training. */
  private bind(inputs: SampleInputs, target: SampleTarget | Record<string, SampleTarget> | undefined, train: boolean): BoundData {
    const state = this.cluster.state;
    const byName: Record<string, Float32Array> = inputs instanceof Float32Array ? this.onlyInput(inputs) : inputs;
    for (const name of Object.keys(byName)) {
      if (!state.inputs.some((i) => i.name === name)) throw new DirectInputError('unknown-input', `the network has no input named "${name}"`);
    }
    // Validate and size first, then copy every input into one row.
    const inputMap: BoundData['inputMap'] = [];
    const parts: Float32Array[] = [];
    let width = 0;
    state.inputs.forEach((iface, index) => {
      const values = byName[iface.name];
      if (!values) {
        if (iface.size > 0) throw new DirectInputError('missing-input', `input "${iface.name}" needs ${iface.size} values`);
        return;
      }
      checkValues(values, iface.name);
      if (iface.size === 0) {
        if (!train) throw new DirectInputError('not-trained', `input "${iface.name}" has not learned anything yet: train the network first`);
        sizeInput(state, iface.name, values.length);
      }
      if (values.length !== iface.size) {
        throw new DirectInputError('wrong-length', `input "${iface.name}" takes ${iface.size} values, got ${values.length}`);
      }
      inputMap.push({ input: index, column: width, size: values.length });
      parts.push(values);
      width += values.length;
    });
    const row = parts.length === 1 ? parts[0]! : new Float32Array(width);
    if (parts.length > 1) {
      let at = 0;
      for (const p of parts) {
        row.set(p, at);
        at += p.length;
      }
    }
    const data: BoundData = { rows: 1, inputs: row, inputWidth: width, inputMap, valueWidth: 0, outputMap: [] };
    if (target) this.bindTarget(data, target);
    // The network may have grown since the last call (a task trained it): cheap when not.
    this.ctx.fit(state);
    return data;
  }

  private onlyInput(values: Float32Array): Record<string, Float32Array> {
    const inputs = this.cluster.state.inputs;
    if (inputs.length !== 1) {
      throw new DirectInputError('named-inputs-required', `the network has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); send them by name`);
    }
    return { [inputs[0]!.name]: values };
  }

  private bindTarget(data: BoundData, target: SampleTarget | Record<string, SampleTarget>): void {
    const state = this.cluster.state;
    const all = state.outputs.flatMap((g) => g.interfaces);
    let byName: Record<string, SampleTarget>;
    if (!isSampleTarget(target)) byName = target;
    else if (all.length === 1) byName = { [all[0]!.name]: target };
    else throw new DirectInputError('named-targets-required', `the network has ${all.length} outputs; send targets by name`);
    const values: number[] = [];
    for (const [name, t] of Object.entries(byName)) {
      const found = findOutput(state, name);
      if (!found) throw new DirectInputError('unknown-output', `the network has no output named "${name}"`);
      const group = state.outputs.indexOf(found.group);
      const iface = found.group.interfaces.indexOf(found.output);
      if ('label' in t) {
        const size = found.output.size > 0 ? found.output.size : (t.classes ?? 0);
        if (found.output.size === 0) {
          if (!Number.isInteger(t.classes) || t.classes! < 2 || t.classes! > 65535) throw new DirectInputError('classes-required', `output "${name}" is new: say how many classes it has (2..65535)`);
          sizeOutput(state, name, size, 'class');
        } else if (found.output.mode !== 'class') {
          throw new DirectInputError('wrong-target', `output "${name}" learns values, not classes`);
        }
        if (!Number.isInteger(t.label) || t.label < 0 || t.label >= size) throw new DirectInputError('bad-label', `label must be an integer between 0 and ${size - 1}`);
        data.labels = Uint16Array.of(t.label);
        data.outputMap.push({ group, iface, source: 'class', column: 0, size });
      } else {
        checkValues(t.values, name, true);
        if (found.output.size === 0) sizeOutput(state, name, t.values.length, 'value');
        else if (found.output.mode !== 'value') throw new DirectInputError('wrong-target', `output "${name}" learns classes, not values`);
        if (t.values.length !== found.output.size) throw new DirectInputError('wrong-length', `output "${name}" has ${found.output.size} values, got ${t.values.length}`);
        data.outputMap.push({ group, iface, source: 'values', column: values.length, size: t.values.length });
        for (const v of t.values) values.push(v);
      }
    }
    if (values.length > 0) {
      data.values = Float32Array.from(values);
      data.valueWidth = values.length;
    }
  }
}

function isSampleTarget(t: SampleTarget | Record<string, SampleTarget>): t is SampleTarget {
  return ('label' in t && typeof (t as { label: unknown }).label === 'number') || ('values' in t && (t as { values: unknown }).values instanceof Float32Array);
}

/** Inputs must be finite and not negative (the network takes positive raw values; zero is
 *  silence). Targets may be negative. */
function checkValues(values: Float32Array, name: string, allowNegative = false): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new DirectInputError('not-finite', `${name}[${i}] is ${v}; values must be finite numbers`);
    if (!allowNegative && v < 0) throw new DirectInputError('negative', `${name}[${i}] is ${v}; inputs must not be negative`);
  }
}
