/**
 * Request results: the raw outputs (rows × width float32, little-endian) in a blob, and the
 * layout that says which values belong to which output in the task's result summary.
 * Downloads render them as CSV or JSON; class outputs also give the predicted class.
 */
import { argmax } from '../network/evaluate.js';
import type { ResultLayout } from '../store/types.js';

export function encodeOutputs(values: Float32Array): Buffer {
  const bytes = Buffer.allocUnsafe(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i]!, i * 4);
  return bytes;
}

export function decodeOutputs(bytes: Buffer): Float32Array {
  if (bytes.length % 4 !== 0) throw new Error(`result blob of ${bytes.length} bytes is not a float32 array`);
  const values = new Float32Array(bytes.length / 4);
  for (let i = 0; i < values.length; i++) values[i] = bytes.readFloatLE(i * 4);
  return values;
}

/** 9 significant digits round-trip any float32, without the noise of its double expansion. */
export function formatValue(v: number): number {
  return Number(v.toPrecision(9));
}

/** Names of the values of a row: `<output>:<label>` for every value of every output. */
export function valueColumns(layout: ResultLayout): string[] {
  return layout.outputs.flatMap((o) => o.labels.map((l) => `${o.name}:${l}`));
}

/** The values of one row, in valueColumns order. */
export function rowValues(layout: ResultLayout, values: Float32Array, row: number): number[] {
  const base = row * layout.width;
  const out: number[] = [];
  for (const o of layout.outputs) for (let k = 0; k < o.size; k++) out.push(formatValue(values[base + o.column + k]!));
  return out;
}

/** CSV columns: the values, then the predicted class of each class output (named after the output). */
export function csvColumns(layout: ResultLayout): string[] {
  return [...valueColumns(layout), ...layout.outputs.filter((o) => o.mode === 'class').map((o) => o.name)];
}

export function csvRow(layout: ResultLayout, values: Float32Array, row: number): (number | string)[] {
  const classes = layout.outputs.filter((o) => o.mode === 'class').map((o) => o.labels[argmax(values, row * layout.width + o.column, o.size)] ?? '');
  return [...rowValues(layout, values, row), ...classes];
}

/** The predicted class of each row, per class output. */
export function predictedClasses(layout: ResultLayout, values: Float32Array, from: number, to: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const o of layout.outputs) {
    if (o.mode !== 'class') continue;
    const names: string[] = [];
    for (let r = from; r < to; r++) names.push(o.labels[argmax(values, r * layout.width + o.column, o.size)] ?? '');
    out[o.name] = names;
  }
  return out;
}

function csvCell(cell: number | string): string {
  const text = String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: (number | string)[]): string {
  return `${cells.map(csvCell).join(',')}\n`;
}
