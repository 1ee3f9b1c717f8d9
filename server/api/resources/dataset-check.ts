/**
 * "Check accuracy": compares a finished request task's predictions with a labelled dataset,
 * row by row. Class outputs are compared by class name (so a network trained on labels
 * "cat"/"dog" is scored against any dataset that uses the same names); value outputs give
 * RMSE and MAE in the targets' units. Fixes the reference's check, which assumed MNIST.
 */
import { Type, type Static } from '@sinclair/typebox';
import { argmax } from '../../network/evaluate.js';
import { decodeOutputs } from '../../tasks/results.js';
import { conflict, unprocessable } from '../problem.js';
import { Closed, Uuid } from '../schemas.js';
import type { Services } from '../services.js';

export const CheckResult = Closed(
  {
    datasetId: Uuid,
    taskId: Uuid,
    output: Type.String({ description: 'The output interface that was scored.' }),
    samples: Type.Integer({ minimum: 0 }),
    correct: Type.Optional(Type.Integer({ minimum: 0 })),
    accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Fraction of rows whose predicted class is the label (class outputs).' })),
    rmse: Type.Optional(Type.Number({ minimum: 0 })),
    mae: Type.Optional(Type.Number({ minimum: 0 })),
  },
  { title: 'CheckResult' },
);

export async function checkAccuracy(services: Services, projectId: string, datasetId: string, taskId: string): Promise<Static<typeof CheckResult>> {
  const { store } = services;
  const record = await store.datasets.get(projectId, datasetId);
  const task = await store.tasks.get(projectId, taskId);
  if (task.kind !== 'request' || task.state !== 'finished' || !task.resultBlobId) {
    throw conflict('no_results', `task ${task.id} is a ${task.state} ${task.kind} task; only a finished request task has predictions`);
  }
  if (record.status !== 'ready') throw conflict('dataset_not_ready', `dataset ${record.id} is not ready (status ${record.status})`);
  const layout = task.result;
  if (!layout) throw new Error(`task ${task.id} finished without a result summary`);
  const data = await services.datasets.get(record);
  const targets = data.targets;
  if (!targets) throw unprocessable('no_targets', `dataset ${record.id} has no labels or targets to check against`);
  if (data.rows !== layout.rows) throw unprocessable('row_mismatch', `the task predicted ${layout.rows} rows, dataset ${record.id} has ${data.rows}`);
  const wanted = task.params.output;
  const mode = targets.kind === 'class' ? 'class' : 'value';
  const output = layout.outputs.find((o) => o.mode === mode && (wanted === undefined || o.name === wanted));
  if (!output)
    throw unprocessable(
      'no_matching_output',
      `task ${task.id} has no ${mode} output${wanted ? ` named "${wanted}"` : ''} to compare with this dataset's ${targets.kind === 'class' ? 'labels' : 'targets'}`,
    );
  const values = decodeOutputs(await store.blobs.read(task.resultBlobId));
  const base = { datasetId: record.id, taskId: task.id, output: output.name, samples: data.rows };
  if (targets.kind === 'class') {
    let correct = 0;
    for (let r = 0; r < data.rows; r++) {
      const predicted = output.labels[argmax(values, r * layout.width + output.column, output.size)];
      if (predicted === targets.classes[targets.labels[r]!]) correct++;
    }
    return { ...base, correct, accuracy: correct / Math.max(1, data.rows) };
  }
  if (targets.columns.length !== output.size) {
    throw unprocessable('width_mismatch', `output "${output.name}" has ${output.size} values, the dataset has ${targets.columns.length} target columns`);
  }
  let squared = 0;
  let absolute = 0;
  const n = data.rows * output.size;
  for (let r = 0; r < data.rows; r++) {
    for (let k = 0; k < output.size; k++) {
      const e = values[r * layout.width + output.column + k]! - targets.values[r * output.size + k]!;
      squared += e * e;
      absolute += Math.abs(e);
    }
  }
  return { ...base, rmse: Math.sqrt(squared / Math.max(1, n)), mae: absolute / Math.max(1, n) };
}
