/**
 * Binding rows to a network's interfaces: which values of a row feed which input interface,
 * which targets teach which output interface (kernels/contract.ts BoundData). One module for
 * both ways rows arrive:
 *
 * - a dataset (`bindDataset`, through `Cluster.bind`): columns → inputs (default: the only
 *   input takes every column), its targets → one output;
 * - one sample of direct I/O (`bindSample`, through DirectRunner): named per-sample arrays →
 *   inputs, named targets → outputs.
 *
 * Training sizes interfaces that have not learned yet (grow-only, kernels/state.ts); reading
 * needs the sizes the network learned. Every refusal is a BindError with a stable code, which
 * the edges translate (HTTP problem, Socket.IO acknowledgement, CLI message).
 */
import { codeOfSocketCode, DomainError } from '../errors.js';
import type { BoundData, InputBinding, OutputBinding } from '../../kernels/contract.js';
import { type NetworkState, type OutputInterfaceState, type OutputMode, findInput, findOutput, sizeInput, sizeOutput } from '../../kernels/state.js';
import type { Dataset } from '../datasets/types.js';

/**
 * Why rows cannot be bound. Direct I/O's codes are those of the Socket.IO protocol
 * (docs/socket-io.md); datasets use them where they mean the same thing.
 */
export type BindErrorCode =
  /** The network has several inputs: say which columns (dataset) or send values by name (sample). */
  | 'named-inputs-required'
  | 'unknown-input'
  /** A sample lacks values for an input that has learned. */
  | 'missing-input'
  /** A dataset mapping names columns the dataset does not have. */
  | 'bad-columns'
  /** Values, columns or targets of another width than the interface learned. */
  | 'wrong-length'
  /** Reading through an interface that has not learned anything yet. */
  | 'not-trained'
  | 'not-finite'
  | 'negative'
  /** The network has several outputs: say which one the targets teach. */
  | 'named-targets-required'
  | 'unknown-output'
  /** A new class output needs its number of classes. */
  | 'classes-required'
  | 'bad-label'
  /** Class targets for an output that learns values, or the other way round. */
  | 'wrong-target'
  /** Growing the interface would move another one whose neurons have learned. */
  | 'cannot-resize'
  /** Anything else the data cannot be used for (a dataset not ready, one without targets). */
  | 'bad-mapping';

/** A refused binding. Its code is the engine's own (the Socket.IO spelling, which direct I/O
 *  always answered); the edges translate it through `asDomainError`. */
export class BindError extends Error {
  constructor(
    message: string,
    readonly code: BindErrorCode = 'bad-mapping',
  ) {
    super(message);
    this.name = 'BindError';
  }

  /** The same refusal in the service's vocabulary (server/errors.ts). */
  asDomainError(): DomainError {
    return new DomainError(codeOfSocketCode(this.code) ?? 'bad_mapping', this.message);
  }
}

// ---------------------------------------------------------------------------------------
// Shared rules
// ---------------------------------------------------------------------------------------

/** Grows an input interface to `size` values (never shrinks). */
function growInput(state: NetworkState, name: string, size: number): void {
  try {
    sizeInput(state, name, size);
  } catch (e) {
    if (e instanceof RangeError) throw new BindError(e.message, 'cannot-resize');
    throw e;
  }
}

/** Grows an output interface to `size` values and fixes how it learns. */
function growOutput(state: NetworkState, output: OutputInterfaceState, size: number, mode: OutputMode): void {
  const clash = output.size > 0 && output.mode !== mode;
  try {
    sizeOutput(state, output.name, size, mode);
  } catch (e) {
    if (e instanceof RangeError) throw new BindError(e.message, clash ? 'wrong-target' : 'cannot-resize');
    throw e;
  }
}

/** The binding of the output interface `name` (which must exist). */
function outputBinding(state: NetworkState, name: string, source: OutputBinding['source'], column: number, size: number): OutputBinding {
  const found = findOutput(state, name)!;
  return { group: state.outputs.indexOf(found.group), iface: found.group.interfaces.indexOf(found.output), source, column, size };
}

/**
 * Runs a binding that may size interfaces, all or nothing: a refusal after some interface has
 * grown (a sample whose input is fine but whose target is not, a dataset whose columns fit but
 * whose output name is wrong) puts every interface back as it was. Without this a refused
 * first `train` left a fresh network half-built, its input sized and its output not, and the
 * next `request` answered ok with no outputs instead of `not-trained` (issue 13, finding 11).
 * Capacity reserved meanwhile (neuron blocks, link rows) stays: it is unused room, not state.
 */
function allOrNothing<T>(state: NetworkState, bind: () => T): T {
  const inputs = state.inputs.map((i) => ({ i, offset: i.offset, size: i.size }));
  const outputs = state.outputs.flatMap((g) => g.interfaces.map((o) => ({ o, mode: o.mode, offset: o.offset, size: o.size })));
  const groups = state.outputs.map((g) => ({ g, width: g.width }));
  const hexagons = state.hexagons.map((h) => ({ h, blocks: h.blocks }));
  try {
    return bind();
  } catch (e) {
    for (const x of inputs) Object.assign(x.i, { offset: x.offset, size: x.size });
    for (const x of outputs) Object.assign(x.o, { mode: x.mode, offset: x.offset, size: x.size });
    for (const x of groups) x.g.width = x.width;
    for (const x of hexagons) x.h.blocks = x.blocks;
    throw e;
  }
}

/** Inputs must be finite and not negative (the network takes positive raw values; zero is
 *  silence). Targets may be negative. */
function checkValues(values: Float32Array, name: string, allowNegative = false): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new BindError(`${name}[${i}] is ${v}; values must be finite numbers`, 'not-finite');
    if (!allowNegative && v < 0) throw new BindError(`${name}[${i}] is ${v}; inputs must not be negative`, 'negative');
  }
}

// ---------------------------------------------------------------------------------------
// Datasets
// ---------------------------------------------------------------------------------------

/** Mapping of dataset columns onto interfaces; defaults cover single-input/single-output. */
export interface BindOptions {
  /** Input interface name → first column and width (default: the only input takes all columns). */
  inputs?: { name: string; column?: number; size?: number }[];
  /** Output interface name taught by the dataset's targets (default: the only output). */
  output?: string;
  /** Do not size interfaces (the data must fit the network as it is). */
  readOnly?: boolean;
}

/**
 * Binds a dataset: sizes the input interface(s) to its columns and the output interface to
 * its targets (class labels → one value per class, learned with softmax; value columns →
 * one value per column, learned in the targets' own units). Sizes only grow; `readOnly`
 * needs them as they are.
 */
export function bindDataset(state: NetworkState, dataset: Dataset, options: BindOptions = {}): BoundData {
  return options.readOnly ? bindDatasetNow(state, dataset, options) : allOrNothing(state, () => bindDatasetNow(state, dataset, options));
}

function bindDatasetNow(state: NetworkState, dataset: Dataset, options: BindOptions): BoundData {
  const inputMap = bindDatasetInputs(state, dataset, options);
  const { outputMap, labels, values, valueWidth } = bindDatasetTargets(state, dataset, options);
  return { rows: dataset.rows, inputs: dataset.inputs, inputWidth: dataset.inputWidth, inputMap, labels, values, valueWidth, outputMap };
}

function bindDatasetInputs(state: NetworkState, dataset: Dataset, options: BindOptions): InputBinding[] {
  const specs = options.inputs ?? (state.inputs.length === 1 ? [{ name: state.inputs[0]!.name }] : undefined);
  if (!specs) {
    throw new BindError(`the template has ${state.inputs.length} inputs (${state.inputs.map((i) => i.name).join(', ')}); say which columns feed which`, 'named-inputs-required');
  }
  return specs.map((spec) => {
    const column = spec.column ?? 0;
    const size = spec.size ?? dataset.inputWidth - column;
    if (column < 0 || size <= 0 || column + size > dataset.inputWidth) {
      throw new BindError(`input "${spec.name}": columns ${column}..${column + size - 1} are outside the dataset's ${dataset.inputWidth} columns`, 'bad-columns');
    }
    const iface = findInput(state, spec.name);
    if (!iface) throw new BindError(`the template has no input named "${spec.name}"`, 'unknown-input');
    if (options.readOnly) {
      if (size !== iface.size) throw new BindError(`input "${spec.name}" takes ${iface.size} values, the data has ${size} columns`, iface.size === 0 ? 'not-trained' : 'wrong-length');
    } else {
      growInput(state, spec.name, size);
    }
    return { input: state.inputs.indexOf(iface), column, size };
  });
}

function bindDatasetTargets(state: NetworkState, dataset: Dataset, options: BindOptions): Pick<BoundData, 'outputMap' | 'labels' | 'values' | 'valueWidth'> {
  const targets = dataset.targets;
  if (!targets) return { outputMap: [], labels: undefined, values: undefined, valueWidth: 0 };
  const allOutputs = state.outputs.flatMap((g) => g.interfaces);
  const name = options.output ?? (allOutputs.length === 1 ? allOutputs[0]!.name : undefined);
  if (!name) throw new BindError(`the template has ${allOutputs.length} outputs (${allOutputs.map((o) => o.name).join(', ')}); say which one the targets teach`, 'named-targets-required');
  const found = findOutput(state, name);
  if (!found) throw new BindError(`the template has no output named "${name}"`, 'unknown-output');
  const output = found.output;
  const mode: OutputMode = targets.kind === 'class' ? 'class' : 'value';
  const size = targets.kind === 'class' ? targets.classes.length : targets.columns.length;
  if (options.readOnly) {
    if (output.size !== size || output.mode !== mode) {
      const code: BindErrorCode = output.size === 0 ? 'not-trained' : output.mode !== mode ? 'wrong-target' : 'wrong-length';
      throw new BindError(`output "${name}" has ${output.size} ${output.mode === 'class' ? 'classes' : 'values'}, the data has ${size} ${mode === 'class' ? 'classes' : 'values'}`, code);
    }
  } else {
    growOutput(state, output, size, mode);
  }
  const outputMap = [outputBinding(state, name, targets.kind === 'class' ? 'class' : 'values', 0, size)];
  return targets.kind === 'class'
    ? { outputMap, labels: targets.labels, values: undefined, valueWidth: 0 }
    : { outputMap, labels: undefined, values: targets.values, valueWidth: targets.columns.length };
}

// ---------------------------------------------------------------------------------------
// One sample (direct I/O)
// ---------------------------------------------------------------------------------------

/** Inputs of one sample: one array per input interface, by name (a network with a single
 *  input may be given the array alone). */
export type SampleInputs = Float32Array | Record<string, Float32Array>;

/** What one training sample should teach: a class (of `classes`) or values, per output
 *  (a network with a single output may be given the target alone). */
export type SampleTarget = { label: number; classes?: number } | { values: Float32Array };

/**
 * Binds one sample as a one-row BoundData: its inputs in the network's input order, and with
 * `target` what it teaches. `train` sizes interfaces that have not learned yet; otherwise
 * every input must have the size it learned.
 */
export function bindSample(state: NetworkState, inputs: SampleInputs, target: SampleTarget | Record<string, SampleTarget> | undefined, train: boolean): BoundData {
  if (!train) {
    // A network none of whose outputs has learned has nothing to answer (also one a refused
    // first `train` left half-built before that was all or nothing, and saved so).
    if (state.outputs.every((g) => g.interfaces.every((o) => o.size === 0))) {
      throw new BindError('the network has not learned anything yet: train it first', 'not-trained');
    }
    return bindSampleNow(state, inputs, undefined, false);
  }
  return allOrNothing(state, () => bindSampleNow(state, inputs, target, true));
}

function bindSampleNow(state: NetworkState, inputs: SampleInputs, target: SampleTarget | Record<string, SampleTarget> | undefined, train: boolean): BoundData {
  const byName: Record<string, Float32Array> = inputs instanceof Float32Array ? onlyInput(state, inputs) : inputs;
  for (const name of Object.keys(byName)) {
    if (!findInput(state, name)) throw new BindError(`the network has no input named "${name}"`, 'unknown-input');
  }
  // Validate and size first, then copy every input into one row.
  const inputMap: InputBinding[] = [];
  const parts: Float32Array[] = [];
  let width = 0;
  state.inputs.forEach((iface, index) => {
    const values = byName[iface.name];
    if (!values) {
      if (iface.size > 0) throw new BindError(`input "${iface.name}" needs ${iface.size} values`, 'missing-input');
      return;
    }
    checkValues(values, iface.name);
    if (iface.size === 0) {
      if (!train) throw new BindError(`input "${iface.name}" has not learned anything yet: train the network first`, 'not-trained');
      growInput(state, iface.name, values.length);
    }
    if (values.length !== iface.size) {
      throw new BindError(`input "${iface.name}" takes ${iface.size} values, got ${values.length}`, 'wrong-length');
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
  if (target) bindSampleTargets(state, data, target);
  return data;
}

function onlyInput(state: NetworkState, values: Float32Array): Record<string, Float32Array> {
  const inputs = state.inputs;
  if (inputs.length !== 1) {
    throw new BindError(`the network has ${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')}); send them by name`, 'named-inputs-required');
  }
  return { [inputs[0]!.name]: values };
}

function bindSampleTargets(state: NetworkState, data: BoundData, target: SampleTarget | Record<string, SampleTarget>): void {
  const all = state.outputs.flatMap((g) => g.interfaces);
  let byName: Record<string, SampleTarget>;
  if (!isSampleTarget(target)) byName = target;
  else if (all.length === 1) byName = { [all[0]!.name]: target };
  else throw new BindError(`the network has ${all.length} outputs; send targets by name`, 'named-targets-required');
  const values: number[] = [];
  for (const [name, t] of Object.entries(byName)) {
    const found = findOutput(state, name);
    if (!found) throw new BindError(`the network has no output named "${name}"`, 'unknown-output');
    const output = found.output;
    if ('label' in t) {
      const size = output.size > 0 ? output.size : (t.classes ?? 0);
      if (output.size === 0) {
        if (!Number.isInteger(t.classes) || t.classes! < 2 || t.classes! > 65535) throw new BindError(`output "${name}" is new: say how many classes it has (2..65535)`, 'classes-required');
        growOutput(state, output, size, 'class');
      } else if (output.mode !== 'class') {
        throw new BindError(`output "${name}" learns values, not classes`, 'wrong-target');
      }
      if (!Number.isInteger(t.label) || t.label < 0 || t.label >= size) throw new BindError(`label must be an integer between 0 and ${size - 1}`, 'bad-label');
      data.labels = Uint16Array.of(t.label);
      data.outputMap.push(outputBinding(state, name, 'class', 0, size));
    } else {
      checkValues(t.values, name, true);
      if (output.size === 0) growOutput(state, output, t.values.length, 'value');
      else if (output.mode !== 'value') throw new BindError(`output "${name}" learns classes, not values`, 'wrong-target');
      if (t.values.length !== output.size) throw new BindError(`output "${name}" has ${output.size} values, got ${t.values.length}`, 'wrong-length');
      data.outputMap.push(outputBinding(state, name, 'values', values.length, t.values.length));
      for (const v of t.values) values.push(v);
    }
  }
  if (values.length > 0) {
    data.values = Float32Array.from(values);
    data.valueWidth = values.length;
  }
}

function isSampleTarget(t: SampleTarget | Record<string, SampleTarget>): t is SampleTarget {
  return ('label' in t && typeof (t as { label: unknown }).label === 'number') || ('values' in t && (t as { values: unknown }).values instanceof Float32Array);
}
