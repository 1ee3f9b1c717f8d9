/**
 * The task runtime: clusters in memory and one FIFO queue per cluster.
 *
 * - A cluster is loaded lazily from its latest state blob (or created from its template and
 *   seed while it has none) and stays in memory.
 * - Each cluster runs one thing at a time through its serial queue: tasks in submission
 *   order, and the exclusive operations of direct I/O (`withCluster`). Different clusters
 *   run side by side; the backend's worker pool interleaves their work fairly.
 * - Task records are the durable truth: queued → running → finished | failed | cancelled,
 *   with progress written at most every `progressIntervalMs`.
 * - After a train task (finished or cancelled) the cluster's state is checkpointed into a
 *   blob and the cluster record points at it, so a restart resumes from there. A task that
 *   fails keeps nothing of its partial work: the cluster is reloaded from its last state.
 * - At start (`recover`), tasks found running were interrupted by a crash: they are marked
 *   failed with that reason; queued tasks are queued again.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { JobCancelled } from '../../cpu-fallback/pool.js';
import type { Backend } from '../network/backend.js';
import { BindError, type BindOptions } from '../network/cluster.js';
import { CheckpointError } from '../network/checkpoint.js';
import { score } from '../network/evaluate.js';
import { BackendUnavailableError } from '../network/select-backend.js';
import { DatasetFormatError, type Dataset } from '../datasets/types.js';
import { NotFoundError, type ClusterRecord, type Store, type TaskKind, type TaskRecord, type TaskState } from '../store/types.js';
import type { BackendSet } from './backends.js';
import type { DatasetCache } from './dataset-loader.js';
import { HostedCluster, type OutputLayout } from './hosted-cluster.js';
import { asTaskParams, bindOptions, type TaskParams } from './params.js';
import { encodeOutputs, type ResultLayout } from './results.js';
import { ProgressWriter } from './progress-writer.js';
import { SerialQueue } from './serial-queue.js';

/** What the runtime reports (prom-client metrics implement it). */
export interface RuntimeObserver {
  taskEnded(kind: TaskKind, state: TaskState): void;
  samplesProcessed(kind: TaskKind, samples: number, seconds: number): void;
}

export class ClusterBusyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClusterBusyError';
  }
}

export class RuntimeStoppingError extends Error {
  constructor() {
    super('the service is shutting down; try again after it restarts');
    this.name = 'RuntimeStoppingError';
  }
}

interface RunningTask {
  taskId: string;
  kind: TaskKind;
  datasetId: string;
  abort: AbortController;
  /** Why it is being stopped (user cancel or shutdown); shown on the task. */
  stopReason?: string;
  finished: Promise<void>;
}

interface ClusterSlot {
  projectId: string;
  clusterId: string;
  serial: SerialQueue;
  hosted?: Promise<HostedCluster> | undefined;
  /** Tasks waiting in this cluster's queue: id → dataset they use. */
  queued: Map<string, string>;
  running?: RunningTask | undefined;
  /** Statistics of the state in memory (for metrics), when known. */
  stats?: Record<string, number>;
}

export interface RuntimeDeps {
  store: Store;
  backends: BackendSet;
  datasets: DatasetCache;
  logger: Logger;
  observer?: RuntimeObserver;
  progressIntervalMs?: number;
}

const now = (): string => new Date().toISOString();

export const INTERRUPTED_BY_RESTART =
  'interrupted: the service stopped while this task ran (the cluster keeps its state from its last finished task); submit it again';

export class TaskRuntime {
  private readonly slots = new Map<string, ClusterSlot>();
  private stopping = false;
  private readonly store: Store;
  private readonly progressIntervalMs: number;

  constructor(private readonly deps: RuntimeDeps) {
    this.store = deps.store;
    this.progressIntervalMs = deps.progressIntervalMs ?? 250;
  }

  // ---------------------------------------------------------------------------------------
  // Start and stop

  /** Start-up recovery: running tasks were interrupted (failed), queued ones run again. */
  async recover(): Promise<{ failed: number; requeued: number }> {
    const interrupted = await this.store.tasks.listByState(['running']);
    for (const task of interrupted) {
      await this.store.tasks.update(task.projectId, task.id, { state: 'failed', error: INTERRUPTED_BY_RESTART, finishedAt: now() });
      this.deps.observer?.taskEnded(task.kind, 'failed');
    }
    const queued = await this.store.tasks.listByState(['queued']);
    queued.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    for (const task of queued) this.submit(task);
    return { failed: interrupted.length, requeued: queued.length };
  }

  /**
   * Stops taking work: waits up to `graceMs` for running tasks, then cancels them at their
   * next slice (train tasks keep and save what they learned). Queued tasks stay queued in
   * the store and run after the next start.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = [...this.slots.values()].flatMap((s) => (s.running ? [s.running] : []));
    const all = Promise.all(running.map((r) => r.finished));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([all.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), graceMs)))]);
    clearTimeout(timer);
    if (timedOut) {
      for (const r of running) {
        r.stopReason = 'stopped by a service shutdown; the cluster keeps what this task learned so far';
        r.abort.abort();
      }
      await all;
    }
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  /** Queues a task that is stored in state `queued`. */
  submit(task: TaskRecord): void {
    if (this.stopping) throw new RuntimeStoppingError();
    const params = asTaskParams(task.params);
    const slot = this.slot(task.projectId, task.clusterId);
    slot.queued.set(task.id, params.datasetId);
    void slot.serial.run(() => this.execute(slot, task.id));
  }

  /** Cancels a queued or running task and returns its final record. */
  async cancel(task: TaskRecord, by: string): Promise<TaskRecord> {
    const slot = this.slots.get(task.clusterId);
    if (slot?.queued.delete(task.id)) {
      const cancelled = await this.store.tasks.update(task.projectId, task.id, { state: 'cancelled', error: `cancelled by ${by} while queued`, finishedAt: now() });
      this.deps.observer?.taskEnded(task.kind, 'cancelled');
      return cancelled;
    }
    if (slot?.running?.taskId === task.id) {
      const running = slot.running;
      running.stopReason ??= `cancelled by ${by}`;
      running.abort.abort();
      await running.finished;
    }
    return this.store.tasks.get(task.projectId, task.id);
  }

  /** Queued task count and running task of a cluster. */
  activity(clusterId: string): { queued: number; runningTaskId: string | null } {
    const slot = this.slots.get(clusterId);
    return { queued: slot?.queued.size ?? 0, runningTaskId: slot?.running?.taskId ?? null };
  }

  isClusterBusy(clusterId: string): boolean {
    const a = this.activity(clusterId);
    return a.queued > 0 || a.runningTaskId !== null;
  }

  /** Whether a queued or running task reads this dataset. */
  isDatasetInUse(datasetId: string): boolean {
    for (const slot of this.slots.values()) {
      if (slot.running?.datasetId === datasetId) return true;
      for (const used of slot.queued.values()) if (used === datasetId) return true;
    }
    return false;
  }

  /** Tasks queued or running, over all clusters (metrics). */
  counts(): { queued: number; running: number } {
    let queued = 0;
    let running = 0;
    for (const slot of this.slots.values()) {
      queued += slot.queued.size;
      if (slot.running) running++;
    }
    return { queued, running };
  }

  /** Statistics of the clusters in memory (metrics). */
  loadedStats(): { projectId: string; clusterId: string; stats: Record<string, number> }[] {
    return [...this.slots.values()].flatMap((s) => (s.stats ? [{ projectId: s.projectId, clusterId: s.clusterId, stats: s.stats }] : []));
  }

  /** Statistics of a cluster's state in memory, if it is loaded. */
  liveStats(clusterId: string): Record<string, number> | undefined {
    return this.slots.get(clusterId)?.stats;
  }

  // ---------------------------------------------------------------------------------------
  // Clusters

  /** Replaces a cluster's state by checkpoint bytes (restore into an existing cluster). */
  async replaceState(record: ClusterRecord, bytes: Buffer): Promise<ClusterRecord> {
    if (this.isClusterBusy(record.id)) throw new ClusterBusyError(`cluster ${record.id} has queued or running tasks; cancel them or wait before restoring into it`);
    const slot = this.slot(record.projectId, record.id);
    return slot.serial.run(async () => {
      const hosted = HostedCluster.fromCheckpoint(bytes);
      slot.hosted = Promise.resolve(hosted);
      return this.persist(slot, hosted, { ...record, templateText: hosted.cluster.templateText });
    });
  }

  /** Drops a deleted cluster from memory. */
  forget(clusterId: string): void {
    this.slots.delete(clusterId);
  }

  // ---------------------------------------------------------------------------------------
  // Direct I/O (used by the Socket.IO layer; see docs/architecture.md)

  /**
   * Runs `work` with exclusive use of the cluster, after everything queued on it before.
   * `work` may train or predict through `backend`; it must not keep the cluster after it
   * returns. Call `saveCluster` to persist what direct training changed.
   */
  withCluster<T>(projectId: string, clusterId: string, work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord) => Promise<T>): Promise<T> {
    if (this.stopping) return Promise.reject(new RuntimeStoppingError());
    const slot = this.slot(projectId, clusterId);
    return slot.serial.run(async () => {
      const record = await this.store.clusters.get(projectId, clusterId);
      const hosted = await this.hosted(slot, record);
      return work(hosted, await this.deps.backends.get(record.backend), record);
    });
  }

  /** Trains the cluster on every row of `data` (e.g. one sample from a socket), in memory. */
  trainDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<void> {
    return this.withCluster(projectId, clusterId, async (hosted, backend) => {
      const bound = hosted.cluster.bind(data, { ...bind, readOnly: false });
      if (data.targets && bound.outputMap.length > 0) hosted.learnLabels(outputName(hosted, bound.outputMap[0]!), data.targets);
      await backend.train(hosted.cluster, bound, {});
      this.slot(projectId, clusterId).stats = { ...hosted.cluster.stats() };
    });
  }

  /** Forward pass over every row of `data`: rows × width values and what they mean. */
  predictDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<{ outputs: Float32Array; width: number; layout: OutputLayout[] }> {
    return this.withCluster(projectId, clusterId, async (hosted, backend) => {
      const { targets: _ignored, ...inputsOnly } = data;
      const bound = hosted.cluster.bind(inputsOnly, { ...bind, readOnly: true });
      const { outputs } = await backend.predict(hosted.cluster, bound, {});
      return { outputs, width: hosted.width, layout: hosted.outputLayout() };
    });
  }

  /** Persists the in-memory state of a cluster (after direct training). */
  saveCluster(projectId: string, clusterId: string): Promise<ClusterRecord> {
    return this.withCluster(projectId, clusterId, (hosted, _backend, record) => this.persist(this.slot(projectId, clusterId), hosted, record));
  }

  // ---------------------------------------------------------------------------------------
  // Internals

  private slot(projectId: string, clusterId: string): ClusterSlot {
    let slot = this.slots.get(clusterId);
    if (!slot) {
      slot = { projectId, clusterId, serial: new SerialQueue(), queued: new Map() };
      this.slots.set(clusterId, slot);
    }
    return slot;
  }

  private hosted(slot: ClusterSlot, record: ClusterRecord): Promise<HostedCluster> {
    if (!slot.hosted) {
      const loading = (async () => {
        const hosted = record.stateBlobId ? HostedCluster.fromCheckpoint(await this.store.blobs.read(record.stateBlobId)) : HostedCluster.fresh(record.templateText, record.seed);
        slot.stats = { ...hosted.cluster.stats() };
        return hosted;
      })();
      slot.hosted = loading;
      loading.catch(() => {
        if (slot.hosted === loading) slot.hosted = undefined;
      });
    }
    return slot.hosted;
  }

  /** Checkpoints the cluster into a new blob, points the record at it, drops the old blob. */
  private async persist(slot: ClusterSlot, hosted: HostedCluster, record: ClusterRecord): Promise<ClusterRecord> {
    const blob = await this.store.blobs.put(hosted.checkpoint(record.name));
    const stats = { ...hosted.cluster.stats() };
    const updated = await this.store.clusters.update(record.projectId, record.id, {
      stateBlobId: blob.id,
      stats,
      templateText: record.templateText,
      updatedAt: now(),
    });
    slot.stats = stats;
    if (record.stateBlobId && record.stateBlobId !== blob.id) {
      await this.store.blobs.delete(record.stateBlobId).catch((e: unknown) => this.deps.logger.warn({ err: e }, 'could not delete an old cluster state blob'));
    }
    return updated;
  }

  private async execute(slot: ClusterSlot, taskId: string): Promise<void> {
    const datasetId = slot.queued.get(taskId);
    // Cancelled while queued, or the service is stopping (it stays queued for the next start).
    if (datasetId === undefined || this.stopping) return;
    slot.queued.delete(taskId);
    let task: TaskRecord;
    try {
      task = await this.store.tasks.get(slot.projectId, taskId);
    } catch (error) {
      if (error instanceof NotFoundError) return;
      throw error;
    }
    if (task.state !== 'queued') return;
    let settle = (): void => {};
    const running: RunningTask = {
      taskId,
      kind: task.kind,
      datasetId,
      abort: new AbortController(),
      finished: new Promise<void>((resolve) => (settle = resolve)),
    };
    slot.running = running;
    try {
      await this.run(slot, task, running);
    } finally {
      slot.running = undefined;
      settle();
    }
  }

  private async run(slot: ClusterSlot, queued: TaskRecord, running: RunningTask): Promise<void> {
    const { projectId, id } = queued;
    const progress = new ProgressWriter((done, total) => this.store.tasks.update(projectId, id, { progress: { done, total } }), this.progressIntervalMs);
    let task = queued;
    try {
      task = await this.store.tasks.update(projectId, id, { state: 'running', startedAt: now() });
      const params = asTaskParams(task.params);
      const outcome = task.kind === 'train' ? await this.train(slot, task, params, running, progress) : await this.request(slot, task, params, running, progress);
      await progress.flush();
      await this.store.tasks.update(projectId, id, {
        state: 'finished',
        progress: { done: outcome.samples, total: outcome.samples },
        result: outcome.result,
        resultBlobId: outcome.resultBlobId,
        finishedAt: now(),
      });
      this.deps.observer?.taskEnded(task.kind, 'finished');
      this.deps.observer?.samplesProcessed(task.kind, outcome.samples, outcome.seconds);
    } catch (error) {
      await progress.flush();
      const cancelled = error instanceof JobCancelled || running.abort.signal.aborted;
      const state: TaskState = cancelled ? 'cancelled' : 'failed';
      const message = cancelled ? (running.stopReason ?? 'cancelled') : describeFailure(error);
      if (!cancelled) await this.reportFailure(task, error, message);
      await this.store.tasks.update(projectId, id, { state, error: message, finishedAt: now() }).catch((e: unknown) => this.deps.logger.error({ err: e, taskId: id }, 'could not record the end of a task'));
      this.deps.observer?.taskEnded(task.kind, state);
    }
  }

  private async loadData(task: TaskRecord, params: TaskParams): Promise<Dataset> {
    const record = await this.store.datasets.get(task.projectId, params.datasetId);
    if (record.status !== 'ready') throw new BindError(`dataset ${record.id} is not ready (status ${record.status})`);
    return this.deps.datasets.get(record);
  }

  private async train(
    slot: ClusterSlot,
    task: TaskRecord,
    params: TaskParams,
    running: RunningTask,
    progress: ProgressWriter,
  ): Promise<{ samples: number; seconds: number; result: Record<string, unknown>; resultBlobId: null }> {
    const record = await this.store.clusters.get(task.projectId, task.clusterId);
    const data = await this.loadData(task, params);
    if (!data.targets) throw new BindError(`dataset ${params.datasetId} has no labels or targets to train on`);
    const hosted = await this.hosted(slot, record);
    const backend = await this.deps.backends.get(record.backend);
    const started = performance.now();
    const trainedBefore = hosted.cluster.stats().samplesTrained;
    try {
      const bound = hosted.cluster.bind(data, bindOptions(params, false));
      hosted.learnLabels(outputName(hosted, bound.outputMap[0]!), data.targets);
      await backend.train(hosted.cluster, bound, { epochs: params.epochs, onProgress: progress.report, signal: running.abort.signal });
    } catch (error) {
      if (error instanceof JobCancelled) {
        // The slice in flight when the cancel came still completes (and stays learned)
        // without a progress report: count what the network really learned.
        progress.report(hosted.cluster.stats().samplesTrained - trainedBefore, data.rows * params.epochs);
        await this.persist(slot, hosted, record);
      }
      // Anything else may have left the network half-changed: reload its last saved state.
      else slot.hosted = undefined;
      throw error;
    }
    const seconds = (performance.now() - started) / 1000;
    await this.persist(slot, hosted, record);
    const samples = data.rows * params.epochs;
    return {
      samples,
      seconds,
      result: { samples, seconds: round(seconds, 4), samplesPerSecond: Math.round(samples / Math.max(seconds, 1e-9)), stats: { ...hosted.cluster.stats() } },
      resultBlobId: null,
    };
  }

  private async request(
    slot: ClusterSlot,
    task: TaskRecord,
    params: TaskParams,
    running: RunningTask,
    progress: ProgressWriter,
  ): Promise<{ samples: number; seconds: number; result: Record<string, unknown>; resultBlobId: string }> {
    const record = await this.store.clusters.get(task.projectId, task.clusterId);
    const data = await this.loadData(task, params);
    const hosted = await this.hosted(slot, record);
    const backend = await this.deps.backends.get(record.backend);
    const started = performance.now();
    const bound = hosted.cluster.bind(data, bindOptions(params, true));
    const { outputs } = await backend.predict(hosted.cluster, bound, { onProgress: progress.report, signal: running.abort.signal });
    const seconds = (performance.now() - started) / 1000;
    // A spiking network carries potentials from sample to sample: its state changed.
    if (hosted.cluster.spiking) await this.persist(slot, hosted, record);
    const layout: ResultLayout = { rows: data.rows, width: hosted.width, outputs: hosted.outputLayout() };
    const scored = score(hosted.cluster.state, bound, outputs, layout.width);
    const blob = await this.store.blobs.put(encodeOutputs(outputs));
    return {
      samples: data.rows,
      seconds,
      result: {
        ...layout,
        samples: data.rows,
        seconds: round(seconds, 4),
        samplesPerSecond: Math.round(data.rows / Math.max(seconds, 1e-9)),
        ...(scored.accuracy !== undefined ? { accuracy: scored.accuracy } : {}),
        ...(scored.rmse !== undefined ? { rmse: scored.rmse, mae: scored.mae ?? 0 } : {}),
      },
      resultBlobId: blob.id,
    };
  }

  private async reportFailure(task: TaskRecord, error: unknown, message: string): Promise<void> {
    const expected = isInputError(error);
    if (!expected) this.deps.logger.error({ err: error, taskId: task.id }, 'task failed');
    await this.store.errors
      .append({
        id: randomUUID(),
        time: now(),
        userId: task.createdBy,
        projectId: task.projectId,
        requestId: null,
        component: 'task',
        message: `task ${task.id} (${task.kind}) failed: ${message}`,
        detail: expected ? '' : error instanceof Error ? (error.stack ?? error.message) : String(error),
      })
      .catch((e: unknown) => this.deps.logger.error({ err: e }, 'could not write the error log'));
  }
}

function outputName(hosted: HostedCluster, binding: { group: number; iface: number }): string {
  return hosted.cluster.state.outputs[binding.group]!.interfaces[binding.iface]!.name;
}

/** Errors that bad data or a bad mapping cause: their message is the whole story. */
function isInputError(error: unknown): boolean {
  return error instanceof BindError || error instanceof DatasetFormatError || error instanceof CheckpointError || error instanceof BackendUnavailableError || error instanceof NotFoundError;
}

function describeFailure(error: unknown): string {
  if (isInputError(error)) return (error as Error).message;
  return `internal error: ${error instanceof Error ? error.message : String(error)}`;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
