/**
 * Turning output values into answers and scores: argmax per class output (ties go to the
 * lowest index), accuracy against class labels, error against value targets.
 */
import type { BoundData } from '../../kernels/contract.js';
import type { NetworkState, OutputInterfaceState } from '../../kernels/state.js';

/** Where an interface's values sit inside one row of predictRows output. */
export function interfaceColumn(state: NetworkState, group: number, iface: OutputInterfaceState): number {
  let base = 0;
  for (let g = 0; g < group; g++) base += state.outputs[g]!.width;
  return base + iface.offset;
}

export function argmax(values: ArrayLike<number>, from: number, size: number): number {
  let best = 0;
  for (let k = 1; k < size; k++) if (values[from + k]! > values[from + best]!) best = k;
  return best;
}

export interface Score {
  samples: number;
  /** Fraction of rows whose argmax matches the label (class outputs). */
  accuracy?: number;
  /** Root mean squared and mean absolute error in the targets' units (value outputs). */
  rmse?: number;
  mae?: number;
}

/** Scores predictions (rows × width from predictRows) against the data's targets. */
export function score(state: NetworkState, data: BoundData, outputs: Float32Array, width: number): Score {
  const binding = data.outputMap[0];
  if (!binding) return { samples: data.rows };
  const iface = state.outputs[binding.group]!.interfaces[binding.iface]!;
  const column = interfaceColumn(state, binding.group, iface);
  if (binding.source === 'class' && data.labels) {
    let correct = 0;
    for (let r = 0; r < data.rows; r++) if (argmax(outputs, r * width + column, iface.size) === data.labels[r]) correct++;
    return { samples: data.rows, accuracy: correct / Math.max(1, data.rows) };
  }
  if (data.values) {
    let sq = 0;
    let abs = 0;
    let n = 0;
    for (let r = 0; r < data.rows; r++) {
      for (let k = 0; k < binding.size; k++) {
        const e = outputs[r * width + column + k]! - data.values[r * data.valueWidth + binding.column + k]!;
        sq += e * e;
        abs += Math.abs(e);
        n++;
      }
    }
    return { samples: data.rows, rmse: Math.sqrt(sq / Math.max(1, n)), mae: abs / Math.max(1, n) };
  }
  return { samples: data.rows };
}

/** Classes up to which a request task's result carries the confusion matrix (size²). */
export const MAX_CONFUSION_CLASSES = 100;

/**
 * The confusion matrix of a class output (`matrix[actual][predicted]`, rows counted) scored
 * against the data's labels; undefined for value outputs, unlabelled data, or more than
 * MAX_CONFUSION_CLASSES classes. Labels outside the output's classes are not counted.
 */
export function confusionMatrix(state: NetworkState, data: BoundData, outputs: Float32Array, width: number): number[][] | undefined {
  const binding = data.outputMap[0];
  if (!binding || binding.source !== 'class' || !data.labels) return undefined;
  const iface = state.outputs[binding.group]!.interfaces[binding.iface]!;
  const size = iface.size;
  if (size > MAX_CONFUSION_CLASSES) return undefined;
  const column = interfaceColumn(state, binding.group, iface);
  const matrix = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  for (let r = 0; r < data.rows; r++) {
    const actual = data.labels[r]!;
    if (actual < 0 || actual >= size) continue;
    matrix[actual]![argmax(outputs, r * width + column, size)]!++;
  }
  return matrix;
}
