/**
 * Running one train or request task on a cluster this process holds, in the cluster's
 * line. A runner loads what the task needs, runs it through the backend (offering its slice
 * boundaries to interludes) and says what came of it; it writes nothing itself: the
 * scheduler saves the network and the outputs and records the end (scheduler.ts).
 */
import { JobCancelled } from '../../kernels/contract.js';
import { BindError } from '../network/cluster.js';
import { confusionMatrix, score } from '../network/evaluate.js';
import type { Dataset } from '../datasets/types.js';
import type { ClusterRecord, RequestResult, RequestTaskRecord, Store, TaskRecord, TrainResult, TrainTaskRecord } from '../store/types.js';
import type { BackendSet } from './backends.js';
import type { ClusterTurn } from './cluster-slot.js';
import type { DatasetCache } from './dataset-loader.js';
import type { HostedCluster } from './hosted-cluster.js';
import { bindOptions } from './params.js';
import { TrainingScore, type MetricRecorder } from './metric-recorder.js';
import type { ProgressWriter } from './progress-writer.js';

export interface RunnerDeps {
  store: Store;
  datasets: DatasetCache;
  backends: BackendSet;
}

/** One run of a task: where it runs and how it is told to stop. */
export interface TaskRun {
  turn: ClusterTurn;
  signal: AbortSignal;
  progress: ProgressWriter;
  /** The task's metric series: points while it runs; the runner records the final one of a
   *  task that did not fail (the scheduler that of one that failed). */
  metrics: MetricRecorder;
  /** The cluster's lease was lost: nothing may be saved. */
  leaseLost(): boolean;
}

/** A network the task changed, to save as the cluster's state. */
export interface ChangedNetwork {
  hosted: HostedCluster;
  record: ClusterRecord;
}

/** What came of a run that did not fail. */
export type TaskOutcome =
  | {
      ended: 'finished';
      samples: number;
      seconds: number;
      result: TrainResult | RequestResult;
      /** Request tasks: the outputs, rows × width float32 (the result blob). */
      outputs: Float32Array | null;
      changed: ChangedNetwork | null;
    }
  /** A train task stopped by a cancel: the network keeps what it learned so far. */
  | { ended: 'cancelled'; cause: JobCancelled; changed: ChangedNetwork };

export function runTask(deps: RunnerDeps, task: TaskRecord, run: TaskRun): Promise<TaskOutcome> {
  return task.kind === 'train' ? runTrainTask(deps, task, run) : runRequestTask(deps, task, run);
}

async function loadData(deps: RunnerDeps, task: TaskRecord): Promise<Dataset> {
  const record = await deps.store.datasets.get(task.projectId, task.params.datasetId);
  if (record.status !== 'ready') throw new BindError(`dataset ${record.id} is not ready (status ${record.status})`);
  return deps.datasets.get(record);
}

function outputName(hosted: HostedCluster, binding: { group: number; iface: number }): string {
  return hosted.cluster.state.outputs[binding.group]!.interfaces[binding.iface]!.name;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function throughput(samples: number, seconds: number): { samples: number; seconds: number; samplesPerSecond: number } {
  return { samples, seconds: round(seconds, 4), samplesPerSecond: Math.round(samples / Math.max(seconds, 1e-9)) };
}

async function runTrainTask(deps: RunnerDeps, task: TrainTaskRecord, run: TaskRun): Promise<TaskOutcome> {
  const { turn, progress, metrics } = run;
  const params = task.params;
  const record = await deps.store.clusters.get(task.projectId, task.clusterId);
  const data = await loadData(deps, task);
  if (!data.targets) throw new BindError(`dataset ${params.datasetId} has no labels or targets to train on`);
  const hosted = await turn.load(record);
  const backend = await deps.backends.get(record.backend);
  const started = performance.now();
  const trainedBefore = hosted.cluster.stats().samplesTrained;
  let scorer: TrainingScore | undefined;
  try {
    const bound = hosted.cluster.bind(data, bindOptions(params, false));
    hosted.learnLabels(outputName(hosted, bound.outputMap[0]!), data.targets);
    scorer = TrainingScore.for(bound, hosted.cluster.state);
    const interludes = turn.offerInterludes({ hosted, backend, record }, false);
    // Predictions that arrived while the task started answer from the network as it is.
    await interludes();
    // Between two slices or batches the network's shape and counters are current: the
    // moment for a metric point, then for waiting predictions.
    const between = (): Promise<void> | undefined => {
      if (metrics.due) metrics.record(hosted.cluster.stats(), scorer?.take(metrics.samplesDone));
      return interludes();
    };
    const onProgress = (done: number, total: number): void => {
      progress.report(done, total);
      metrics.progress(done, total);
    };
    // Interludes read the network through the backend (predictions), so a device backend
    // keeps the weights on the device between batches.
    await backend.train(hosted.cluster, bound, {
      epochs: params.epochs,
      onProgress,
      signal: run.signal,
      between,
      betweenUsesBackend: true,
      ...(scorer ? { outputs: scorer.outputs } : {}),
    });
    turn.withdrawInterludes();
    await interludes();
  } catch (error) {
    if (error instanceof JobCancelled && !run.leaseLost()) {
      // The slice in flight when the cancel came still completes (and stays learned)
      // without a progress report: count what the network really learned.
      const learned = hosted.cluster.stats().samplesTrained - trainedBefore;
      progress.report(learned, data.rows * params.epochs);
      metrics.end(hosted.cluster.stats(), scorer?.take(learned), learned);
      return { ended: 'cancelled', cause: error, changed: { hosted, record } };
    }
    // Anything else may have left the network half-changed: reload its last saved state.
    turn.discard(hosted);
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  const samples = data.rows * params.epochs;
  metrics.end(hosted.cluster.stats(), scorer?.take(samples), samples);
  return { ended: 'finished', samples, seconds, result: { ...throughput(samples, seconds), stats: { ...hosted.cluster.stats() } }, outputs: null, changed: { hosted, record } };
}

async function runRequestTask(deps: RunnerDeps, task: RequestTaskRecord, run: TaskRun): Promise<TaskOutcome> {
  const { turn, progress, metrics } = run;
  const record = await deps.store.clusters.get(task.projectId, task.clusterId);
  const data = await loadData(deps, task);
  const hosted = await turn.load(record);
  const backend = await deps.backends.get(record.backend);
  const started = performance.now();
  const bound = hosted.cluster.bind(data, bindOptions(task.params, true));
  // A request task only reads a non-spiking network: predictions need not wait for it.
  const between = turn.offerInterludes({ hosted, backend, record }, !hosted.cluster.spiking);
  await between();
  const onProgress = (done: number, total: number): void => {
    progress.report(done, total);
    metrics.progress(done, total);
    // A request only reads the network: its size is what it was at the start.
    if (metrics.due) metrics.record(hosted.cluster.stats());
  };
  const { outputs } = await backend.predict(hosted.cluster, bound, { onProgress, signal: run.signal });
  turn.withdrawInterludes();
  const seconds = (performance.now() - started) / 1000;
  const layout = { rows: data.rows, width: hosted.width, outputs: hosted.outputLayout() };
  const scored = score(hosted.cluster.state, bound, outputs, layout.width);
  const result: RequestResult = {
    ...layout,
    ...throughput(data.rows, seconds),
    ...(scored.accuracy !== undefined ? { accuracy: scored.accuracy } : {}),
    ...(scored.rmse !== undefined ? { rmse: scored.rmse, mae: scored.mae ?? 0 } : {}),
    ...classScores(hosted, bound, outputs, layout.width),
  };
  metrics.end(hosted.cluster.stats(), { window: scored.accuracy !== undefined || scored.rmse !== undefined ? data.rows : 0, ...pick(result, ['accuracy', 'rmse', 'mae']) }, data.rows);
  // A spiking network carries potentials from sample to sample: its state changed.
  return { ended: 'finished', samples: data.rows, seconds, result, outputs, changed: hosted.cluster.spiking ? { hosted, record } : null };
}

function pick<T extends object, K extends keyof T>(from: T, keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (from[k] !== undefined) out[k] = from[k];
  return out;
}

/** The confusion matrix and per-class accuracy of the scored class output, when it has one. */
function classScores(hosted: HostedCluster, bound: ReturnType<HostedCluster['cluster']['bind']>, outputs: Float32Array, width: number): Pick<RequestResult, 'confusion' | 'perClass'> {
  const matrix = confusionMatrix(hosted.cluster.state, bound, outputs, width);
  const binding = bound.outputMap[0];
  if (!matrix || !binding) return {};
  const name = outputName(hosted, binding);
  const labels = hosted.outputLayout().find((o) => o.name === name)?.labels ?? [];
  const perClass = matrix.map((row, k) => {
    const samples = row.reduce((a, b) => a + b, 0);
    return { label: labels[k] ?? String(k), samples, accuracy: samples > 0 ? Math.round((row[k]! / samples) * 1e6) / 1e6 : null };
  });
  return { confusion: matrix, perClass };
}
