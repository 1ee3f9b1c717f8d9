/**
 * What a task runs on, as stored in TaskRecord.params: the dataset, how its columns map
 * onto the template's interfaces, and (training) the number of epochs. The API validates
 * the shape; this module reads it back from stored JSON.
 */
import type { BindOptions } from '../network/cluster.js';

export interface InputMapping {
  /** Input interface name from the template. */
  name: string;
  /** First dataset column feeding it (default 0). */
  column?: number;
  /** Number of columns (default: the rest of the row). */
  size?: number;
}

export interface TaskParams {
  datasetId: string;
  epochs: number;
  inputs?: InputMapping[];
  /** Output interface the targets teach (train) or that is scored (request). */
  output?: string;
}

function mapping(value: unknown): InputMapping | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { name, column, size } = value as Record<string, unknown>;
  if (typeof name !== 'string') return undefined;
  const out: InputMapping = { name };
  if (typeof column === 'number') out.column = column;
  if (typeof size === 'number') out.size = size;
  return out;
}

export function asTaskParams(params: Record<string, unknown>): TaskParams {
  const { datasetId, epochs, inputs, output } = params;
  if (typeof datasetId !== 'string') throw new Error('task params lack a datasetId');
  const out: TaskParams = { datasetId, epochs: typeof epochs === 'number' ? epochs : 1 };
  if (Array.isArray(inputs)) out.inputs = inputs.map(mapping).filter((m): m is InputMapping => m !== undefined);
  if (typeof output === 'string') out.output = output;
  return out;
}

export function bindOptions(params: TaskParams, readOnly: boolean): BindOptions {
  const options: BindOptions = { readOnly };
  if (params.inputs) options.inputs = params.inputs;
  if (params.output !== undefined) options.output = params.output;
  return options;
}
