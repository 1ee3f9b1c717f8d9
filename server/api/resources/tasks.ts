/**
 * Tasks: train and request runs on a cluster, queued per cluster and run in order.
 * Everything a task needs is checked when it is submitted (cluster mode, dataset ready and
 * labelled, interface names, column ranges, and the data's widths against the network the
 * tasks ahead will leave: task-fit.ts), so a bad task is refused with a 4xx instead of
 * failing later; what can only fail while running (a damaged dataset file or checkpoint, a
 * train task ahead that failed) ends the task as `failed` with the reason.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Type, type Static } from '@sinclair/typebox';
import { interfacesOfCanonicalText } from '../../network/template.js';
import type { MetricPoint, TaskParams, TaskRecord, TaskResult as StoredTaskResult } from '../../store/types.js';
import { requireMode } from '../../tasks/cluster-service.js';
import { csvColumns, csvLine, csvRow, decodeOutputs, predictedClasses, rowValues, valueColumns } from '../../tasks/results.js';
import { dropBlob } from '../cleanup.js';
import { mapPage, pageOf } from '../paging.js';
import { ApiError, badRequest, conflict, unprocessable } from '../problem.js';
import { json, noContent, raw, requirePrincipal, route } from '../route.js';
import { Closed, Name, NullableTimestamp, PageOf, PageQuery, StringEnum, Timestamp, Uuid } from '../schemas.js';
import { ClusterParams, Stats } from './clusters.js';
import { checkTaskFits } from './task-fit.js';

const InterfaceName = Type.String({ minLength: 1, maxLength: 254 });
const InputMapping = Closed({
  name: InterfaceName,
  column: Type.Optional(Type.Integer({ minimum: 0, description: 'First dataset column feeding this input (default 0).' })),
  size: Type.Optional(Type.Integer({ minimum: 1, description: 'Columns feeding it (default: the rest of the row).' })),
});

const OutputLayoutView = Closed({
  name: Type.String(),
  mode: StringEnum(['class', 'value']),
  column: Type.Integer({ minimum: 0 }),
  size: Type.Integer({ minimum: 0 }),
  labels: Type.Array(Type.String()),
});

const TaskResult = Closed(
  {
    samples: Type.Integer({ minimum: 0, description: 'Samples processed (train: rows × epochs).' }),
    seconds: Type.Number({ minimum: 0 }),
    samplesPerSecond: Type.Number({ minimum: 0 }),
    stats: Type.Optional(Stats),
    rows: Type.Optional(Type.Integer({ minimum: 0 })),
    width: Type.Optional(Type.Integer({ minimum: 0 })),
    outputs: Type.Optional(Type.Array(OutputLayoutView)),
    accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    rmse: Type.Optional(Type.Number({ minimum: 0 })),
    mae: Type.Optional(Type.Number({ minimum: 0 })),
    confusion: Type.Optional(
      Type.Array(Type.Array(Type.Integer({ minimum: 0 })), {
        description: "Request tasks scored on a class output of at most 100 classes: `confusion[actual][predicted]` counts rows, classes in the order of the output's labels.",
      }),
    ),
    perClass: Type.Optional(
      Type.Array(
        Closed({
          label: Type.String(),
          samples: Type.Integer({ minimum: 0, description: 'Rows labelled with this class.' }),
          accuracy: Type.Union([Type.Number({ minimum: 0, maximum: 1 }), Type.Null()], { description: 'Of those rows, the fraction predicted right (null: none).' }),
        }),
        { description: 'Request tasks scored on a class output: accuracy per class.' },
      ),
    ),
  },
  {
    description:
      'Train: samples, speed, network statistics. Request: also the output layout and, when the dataset is labelled, the score (with the confusion matrix and per-class accuracy for class outputs).',
  },
);

export const MetricPointView = Closed(
  {
    seq: Type.Integer({ minimum: 0, description: 'Recording order within the task (thinning leaves gaps).' }),
    time: Timestamp,
    done: Type.Integer({ minimum: 0, description: 'Samples done (train: over all epochs).' }),
    total: Type.Integer({ minimum: 0 }),
    samplesPerSecond: Type.Number({ minimum: 0, description: 'Since the previous point.' }),
    window: Type.Integer({
      minimum: 0,
      description:
        'Samples the score covers: train, those since the previous point (each scored by its forward pass just before it learned); request, every row at the final point; 0 without a score.',
    }),
    accuracy: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: 'Class outputs.' })),
    rmse: Type.Optional(Type.Number({ minimum: 0, description: 'Value outputs.' })),
    mae: Type.Optional(Type.Number({ minimum: 0, description: 'Value outputs.' })),
    neurons: Type.Integer({ minimum: 0 }),
    synapses: Type.Integer({ minimum: 0 }),
    sections: Type.Integer({ minimum: 0 }),
    bytes: Type.Integer({ minimum: 0 }),
    final: Type.Boolean({ description: "The task's last point, recorded at its end." }),
  },
  { title: 'MetricPoint' },
);
const MetricPage = PageOf(MetricPointView, 'MetricPage');

const MetricsSummary = Closed(
  {
    points: Type.Integer({ minimum: 0, description: 'Points stored (at most HANAMI_TASK_METRIC_POINTS).' }),
    last: Type.Union([MetricPointView, Type.Null()], { description: 'The newest point; `final` once the task ended.' }),
  },
  { description: 'The metric series in short (GET …/tasks/{taskId} only; the series is at …/metrics).' },
);

const TaskState = StringEnum(['queued', 'running', 'finished', 'failed', 'cancelled']);
const TaskKind = StringEnum(['train', 'request']);

export const TaskView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    clusterId: Uuid,
    kind: TaskKind,
    name: Type.String(),
    state: TaskState,
    progress: Closed({ done: Type.Integer({ minimum: 0 }), total: Type.Integer({ minimum: 0 }) }),
    datasetId: Uuid,
    epochs: Type.Integer({ minimum: 1 }),
    inputs: Type.Union([Type.Array(InputMapping), Type.Null()]),
    output: Type.Union([Type.String(), Type.Null()]),
    result: Type.Union([TaskResult, Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()], { description: 'Why the task failed or was cancelled.' }),
    runBy: Type.Union([Type.String(), Type.Null()], { description: 'The service instance (HANAMI_INSTANCE_ID) that ran the task: the one hosting its cluster.' }),
    createdAt: Timestamp,
    startedAt: NullableTimestamp,
    finishedAt: NullableTimestamp,
    createdBy: Type.String(),
    metrics: Type.Optional(MetricsSummary),
  },
  { title: 'Task' },
);
const TaskPage = PageOf(TaskView, 'TaskPage');
const TaskParamsSchema = Closed({ projectId: Uuid, clusterId: Uuid, taskId: Uuid });

/** The stored result summary as the document shows it (one shape for both kinds). */
function resultView(result: StoredTaskResult | null): Static<typeof TaskResult> | null {
  if (!result) return null;
  const out: Static<typeof TaskResult> = { samples: result.samples, seconds: result.seconds, samplesPerSecond: result.samplesPerSecond };
  if ('stats' in result) out.stats = result.stats;
  if ('outputs' in result) {
    Object.assign(out, { rows: result.rows, width: result.width, outputs: result.outputs });
    for (const key of ['accuracy', 'rmse', 'mae'] as const) {
      const v = result[key];
      if (v !== undefined) out[key] = v;
    }
    if (result.confusion) out.confusion = result.confusion;
    if (result.perClass) out.perClass = result.perClass;
  }
  return out;
}

/** A stored point as the document shows it (whole numbers where the schema says so). */
export function metricView(p: MetricPoint): Static<typeof MetricPointView> {
  return { ...p, done: Math.floor(p.done), total: Math.floor(p.total), neurons: Math.floor(p.neurons), synapses: Math.floor(p.synapses), sections: Math.floor(p.sections), bytes: Math.floor(p.bytes) };
}

export function taskView(t: TaskRecord): Static<typeof TaskView> {
  const params = t.params;
  return {
    id: t.id,
    projectId: t.projectId,
    clusterId: t.clusterId,
    kind: t.kind,
    name: t.name,
    state: t.state,
    progress: { done: Math.floor(t.progress.done), total: Math.floor(t.progress.total) },
    datasetId: params.datasetId,
    // A request reads its data once.
    epochs: t.kind === 'train' ? t.params.epochs : 1,
    inputs: params.inputs ?? null,
    output: params.output ?? null,
    result: resultView(t.result),
    error: t.error,
    runBy: t.runBy,
    createdAt: t.createdAt,
    startedAt: t.startedAt,
    finishedAt: t.finishedAt,
    createdBy: t.createdBy,
  };
}

const CreateTask = Closed({
  kind: TaskKind,
  name: Type.Optional(Name),
  datasetId: Uuid,
  epochs: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Train only (default 1).' })),
  inputs: Type.Optional(Type.Array(InputMapping, { minItems: 1, maxItems: 64, description: 'Which columns feed which input (default: the only input takes every column).' })),
  output: Type.Optional(InterfaceName),
});

const ResultsQuery = Closed({
  format: Type.Optional(StringEnum(['json', 'csv'], { default: 'json' })),
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0, description: 'First row.' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000, description: 'Rows (default: all).' })),
});

const TaskResults = Closed(
  {
    taskId: Uuid,
    offset: Type.Integer({ minimum: 0 }),
    totalRows: Type.Integer({ minimum: 0 }),
    columns: Type.Array(Type.String(), { description: '`<output>:<label>` for every value of a row.' }),
    values: Type.Array(Type.Array(Type.Number()), { description: 'One array per row, in `columns` order.' }),
    predictions: Type.Record(Type.String(), Type.Array(Type.String()), { description: 'Per class output: the predicted class of each row.' }),
  },
  { title: 'TaskResults' },
);

/** Checks the mapping against the template and the dataset before anything is queued. */
function checkMapping(templateText: string, params: TaskParams, inputWidth: number): void {
  // The names only: read from the stored canonical text, never a parse on the event loop.
  const { inputs, outputs } = interfacesOfCanonicalText(templateText);
  for (const [i, m] of (params.inputs ?? []).entries()) {
    if (!inputs.includes(m.name)) throw unprocessable('bad_mapping', `the template has no input "${m.name}" (inputs: ${inputs.join(', ')})`, { field: `/body/inputs/${i}/name` });
    const column = m.column ?? 0;
    const size = m.size ?? inputWidth - column;
    if (column + size > inputWidth || size <= 0)
      throw unprocessable('bad_mapping', `input "${m.name}": columns ${column}..${column + size - 1} are outside the dataset's ${inputWidth} columns`, { field: `/body/inputs/${i}` });
  }
  if (!params.inputs && inputs.length !== 1)
    throw unprocessable('bad_mapping', `the template has ${inputs.length} inputs (${inputs.join(', ')}): say which columns feed which in "inputs"`, { field: '/body/inputs' });
  if (params.output !== undefined && !outputs.includes(params.output))
    throw unprocessable('bad_mapping', `the template has no output "${params.output}" (outputs: ${outputs.join(', ')})`, { field: '/body/output' });
}

export const taskRoutes = [
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks',
    operationId: 'listTasks',
    summary: "List a cluster's tasks, oldest first",
    tag: 'tasks',
    access: 'project',
    params: ClusterParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of tasks.', schema: TaskPage } },
    async handler({ params, query, services }) {
      await services.store.clusters.get(params.projectId, params.clusterId);
      return json(200, TaskPage, mapPage(await services.store.tasks.listByCluster(params.projectId, params.clusterId, pageOf(query)), taskView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks',
    operationId: 'createTask',
    summary: 'Queue a train or request task',
    description:
      'Answers 202 at once; poll the task for progress. Tasks of one cluster run one at a time, in order, on the service instance that hosts the cluster (whichever instance took the request).',
    tag: 'tasks',
    access: 'project',
    params: ClusterParams,
    body: CreateTask,
    responses: { 202: { description: 'Queued.', schema: TaskView } },
    async handler({ params, body, principal, services }) {
      const { store } = services;
      if (!services.accepting) throw new ApiError('shutting_down', 'the service is shutting down; submit the task after it restarts');
      const cluster = await store.clusters.get(params.projectId, params.clusterId);
      requireMode(cluster, 'tasks');
      const dataset = await store.datasets.get(params.projectId, body.datasetId);
      if (dataset.status !== 'ready' || dataset.rows === null || dataset.inputWidth === null) {
        throw conflict('dataset_not_ready', `dataset ${dataset.id} is not ready (status ${dataset.status}); upload its content first`, { field: '/body/datasetId' });
      }
      if (body.kind === 'request' && body.epochs !== undefined) throw badRequest('epochs_for_request', 'epochs applies to train tasks only', { field: '/body/epochs' });
      if (body.kind === 'train' && !dataset.targets) throw unprocessable('no_targets', `dataset ${dataset.id} has no labels or targets to train on`, { field: '/body/datasetId' });
      const binding = { ...(body.inputs ? { inputs: body.inputs } : {}), ...(body.output !== undefined ? { output: body.output } : {}) };
      const epochs = body.kind === 'train' ? (body.epochs ?? 1) : 1;
      const taskParams: TaskParams = body.kind === 'train' ? { datasetId: dataset.id, epochs, ...binding } : { datasetId: dataset.id, ...binding };
      checkMapping(cluster.templateText, taskParams, dataset.inputWidth);
      await checkTaskFits(services, cluster, dataset, body.kind, taskParams);
      const fields = {
        id: randomUUID(),
        projectId: params.projectId,
        clusterId: cluster.id,
        name: body.name ?? `${body.kind} ${dataset.name}`.slice(0, 128),
        state: 'queued' as const,
        progress: { done: 0, total: dataset.rows * epochs },
        result: null,
        resultBlobId: null,
        error: null,
        runBy: null,
        createdAt: new Date().toISOString(),
        startedAt: null,
        finishedAt: null,
        createdBy: requirePrincipal(principal).name,
      };
      const task = await store.tasks.create(
        body.kind === 'train' ? { ...fields, kind: 'train', params: { datasetId: dataset.id, epochs, ...binding } } : { ...fields, kind: 'request', params: { datasetId: dataset.id, ...binding } },
      );
      services.runtime.submit(task);
      return json(202, TaskView, taskView(task));
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks/{taskId}',
    operationId: 'getTask',
    summary: 'Show a task with its state and progress',
    tag: 'tasks',
    access: 'project',
    params: TaskParamsSchema,
    responses: { 200: { description: 'The task.', schema: TaskView } },
    async handler({ params, services }) {
      const task = await services.store.tasks.get(params.projectId, params.taskId);
      if (task.clusterId !== params.clusterId) throw new ApiError('not_found', `task ${params.taskId} not found in cluster ${params.clusterId}`);
      const [series, last] = await Promise.all([services.store.tasks.listMetrics(task.projectId, task.id, { limit: 1 }), services.store.tasks.lastMetric(task.projectId, task.id)]);
      return json(200, TaskView, { ...taskView(task), metrics: { points: series.total, last: last ? metricView(last) : null } });
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks/{taskId}/metrics',
    operationId: 'listTaskMetrics',
    summary: "A task's metric series, oldest point first",
    description:
      'Points recorded while the task ran (every HANAMI_TASK_METRIC_SAMPLES samples) and at its end (`final`): samples done, samples per second, the running training score or the final score, and the network size. At most HANAMI_TASK_METRIC_POINTS points are kept; a full series is halved. The same points are pushed live on the Socket.IO namespace /v1/events (docs/socket-io.md).',
    tag: 'tasks',
    access: 'project',
    params: TaskParamsSchema,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of points.', schema: MetricPage } },
    async handler({ params, query, services }) {
      const task = await services.store.tasks.get(params.projectId, params.taskId);
      if (task.clusterId !== params.clusterId) throw new ApiError('not_found', `task ${params.taskId} not found in cluster ${params.clusterId}`);
      return json(200, MetricPage, mapPage(await services.store.tasks.listMetrics(task.projectId, task.id, pageOf(query)), metricView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks/{taskId}/cancel',
    operationId: 'cancelTask',
    summary: 'Cancel a queued or running task',
    description:
      'A running train task stops after its current slice and the cluster keeps what it learned so far. When another service instance runs the task, it is asked to stop it; the answer waits a few seconds for that and may still show `running`.',
    tag: 'tasks',
    access: 'project',
    params: TaskParamsSchema,
    responses: { 200: { description: 'The task, now ended.', schema: TaskView } },
    async handler({ params, principal, services }) {
      const task = await services.store.tasks.get(params.projectId, params.taskId);
      if (task.clusterId !== params.clusterId) throw new ApiError('not_found', `task ${params.taskId} not found in cluster ${params.clusterId}`);
      if (task.state !== 'queued' && task.state !== 'running') throw conflict('task_ended', `task ${task.id} already ended (${task.state})`);
      return json(200, TaskView, taskView(await services.runtime.cancel(task, requirePrincipal(principal).name)));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks/{taskId}',
    operationId: 'deleteTask',
    summary: 'Delete an ended task and its results',
    tag: 'tasks',
    access: 'project',
    params: TaskParamsSchema,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      const task = await services.store.tasks.get(params.projectId, params.taskId);
      if (task.clusterId !== params.clusterId) throw new ApiError('not_found', `task ${params.taskId} not found in cluster ${params.clusterId}`);
      if (task.state === 'queued' || task.state === 'running') throw conflict('task_active', `task ${task.id} is ${task.state}; cancel it first`);
      await services.store.tasks.delete(task.projectId, task.id);
      if (task.resultBlobId) await dropBlob(services, task.resultBlobId);
      return noContent();
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters/{clusterId}/tasks/{taskId}/results',
    operationId: 'getTaskResults',
    summary: "Download a request task's predictions as JSON or CSV",
    tag: 'tasks',
    access: 'project',
    params: TaskParamsSchema,
    query: ResultsQuery,
    responses: { 200: { description: 'The outputs of every row (and the predicted classes).', schema: TaskResults, content: { 'text/csv': Type.String() } } },
    async handler({ params, query, services }) {
      const task = await services.store.tasks.get(params.projectId, params.taskId);
      if (task.clusterId !== params.clusterId) throw new ApiError('not_found', `task ${params.taskId} not found in cluster ${params.clusterId}`);
      if (task.kind !== 'request' || task.state !== 'finished' || !task.resultBlobId || !task.result) {
        throw conflict('no_results', `task ${task.id} is a ${task.state} ${task.kind} task; only a finished request task has results`);
      }
      const layout = task.result;
      const values = decodeOutputs(await services.store.blobs.read(task.resultBlobId));
      const from = Math.min(query.offset ?? 0, layout.rows);
      const to = Math.min(layout.rows, from + (query.limit ?? layout.rows));
      if (query.format === 'csv') {
        const lines = function* (): Generator<string> {
          yield csvLine(csvColumns(layout));
          for (let r = from; r < to; r++) yield csvLine(csvRow(layout, values, r));
        };
        return raw(200, 'text/csv; charset=utf-8', Readable.from(lines()), { 'Content-Disposition': `attachment; filename="task-${task.id}.csv"` });
      }
      const rows: number[][] = [];
      for (let r = from; r < to; r++) rows.push(rowValues(layout, values, r));
      return json(200, TaskResults, { taskId: task.id, offset: from, totalRows: layout.rows, columns: valueColumns(layout), values: rows, predictions: predictedClasses(layout, values, from, to) });
    },
  }),
];
