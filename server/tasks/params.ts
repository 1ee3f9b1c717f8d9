/**
 * How a task's params (store/types.ts: `TrainParams`, `RequestParams`) bind its dataset to the
 * network: the column mapping and the output, as `Cluster.bind` takes them.
 */
import type { BindOptions } from '../network/cluster.js';
import type { TaskParams } from '../store/types.js';

export function bindOptions(params: TaskParams, readOnly: boolean): BindOptions {
  const options: BindOptions = { readOnly };
  if (params.inputs) options.inputs = params.inputs;
  if (params.output !== undefined) options.output = params.output;
  return options;
}
