/**
 * Task params and results where they cross the store. Both implementations keep them as JSON
 * (SQLite in the row's `data` column, MongoDB as JSON text) and read every task record
 * through `readTaskRecord`, the one place their shape is checked; writes go through
 * `checkTaskWrite` first, so what is written always reads back.
 *
 * The JSON is the shape every earlier version wrote (params `{ datasetId, epochs, inputs?,
 * output? }`, results flat objects), so their records read unchanged. What JSON itself did
 * to them is undone here: a number that was NaN or infinite was stored as null, so a null
 * statistic or score is left out and a null throughput figure reads as 0 (what the API has
 * always shown for it). Request params of earlier versions carry `epochs: 1`; it is ignored.
 */
import { StoreError, type InputMapping, type OutputLayout, type RequestParams, type RequestResult, type TaskRecord, type Throughput, type TrainParams, type TrainResult } from './types.js';

type Fields = Record<string, unknown>;

/** A value that is not what the record should hold; `where` names the field. */
class Unreadable extends Error {
  constructor(
    readonly where: string,
    what: string,
  ) {
    super(`${where} ${what}`);
  }
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function object(value: unknown, where: string): Fields {
  if (!isObject(value)) throw new Unreadable(where, 'is not an object');
  return value;
}

function text(value: unknown, where: string): string {
  if (typeof value !== 'string') throw new Unreadable(where, 'is not a string');
  return value;
}

function count(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new Unreadable(where, 'is not a whole number');
  return value;
}

/** A figure JSON may have turned into null (NaN, ±Infinity): 0 then. */
function figure(value: unknown, where: string): number {
  if (value === null || value === undefined) return 0;
  if (typeof value !== 'number') throw new Unreadable(where, 'is not a number');
  return value;
}

/** Copies `value` into `out[key]` unless it is absent or null (optional figures). */
function optionalFigure<T extends object, K extends keyof T & string>(out: T, key: K, value: unknown, where: string): void {
  if (value === null || value === undefined) return;
  if (typeof value !== 'number') throw new Unreadable(`${where}.${key}`, 'is not a number');
  (out as Record<K, number>)[key] = value;
}

function inputMappings(value: unknown, where: string): InputMapping[] {
  if (!Array.isArray(value)) throw new Unreadable(where, 'is not a list');
  return value.map((entry, i) => {
    const m = object(entry, `${where}[${i}]`);
    const mapping: InputMapping = { name: text(m.name, `${where}[${i}].name`) };
    if (m.column !== undefined) mapping.column = count(m.column, `${where}[${i}].column`);
    if (m.size !== undefined) mapping.size = count(m.size, `${where}[${i}].size`);
    return mapping;
  });
}

function binding(fields: Fields, out: { inputs?: InputMapping[]; output?: string }): void {
  if (fields.inputs !== undefined) out.inputs = inputMappings(fields.inputs, 'params.inputs');
  if (fields.output !== undefined) out.output = text(fields.output, 'params.output');
}

export function readTrainParams(value: unknown): TrainParams {
  const fields = object(value, 'params');
  // Every version wrote epochs; a default keeps a hand-made record readable.
  const params: TrainParams = { datasetId: text(fields.datasetId, 'params.datasetId'), epochs: fields.epochs === undefined ? 1 : count(fields.epochs, 'params.epochs') };
  binding(fields, params);
  return params;
}

export function readRequestParams(value: unknown): RequestParams {
  const fields = object(value, 'params');
  const params: RequestParams = { datasetId: text(fields.datasetId, 'params.datasetId') };
  binding(fields, params);
  return params;
}

function throughput(fields: Fields): Throughput {
  return { samples: figure(fields.samples, 'result.samples'), seconds: figure(fields.seconds, 'result.seconds'), samplesPerSecond: figure(fields.samplesPerSecond, 'result.samplesPerSecond') };
}

export function readTrainResult(value: unknown): TrainResult | null {
  if (value === null || value === undefined) return null;
  const fields = object(value, 'result');
  const stats: Record<string, number> = {};
  for (const [name, v] of Object.entries(object(fields.stats ?? {}, 'result.stats'))) if (typeof v === 'number') stats[name] = v;
  return { ...throughput(fields), stats };
}

function outputLayout(value: unknown, where: string): OutputLayout {
  const o = object(value, where);
  const mode = o.mode;
  if (mode !== 'class' && mode !== 'value') throw new Unreadable(`${where}.mode`, 'is neither "class" nor "value"');
  const labels = o.labels;
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw new Unreadable(`${where}.labels`, 'is not a list of strings');
  return { name: text(o.name, `${where}.name`), mode, column: count(o.column, `${where}.column`), size: count(o.size, `${where}.size`), labels: labels };
}

export function readRequestResult(value: unknown): RequestResult | null {
  if (value === null || value === undefined) return null;
  const fields = object(value, 'result');
  if (!Array.isArray(fields.outputs)) throw new Unreadable('result.outputs', 'is not a list');
  const result: RequestResult = {
    rows: count(fields.rows, 'result.rows'),
    width: count(fields.width, 'result.width'),
    outputs: fields.outputs.map((o, i) => outputLayout(o, `result.outputs[${i}]`)),
    ...throughput(fields),
  };
  optionalFigure(result, 'accuracy', fields.accuracy, 'result');
  optionalFigure(result, 'rmse', fields.rmse, 'result');
  optionalFigure(result, 'mae', fields.mae, 'result');
  if (fields.confusion !== undefined && fields.confusion !== null) {
    if (!Array.isArray(fields.confusion)) throw new Unreadable('result.confusion', 'is not a list');
    result.confusion = fields.confusion.map((row, i) => {
      if (!Array.isArray(row)) throw new Unreadable(`result.confusion[${i}]`, 'is not a list');
      return row.map((n, j) => count(n, `result.confusion[${i}][${j}]`));
    });
  }
  if (fields.perClass !== undefined && fields.perClass !== null) {
    if (!Array.isArray(fields.perClass)) throw new Unreadable('result.perClass', 'is not a list');
    result.perClass = fields.perClass.map((entry, i) => {
      const c = object(entry, `result.perClass[${i}]`);
      return { label: text(c.label, `result.perClass[${i}].label`), samples: count(c.samples, `result.perClass[${i}].samples`), accuracy: typeof c.accuracy === 'number' ? c.accuracy : null };
    });
  }
  return result;
}

function taskOf(fields: Fields): TaskRecord {
  const record = fields as unknown as TaskRecord;
  if (fields.kind === 'train') return { ...record, kind: 'train', params: readTrainParams(fields.params), result: readTrainResult(fields.result) };
  if (fields.kind === 'request') return { ...record, kind: 'request', params: readRequestParams(fields.params), result: readRequestResult(fields.result) };
  throw new Unreadable('kind', 'is neither "train" nor "request"');
}

/** An Unreadable as the StoreError the caller sees; anything else unchanged. */
function asStoreError(error: unknown, prefix: string): unknown {
  return error instanceof Unreadable ? new StoreError(`${prefix}${error.message}`) : error;
}

/** A task record as read from either store: params and result checked and typed by kind. */
export function readTaskRecord(fields: Fields): TaskRecord {
  try {
    return taskOf(fields);
  } catch (error) {
    throw asStoreError(error, `task ${String(fields.id)}: the stored `);
  }
}

/**
 * Refuses a task write that would not read back: a new record (`kind` and `params` given) or
 * a change that sets `result` (either kind's: a change does not say which kind it is for).
 */
export function checkTaskWrite(fields: Fields, id: string): void {
  try {
    if (fields.kind !== undefined || fields.params !== undefined) taskOf(fields);
    else if (fields.result !== undefined && fields.result !== null) {
      const result = object(fields.result, 'result');
      if ('outputs' in result) readRequestResult(result);
      else readTrainResult(result);
    }
  } catch (error) {
    throw asStoreError(error, `task ${id}: refused to store it: `);
  }
}
