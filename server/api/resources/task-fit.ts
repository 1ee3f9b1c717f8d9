/**
 * Refuses a task whose data cannot fit its cluster before it is stored (422
 * `width_mismatch`, or `bad_mapping` for classes against values), instead of queuing it to
 * fail later. The cluster is judged as it will be when the task runs: its state now, grown
 * by the train tasks queued or running ahead of it (server/tasks/interface-fit.ts).
 */
import type { ClusterRecord, DatasetRecord, TaskKind, TaskParams } from '../../store/types.js';
import { applyTrain, requestFit, type DataShape } from '../../tasks/interface-fit.js';
import { unprocessable } from '../problem.js';
import type { Services } from '../services.js';

function shapeOf(dataset: DatasetRecord): DataShape | undefined {
  return dataset.inputWidth === null ? undefined : { name: dataset.name, width: dataset.inputWidth, targets: dataset.targets };
}

export async function checkTaskFits(services: Services, cluster: ClusterRecord, dataset: DatasetRecord, kind: TaskKind, params: TaskParams): Promise<void> {
  const { store } = services;
  const sizes = await services.runtime.interfaceSizes(cluster);
  const ahead = await store.tasks.listByState(['queued', 'running'], { projectId: cluster.projectId, clusterId: cluster.id });
  const datasets = new Map<string, DataShape | undefined>([[dataset.id, shapeOf(dataset)]]);
  for (const task of ahead) {
    if (task.kind !== 'train') continue;
    const taskParams = task.params;
    if (!datasets.has(taskParams.datasetId)) datasets.set(taskParams.datasetId, shapeOf(await store.datasets.get(task.projectId, taskParams.datasetId)));
    const data = datasets.get(taskParams.datasetId);
    // A train task that does not fit will fail and leave the network as it is.
    if (data) applyTrain(sizes, data, taskParams);
  }
  const data = shapeOf(dataset);
  if (!data) return;
  const misfit = kind === 'train' ? applyTrain(sizes, data, params) : requestFit(sizes, data, params);
  if (misfit) throw unprocessable(misfit.code, misfit.message, { field: misfit.field });
}
