/**
 * The task runtime: clusters in memory, one FIFO queue per cluster, and which clusters this
 * process may hold in memory (cluster leases in the store).
 *
 * - **Ownership.** Several service processes may share one store. A cluster is hosted (loaded
 *   and worked on) by at most one live process at a time: the one holding its lease
 *   (`ClusterRecord.owner`, until `leaseUntil`). The runtime claims a cluster before it loads
 *   it or runs anything on it, renews the leases of the clusters it holds every `renewMs`,
 *   releases a cluster that has been idle for `idleMs` (saving what direct I/O changed) and
 *   every lease on shutdown. A lease that cannot be renewed is lost: the in-memory copy is
 *   dropped (the next claim reloads what the other owner saved) and a task running on it
 *   stops. Every write of a cluster's state is fenced by the lease (`updateIfOwner`).
 * - **Tasks run on the cluster's owner.** A task is stored `queued` by whichever process took
 *   the request; that process queues it when it holds or can claim the cluster. Every
 *   `pollMs` each process reads the queued and running tasks from the store and takes over
 *   what it may: queued tasks of clusters it holds or can claim, running tasks whose runner's
 *   lease ran out (they failed: "interrupted"), and cancel requests for the tasks it runs.
 *   Moving a task out of `queued` or `running` is a compare-and-set in the store, so a task
 *   runs at most once however many processes see it.
 * - **Each cluster runs one thing at a time** through its serial queue: tasks in creation
 *   order, and the exclusive operations of direct I/O (`withCluster`). Different clusters run
 *   side by side; the backend's worker pool interleaves their work fairly.
 * - Task records are the durable truth: queued → running → finished | failed | cancelled,
 *   with progress written at most every `progressIntervalMs`.
 * - After a train task (finished or cancelled) the cluster's state is checkpointed into a
 *   blob and the cluster record points at it, so a restart resumes from there. A task that
 *   fails keeps nothing of its partial work: the cluster is reloaded from its last state.
 * - At start (`recover`), the leases this instance held in an earlier life (same instance id,
 *   or a dead process of this host) are released; tasks found running on clusters it can then
 *   claim were interrupted and are marked failed; queued tasks of those clusters are queued.
 *   Clusters another live process holds are left alone.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { JobCancelled } from '../../cpu-fallback/pool.js';
import type { Backend } from '../network/backend.js';
import { BindError, type BindOptions } from '../network/cluster.js';
import { CheckpointError } from '../network/checkpoint.js';
import { score } from '../network/evaluate.js';
import { parseTemplate } from '../network/template.js';
import { BackendUnavailableError } from '../network/select-backend.js';
import { DatasetFormatError, type Dataset } from '../datasets/types.js';
import { defaultInstanceId } from '../config.js';
import {
  NotFoundError,
  type ClusterRecord,
  type OutputLayout,
  type RequestResult,
  type RequestTaskRecord,
  type Store,
  type TaskKind,
  type TaskParams,
  type TaskRecord,
  type TaskResult,
  type TaskState,
  type TrainResult,
  type TrainTaskRecord,
} from '../store/types.js';
import type { BackendSet } from './backends.js';
import type { DatasetCache } from './dataset-loader.js';
import { readSavedInterfaces } from './checkpoint-head.js';
import { HostedCluster } from './hosted-cluster.js';
import { sizesOfState, sizesOfTemplate, type InterfaceSizes } from './interface-fit.js';
import { bindOptions } from './params.js';
import { encodeOutputs } from './results.js';
import { ProgressWriter } from './progress-writer.js';
import { SerialQueue } from './serial-queue.js';
import { ClusterBusyError, ClusterHostedElsewhereError, INTERRUPTED_BY_RESTART, interruptedElsewhere, LeaseLostError, RuntimeStoppingError } from './errors.js';

export { ClusterBusyError, ClusterHostedElsewhereError, INTERRUPTED_BY_RESTART, interruptedElsewhere, RuntimeStoppingError } from './errors.js';

/** What the runtime reports (prom-client metrics implement it). */
export interface RuntimeObserver {
  taskEnded(kind: TaskKind, state: TaskState): void;
  samplesProcessed(kind: TaskKind, samples: number, seconds: number): void;
}

interface RunningTask {
  taskId: string;
  kind: TaskKind;
  /** Set once the task holds the loaded cluster: runs the interludes waiting (see
   *  `interlude`). `now`: the task only reads the network (a request task on a non-spiking
   *  network), so an interlude may run at once; otherwise at the next slice boundary. */
  interludes?: { now: boolean; drain: () => Promise<void> | undefined } | undefined;
  abort: AbortController;
  /** Why it is being stopped (user cancel or shutdown); shown on the task. */
  stopReason?: string;
  /** Stopped because the lease was lost: nothing may be saved, the task fails. */
  leaseLost?: string;
  finished: Promise<void>;
}

interface ClusterSlot {
  projectId: string;
  clusterId: string;
  /** Tasks and direct I/O, one at a time. */
  serial: SerialQueue;
  /** Writes of the cluster record (state saves, PATCH/DELETE): never two at once. */
  recordLock: SerialQueue;
  hosted?: Promise<HostedCluster> | undefined;
  /** Tasks waiting in this cluster's queue (they run oldest first). */
  queued: Map<string, { createdAt: string; enqueuedAt: number }>;
  running?: RunningTask | undefined;
  /** Statistics of the state in memory (for metrics), when known. */
  stats?: Record<string, number> | undefined;
  /** Until when (this process's clock) it holds the lease; undefined: not held. */
  heldUntil?: number | undefined;
  /** A claim in flight (concurrent callers share it). */
  acquiring?: Promise<void> | undefined;
  /** Direct-I/O and management operations queued or running on it. */
  pending: number;
  /** When work on it last ended (idle release). */
  lastUsed: number;
  /** The state in memory differs from the saved one (direct I/O trained it). */
  dirty: boolean;
  /** The cluster record as last read while holding the lease (direct I/O reads it per call;
   *  only this process changes it meanwhile, and every change here drops it). */
  record?: ClusterRecord | undefined;
  /** Bumped by every change of the record through this process (a read started before a
   *  change is not cached). */
  recordVersion: number;
  /** Short reads of the network waiting for a consistent moment (`interlude`). */
  interludes: Interlude[];
}

/** Work that reads a cluster's network (predictions) between two slices of its tasks. */
interface Interlude {
  /** Runs the work; settles the caller's promise either way. */
  run: (hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext) => Promise<void>;
  fail: (error: unknown) => void;
}

/** Where an interlude runs: `inTask` while a task holds the cluster (its backend is busy with
 *  the task's job, so the work must run in this thread and not ask the backend). */
export interface InterludeContext {
  inTask: boolean;
}

/** Lease and polling timings (docs/configuration.md). */
export interface OwnershipSettings {
  /** HANAMI_INSTANCE_ID: unique among the live processes sharing the store. */
  instanceId: string;
  leaseMs: number;
  renewMs: number;
  idleMs: number;
  pollMs: number;
}

export interface RuntimeDeps {
  store: Store;
  backends: BackendSet;
  datasets: DatasetCache;
  logger: Logger;
  observer?: RuntimeObserver;
  progressIntervalMs?: number;
  ownership?: Partial<OwnershipSettings>;
}

const now = (): string => new Date().toISOString();
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Whether a lease owner is a process of this host that is gone: `<hostname>-<pid>` (the
 * default instance id) of this hostname whose pid is not alive, or is ours (an earlier life
 * of this pid, e.g. after a container restart). Its leases need not run out.
 */
export function isDeadLocalInstance(owner: string): boolean {
  const match = /^(.+)-(\d+)$/.exec(owner);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** How long a cancel through another instance waits for the task to stop. */
const CANCEL_WAIT_FLOOR_MS = 10_000;

export class TaskRuntime {
  private readonly slots = new Map<string, ClusterSlot>();
  private stopping = false;
  /** After stop(): the leases are released, nothing renews them any more. */
  private stopped = false;
  private readonly store: Store;
  private readonly progressIntervalMs: number;
  private readonly ownership: OwnershipSettings;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Background rounds (renewal, poll) in flight; stop() waits for them. */
  private readonly rounds = new Set<Promise<unknown>>();
  /** Interrupted tasks this process has marked failed (recover() reports its share). */
  private interrupted = 0;
  /** Tasks that were queued at the last poll. */
  private seenQueued = new Set<string>();

  constructor(private readonly deps: RuntimeDeps) {
    this.store = deps.store;
    this.progressIntervalMs = deps.progressIntervalMs ?? 250;
    this.ownership = { instanceId: defaultInstanceId(), leaseMs: 30_000, renewMs: 10_000, idleMs: 60_000, pollMs: 2_000, ...deps.ownership };
  }

  /** This process's name in leases and on the tasks it runs. */
  get instanceId(): string {
    return this.ownership.instanceId;
  }

  // ---------------------------------------------------------------------------------------
  // Start and stop

  /**
   * Start-up: releases the leases this instance held in an earlier life, fails the tasks
   * that were running on clusters it can now claim, queues the queued tasks of those
   * clusters, then keeps renewing leases and polling the store until `stop()`.
   */
  async recover(): Promise<{ failed: number; requeued: number }> {
    for (const c of await this.store.clusters.listLeased()) {
      if (c.owner !== null && (c.owner === this.instanceId || isDeadLocalInstance(c.owner))) await this.store.clusters.release(c.projectId, c.id, c.owner);
    }
    const recovered = await this.poll(true);
    this.every(this.ownership.renewMs, () => this.stopped, () => this.renewLeases());
    this.every(this.ownership.pollMs, () => this.stopping, () => this.poll(false));
    return recovered;
  }

  /**
   * Stops taking work: waits up to `graceMs` for running tasks, then cancels them at their
   * next slice (train tasks keep and save what they learned). Queued tasks stay queued in
   * the store and run after the next start (or on another instance). Saves what direct I/O
   * changed and releases every lease.
   */
  async stop(graceMs: number): Promise<void> {
    // No more polls (so nothing new is taken); the leases are still renewed meanwhile, so
    // a task stopped by the shutdown can still save what it learned.
    this.stopping = true;
    await Promise.allSettled([...this.rounds]);
    const running = [...this.slots.values()].flatMap((s) => (s.running ? [s.running] : []));
    const all = Promise.all(running.map((r) => r.finished));
    if (await timedOut(all, graceMs)) {
      for (const r of running) {
        r.stopReason = 'stopped by a service shutdown; the cluster keeps what this task learned so far';
        r.abort.abort();
      }
      await all;
    }
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (slot.heldUntil === undefined) return;
        // Direct I/O queued before the stop may still be running: give it the grace time.
        if (await timedOut(slot.serial.run(() => this.releaseSlot(slot, true)), graceMs)) await this.releaseSlot(slot, false);
      }),
    );
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.allSettled([...this.rounds]);
  }

  // ---------------------------------------------------------------------------------------
  // Tasks

  /** Queues a task that is stored in state `queued`: here when this process holds or can
   *  claim its cluster; otherwise the cluster's owner picks it up from the store. */
  submit(task: TaskRecord): void {
    if (this.stopping) throw new RuntimeStoppingError();
    const slot = this.slot(task.projectId, task.clusterId);
    if (this.holds(slot)) {
      this.enqueue(slot, task);
      return;
    }
    this.acquire(slot).then(
      () => this.enqueue(slot, task),
      (error: unknown) => {
        if (!(error instanceof ClusterHostedElsewhereError) && !(error instanceof NotFoundError)) this.deps.logger.warn({ err: error, taskId: task.id }, 'could not claim the cluster of a new task; the next poll tries again');
      },
    );
  }

  /** Cancels a queued or running task (wherever it runs) and returns its record, ended
   *  unless another instance runs it and has not stopped it yet. */
  async cancel(task: TaskRecord, by: string): Promise<TaskRecord> {
    const { projectId, id } = task;
    const slot = this.slots.get(task.clusterId);
    const dequeued = await this.store.tasks.updateIf(projectId, id, { states: ['queued'] }, { state: 'cancelled', error: `cancelled by ${by} while queued`, finishedAt: now() });
    if (dequeued) {
      slot?.queued.delete(id);
      this.deps.observer?.taskEnded(dequeued.kind, 'cancelled');
      return dequeued;
    }
    if (slot?.running?.taskId === id) {
      const running = slot.running;
      running.stopReason ??= `cancelled by ${by}`;
      running.abort.abort();
      await running.finished;
      return this.store.tasks.get(projectId, id);
    }
    const current = await this.store.tasks.get(projectId, id);
    if (current.state !== 'running') return current;
    // Another instance runs it: leave it a request (its next poll stops the task), and wait.
    await this.store.tasks.requestCancel(projectId, id, by);
    const deadline = Date.now() + Math.max(CANCEL_WAIT_FLOOR_MS, 3 * this.ownership.pollMs);
    for (;;) {
      const latest = await this.store.tasks.get(projectId, id);
      if (latest.state !== 'running' || Date.now() > deadline) return latest;
      await delay(100);
    }
  }

  /** Queued task count and running task of a cluster, in this process. */
  activity(clusterId: string): { queued: number; runningTaskId: string | null } {
    const slot = this.slots.get(clusterId);
    return { queued: slot?.queued.size ?? 0, runningTaskId: slot?.running?.taskId ?? null };
  }

  /** Whether this process has queued or running tasks on the cluster. */
  isClusterBusy(clusterId: string): boolean {
    const a = this.activity(clusterId);
    return a.queued > 0 || a.runningTaskId !== null;
  }

  /** Queued task count and running task of each cluster, wherever they run (the store). */
  async clusterActivity(clusters: readonly { projectId: string; id: string }[]): Promise<Map<string, { queued: number; runningTaskId: string | null }>> {
    const out = new Map(clusters.map((c) => [c.id, { queued: 0, runningTaskId: null as string | null }]));
    if (clusters.length === 0) return out;
    const projectOf = new Map(clusters.map((c) => [c.id, c.projectId]));
    const only = clusters.length === 1 ? { projectId: clusters[0]!.projectId, clusterId: clusters[0]!.id } : undefined;
    for (const task of await this.store.tasks.listByState(['queued', 'running'], only)) {
      const entry = out.get(task.clusterId);
      if (!entry || projectOf.get(task.clusterId) !== task.projectId) continue;
      if (task.state === 'queued') entry.queued++;
      else entry.runningTaskId ??= task.id;
    }
    return out;
  }

  /** Whether the cluster has queued or running tasks, here or on another instance. */
  async isClusterBusyAnywhere(projectId: string, clusterId: string): Promise<boolean> {
    if (this.isClusterBusy(clusterId)) return true;
    return (await this.store.tasks.listByState(['queued', 'running'], { projectId, clusterId })).length > 0;
  }

  /** Whether a queued or running task (on any instance) reads this dataset. */
  async isDatasetInUse(projectId: string, datasetId: string): Promise<boolean> {
    const active = await this.store.tasks.listByState(['queued', 'running']);
    return active.some((t) => t.projectId === projectId && t.params.datasetId === datasetId);
  }

  /** Tasks queued or running in this process, over all clusters (metrics). */
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

  /**
   * The sizes of a cluster's interfaces as its state is now (before its queued tasks run),
   * for checks before a task is queued: from the network in memory when this process hosts
   * it, else from the header of its saved state (never loading the network for this), else
   * (never trained or saved) from its template.
   */
  async interfaceSizes(record: ClusterRecord): Promise<InterfaceSizes> {
    const slot = this.slots.get(record.id);
    if (slot?.hosted && this.holds(slot)) {
      const hosted = await slot.hosted.catch(() => undefined);
      if (hosted) return sizesOfState(hosted.cluster.state, hosted.cluster.stats().samplesTrained > 0);
    }
    if (record.stateBlobId) return { ...(await readSavedInterfaces(this.store, record.stateBlobId)), learned: (record.stats.samplesTrained ?? 0) > 0 };
    return sizesOfTemplate(parseTemplate(record.templateText));
  }

  // ---------------------------------------------------------------------------------------
  // Clusters

  /**
   * Changes a cluster record with the cluster held by this process (claimed for the call
   * when nobody holds it; ClusterHostedElsewhereError when another instance does), never at
   * the same time as a save of its state. Does not wait for the cluster's tasks. With
   * `handOff`, a cluster left idle is released at once (e.g. for direct I/O elsewhere).
   */
  async manage<T>(projectId: string, clusterId: string, work: (record: ClusterRecord) => Promise<T>, options: { handOff?: boolean } = {}): Promise<T> {
    if (this.stopping) throw new RuntimeStoppingError();
    const slot = this.slot(projectId, clusterId);
    const held = this.holds(slot);
    slot.pending++;
    try {
      await this.acquire(slot);
      return await slot.recordLock.run(async () => {
        slot.recordVersion++;
        slot.record = undefined;
        try {
          return await work(await this.store.clusters.get(projectId, clusterId));
        } finally {
          slot.recordVersion++;
          slot.record = undefined;
        }
      });
    } finally {
      slot.pending--;
      slot.lastUsed = Date.now();
      if (!held || options.handOff) this.releaseWhenIdle(slot, 0);
    }
  }

  /** Replaces a cluster's state by checkpoint bytes (restore into an existing cluster). */
  async replaceState(record: ClusterRecord, bytes: Buffer): Promise<ClusterRecord> {
    if (await this.isClusterBusyAnywhere(record.projectId, record.id)) throw new ClusterBusyError(`cluster ${record.id} has queued or running tasks; cancel them or wait before restoring into it`);
    const slot = this.slot(record.projectId, record.id);
    return this.occupy(slot, async () => {
      await this.acquire(slot);
      const hosted = HostedCluster.fromCheckpoint(bytes);
      const saved = await this.persist(slot, hosted, { ...record, templateText: hosted.cluster.templateText });
      slot.hosted = Promise.resolve(hosted);
      return saved;
    });
  }

  /** Drops a deleted cluster from memory (and gives its lease up). */
  forget(clusterId: string): void {
    const slot = this.slots.get(clusterId);
    this.slots.delete(clusterId);
    if (slot?.heldUntil === undefined) return;
    this.unhost(slot);
    this.store.clusters.release(slot.projectId, slot.clusterId, this.instanceId).catch((e: unknown) => this.deps.logger.warn({ err: e, clusterId }, 'could not release the lease of a forgotten cluster'));
  }

  // ---------------------------------------------------------------------------------------
  // Direct I/O (used by the Socket.IO layer; see docs/architecture.md)

  /**
   * Runs `work` with exclusive use of the cluster, after everything queued on it before.
   * `work` may train or predict through `backend`; it must not keep the cluster after it
   * returns. Call `saveCluster` to persist what direct training changed (an idle cluster is
   * also saved before it is released). Rejects with ClusterHostedElsewhereError when another
   * live instance hosts the cluster.
   */
  withCluster<T>(projectId: string, clusterId: string, work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord) => Promise<T>): Promise<T> {
    return this.exclusive(projectId, clusterId, () => true, work);
  }

  /** Trains the cluster on every row of `data` (e.g. one sample from a socket), in memory. */
  trainDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<void> {
    return this.exclusive(
      projectId,
      clusterId,
      () => true,
      async (hosted, backend) => {
        const bound = hosted.cluster.bind(data, { ...bind, readOnly: false });
        if (data.targets && bound.outputMap.length > 0) hosted.learnLabels(outputName(hosted, bound.outputMap[0]!), data.targets);
        await backend.train(hosted.cluster, bound, {});
        const slot = this.slots.get(clusterId);
        if (slot?.hosted) slot.stats = { ...hosted.cluster.stats() };
      },
    );
  }

  /** Forward pass over every row of `data`: rows × width values and what they mean. */
  predictDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<{ outputs: Float32Array; width: number; layout: OutputLayout[] }> {
    // A spiking network carries potentials from sample to sample: predicting changes it.
    return this.exclusive(
      projectId,
      clusterId,
      (hosted) => hosted.cluster.spiking,
      async (hosted, backend) => {
        const { targets: _ignored, ...inputsOnly } = data;
        const bound = hosted.cluster.bind(inputsOnly, { ...bind, readOnly: true });
        const { outputs } = await backend.predict(hosted.cluster, bound, {});
        return { outputs, width: hosted.width, layout: hosted.outputLayout() };
      },
    );
  }

  /**
   * Runs a short read of the cluster's network (predictions) at the next moment the network is
   * consistent, without waiting for a whole task: at once when nothing runs on the cluster or
   * the running task only reads it; between two slices (CPU) or batches (WebGPU) of a running
   * train task; otherwise after the operation the cluster's queue runs now. Queued tasks do not
   * go first: a task that starts drains the interludes waiting. On a spiking network a
   * prediction changes what the network carries, so it waits for a running task to end.
   */
  interlude<T>(projectId: string, clusterId: string, work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext) => Promise<T> | T): Promise<T> {
    if (this.stopping) return Promise.reject(new RuntimeStoppingError());
    const slot = this.slot(projectId, clusterId);
    return new Promise<T>((resolve, reject) => {
      slot.interludes.push({
        run: async (hosted, backend, record, within) => {
          try {
            if (hosted.cluster.spiking) slot.dirty = true;
            resolve(await work(hosted, backend, record, within));
          } catch (e) {
            reject(e);
          }
        },
        fail: reject,
      });
      const running = slot.running?.interludes;
      if (running) {
        if (running.now) void running.drain();
        return;
      }
      // Nothing holds the cluster (or a task is about to): take a turn in its queue. A task
      // that starts meanwhile drains the list first, and this turn finds it empty.
      this.scheduleInterludes(slot);
    });
  }

  /** Runs the interludes waiting on a cluster, in arrival order. */
  private async drainInterludes(slot: ClusterSlot, hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext): Promise<void> {
    while (slot.interludes.length > 0) {
      const batch = slot.interludes.splice(0);
      for (const waiting of batch) await waiting.run(hosted, backend, record, within);
    }
  }

  /** The hook a running task offers interludes (see RunningTask.interludes). */
  private offerInterludes(slot: ClusterSlot, running: RunningTask, hosted: HostedCluster, backend: Backend, record: ClusterRecord, now: boolean): () => Promise<void> | undefined {
    const drain = (): Promise<void> | undefined => {
      // A spiking network's predictions change it: they wait for the end of the task.
      if (slot.interludes.length === 0 || hosted.cluster.spiking) return undefined;
      return this.drainInterludes(slot, hosted, backend, record, { inTask: true });
    };
    running.interludes = { now, drain };
    return drain;
  }

  /** Persists the in-memory state of a cluster (after direct training). */
  saveCluster(projectId: string, clusterId: string): Promise<ClusterRecord> {
    return this.exclusive(
      projectId,
      clusterId,
      () => false,
      (hosted, _backend, record) => this.persist(this.slot(projectId, clusterId), hosted, record),
    );
  }

  // ---------------------------------------------------------------------------------------
  // Internals: slots and leases

  private slot(projectId: string, clusterId: string): ClusterSlot {
    let slot = this.slots.get(clusterId);
    if (!slot) {
      slot = { projectId, clusterId, serial: new SerialQueue(), recordLock: new SerialQueue(), queued: new Map(), pending: 0, lastUsed: Date.now(), dirty: false, recordVersion: 0, interludes: [] };
      this.slots.set(clusterId, slot);
    }
    return slot;
  }

  /** Runs `work` in the cluster's queue, counted as pending work (no idle release meanwhile). */
  private occupy<T>(slot: ClusterSlot, work: () => Promise<T>): Promise<T> {
    slot.pending++;
    return slot.serial.run(work).finally(() => {
      slot.pending--;
      slot.lastUsed = Date.now();
    });
  }

  private exclusive<T>(
    projectId: string,
    clusterId: string,
    changes: (hosted: HostedCluster) => boolean,
    work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord) => Promise<T>,
  ): Promise<T> {
    if (this.stopping) return Promise.reject(new RuntimeStoppingError());
    const slot = this.slot(projectId, clusterId);
    return this.occupy(slot, async () => {
      await this.acquire(slot);
      const record = await this.record(slot);
      const hosted = await this.hosted(slot, record);
      if (changes(hosted)) slot.dirty = true;
      return work(hosted, await this.deps.backends.get(record.backend), record);
    });
  }

  /** The cluster's record: the cached copy while the lease is held, else read from the store. */
  private async record(slot: ClusterSlot): Promise<ClusterRecord> {
    if (slot.record && this.holds(slot)) return slot.record;
    const version = slot.recordVersion;
    const record = await this.store.clusters.get(slot.projectId, slot.clusterId);
    if (version === slot.recordVersion && this.holds(slot)) slot.record = record;
    return record;
  }

  /** Whether this process holds the cluster's lease now (by its own clock). */
  private holds(slot: ClusterSlot): boolean {
    return slot.heldUntil !== undefined && slot.heldUntil > Date.now();
  }

  /** Makes sure this process holds the cluster (ClusterHostedElsewhereError otherwise). */
  private acquire(slot: ClusterSlot): Promise<void> {
    if (this.holds(slot)) return Promise.resolve();
    if (slot.heldUntil !== undefined) this.lost(slot, 'its lease ran out before it could be renewed');
    slot.acquiring ??= this.claim(slot).finally(() => (slot.acquiring = undefined));
    return slot.acquiring;
  }

  private async claim(slot: ClusterSlot): Promise<void> {
    const { projectId, clusterId } = slot;
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      const claimed = await this.store.clusters.claim(projectId, clusterId, this.instanceId, iso(started + this.ownership.leaseMs), iso(started));
      if (claimed) {
        // Whatever was in memory is older than what the store holds now.
        this.unhost(slot);
        slot.heldUntil = started + this.ownership.leaseMs;
        slot.lastUsed = Date.now();
        await this.failInterrupted(slot);
        return;
      }
      const current = await this.store.clusters.get(projectId, clusterId);
      if (current.owner !== null && isDeadLocalInstance(current.owner)) {
        // A process of this host that died: its lease need not run out.
        await this.store.clusters.release(projectId, clusterId, current.owner);
        continue;
      }
      // Released or expired since the claim: try again (a few times).
      const live = current.owner !== null && current.owner !== this.instanceId && current.leaseUntil !== null && Date.parse(current.leaseUntil) > Date.now();
      if (live || attempt >= 2) throw new ClusterHostedElsewhereError(clusterId, current.owner ?? 'unknown', current.leaseUntil ?? now());
    }
  }

  /** Fails the tasks recorded as running on a cluster this process now holds but does not
   *  run them: their runner stopped (or lost its lease). Returns how many. */
  private async failInterrupted(slot: ClusterSlot): Promise<number> {
    let failed = 0;
    for (const task of await this.store.tasks.listByState(['running'], { projectId: slot.projectId, clusterId: slot.clusterId })) {
      if (slot.running?.taskId === task.id) continue;
      const reason = task.runBy === null || task.runBy === this.instanceId ? INTERRUPTED_BY_RESTART : interruptedElsewhere(task.runBy);
      const condition = task.runBy === null ? { states: ['running' as const] } : { states: ['running' as const], runBy: task.runBy };
      const ended = await this.store.tasks.updateIf(task.projectId, task.id, condition, { state: 'failed', error: reason, finishedAt: now() });
      if (ended) {
        failed++;
        this.interrupted++;
        this.deps.observer?.taskEnded(task.kind, 'failed');
        this.deps.logger.warn({ taskId: task.id, clusterId: slot.clusterId, runBy: task.runBy }, 'marked an interrupted task failed');
      }
    }
    return failed;
  }

  /** Drops the in-memory copy (it may no longer be the cluster's state). */
  private unhost(slot: ClusterSlot): void {
    slot.heldUntil = undefined;
    slot.record = undefined;
    slot.recordVersion++;
    slot.hosted = undefined;
    slot.stats = undefined;
    slot.dirty = false;
  }

  /** The lease is gone (taken over, or ran out): stop using the cluster at once. */
  private lost(slot: ClusterSlot, why: string): void {
    if (slot.heldUntil === undefined) return;
    this.deps.logger.warn({ clusterId: slot.clusterId, why }, 'lost the lease on a cluster; dropping it from memory');
    this.unhost(slot);
    // Queued tasks stay queued in the store: whoever holds the cluster next runs them.
    slot.queued.clear();
    const running = slot.running;
    if (running) {
      running.leaseLost = why;
      running.abort.abort();
    }
  }

  /** Gives the lease up, after saving what direct I/O changed (when `save`). */
  private async releaseSlot(slot: ClusterSlot, save: boolean): Promise<void> {
    if (slot.heldUntil === undefined) return;
    if (save && slot.dirty && slot.hosted) {
      try {
        const hosted = await slot.hosted;
        await this.persist(slot, hosted, await this.store.clusters.get(slot.projectId, slot.clusterId));
      } catch (e) {
        this.deps.logger.error({ err: e, clusterId: slot.clusterId }, 'could not save a cluster before releasing it; what direct I/O taught it since its last save is lost');
      }
    }
    if (slot.heldUntil === undefined) return;
    this.unhost(slot);
    await this.store.clusters.release(slot.projectId, slot.clusterId, this.instanceId).catch((e: unknown) => this.deps.logger.warn({ err: e, clusterId: slot.clusterId }, 'could not release a cluster lease; it runs out by itself'));
  }

  private isIdle(slot: ClusterSlot): boolean {
    return slot.queued.size === 0 && !slot.running && slot.pending === 0 && slot.acquiring === undefined;
  }

  /** Releases the cluster once everything queued on it has run, if it stays idle and has
   *  been for `idleMs`. */
  private releaseWhenIdle(slot: ClusterSlot, idleMs: number): void {
    void slot.serial
      .run(async () => {
        if (this.isIdle(slot) && Date.now() - slot.lastUsed >= idleMs) await this.releaseSlot(slot, true);
      })
      .catch((e: unknown) => this.deps.logger.warn({ err: e, clusterId: slot.clusterId }, 'could not release an idle cluster'));
  }

  /** One renewal round: extends every lease held; drops those that are gone; releases idle
   *  clusters. */
  private async renewLeases(): Promise<void> {
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (slot.heldUntil === undefined) return;
        const started = Date.now();
        try {
          if (await this.store.clusters.renew(slot.projectId, slot.clusterId, this.instanceId, iso(started + this.ownership.leaseMs))) {
            if (slot.heldUntil !== undefined) slot.heldUntil = started + this.ownership.leaseMs;
          } else {
            this.lost(slot, 'another instance holds it now, or it was deleted');
          }
        } catch (e) {
          this.deps.logger.warn({ err: e, clusterId: slot.clusterId }, 'could not renew a cluster lease');
          if (slot.heldUntil !== undefined && Date.now() >= slot.heldUntil) this.lost(slot, 'its lease ran out while the store could not be reached');
        }
      }),
    );
    for (const slot of this.slots.values()) {
      if (slot.heldUntil !== undefined && this.isIdle(slot) && Date.now() - slot.lastUsed >= this.ownership.idleMs) this.releaseWhenIdle(slot, this.ownership.idleMs);
    }
  }

  /**
   * One poll of the store: stops the tasks running here that someone asked to cancel through
   * another instance; takes over clusters with queued tasks or interrupted running tasks when
   * it holds or can claim them; queues their queued tasks. Returns what it failed and queued.
   *
   * A new task of a cluster nobody hosts is left to the instance that took the request (it
   * claims the cluster at once) until the next poll: only tasks already queued at the
   * previous poll make this process claim the cluster (`adoptAll`: any, at start-up).
   */
  private async poll(adoptAll: boolean): Promise<{ failed: number; requeued: number }> {
    const interruptedBefore = this.interrupted;
    const started = Date.now();
    let requeued = 0;
    if (this.stopping) return { failed: 0, requeued };
    for (const slot of this.slots.values()) {
      const running = slot.running;
      if (!running || running.abort.signal.aborted) continue;
      const by = await this.store.tasks.cancelRequestOf(slot.projectId, running.taskId);
      if (by !== null && slot.running === running) {
        running.stopReason ??= `cancelled by ${by}`;
        running.abort.abort();
      }
    }
    const byCluster = new Map<string, { projectId: string; queued: TaskRecord[]; running: TaskRecord[] }>();
    const seenBefore = this.seenQueued;
    const active = await this.store.tasks.listByState(['queued', 'running']);
    this.seenQueued = new Set(active.filter((t) => t.state === 'queued').map((t) => t.id));
    for (const task of active) {
      let group = byCluster.get(task.clusterId);
      if (!group) byCluster.set(task.clusterId, (group = { projectId: task.projectId, queued: [], running: [] }));
      (task.state === 'queued' ? group.queued : group.running).push(task);
    }
    // Tasks queued here that the store no longer has queued (cancelled through another
    // instance); those queued after the list was read are not in it yet.
    for (const slot of this.slots.values()) {
      const stillQueued = new Set((byCluster.get(slot.clusterId)?.queued ?? []).map((t) => t.id));
      for (const [id, entry] of slot.queued) if (!stillQueued.has(id) && entry.enqueuedAt < started) slot.queued.delete(id);
    }
    for (const [clusterId, group] of byCluster) {
      if (this.stopping) break;
      const known = this.slots.get(clusterId);
      const strangers = group.running.filter((t) => known?.running?.taskId !== t.id);
      const waiting = group.queued.filter((t) => !known?.queued.has(t.id) && known?.running?.taskId !== t.id);
      if (strangers.length === 0 && waiting.length === 0) continue;
      const slot = this.slot(group.projectId, clusterId);
      const held = this.holds(slot);
      if (!held && strangers.length === 0 && !adoptAll && !waiting.some((t) => seenBefore.has(t.id))) continue;
      try {
        // Recorded as running by this process or an earlier owner whose last write came
        // late (when held), or by an owner whose lease ran out (failed by the claim).
        if (!held) await this.acquire(slot);
        else if (strangers.length > 0) await this.failInterrupted(slot);
      } catch (e) {
        if (!(e instanceof ClusterHostedElsewhereError) && !(e instanceof NotFoundError)) this.deps.logger.warn({ err: e, clusterId }, 'poll: could not take a cluster over');
        continue;
      }
      for (const task of waiting) {
        if (this.enqueue(slot, task)) requeued++;
      }
      if (!held && waiting.length === 0) this.releaseWhenIdle(slot, 0);
    }
    return { failed: this.interrupted - interruptedBefore, requeued };
  }

  // ---------------------------------------------------------------------------------------
  // Internals: running tasks

  /** Adds a queued task to the cluster's queue (once); true when it was added. */
  private enqueue(slot: ClusterSlot, task: TaskRecord): boolean {
    if (this.stopping || slot.queued.has(task.id) || slot.running?.taskId === task.id) return false;
    slot.queued.set(task.id, { createdAt: task.createdAt, enqueuedAt: Date.now() });
    slot.serial.run(() => this.execute(slot)).catch((e: unknown) => this.deps.logger.error({ err: e, clusterId: slot.clusterId }, 'a task could not be started; it stays queued'));
    return true;
  }

  private hosted(slot: ClusterSlot, record: ClusterRecord): Promise<HostedCluster> {
    if (!slot.hosted) {
      const loading = (async () =>
        record.stateBlobId ? HostedCluster.fromCheckpoint(await this.store.blobs.read(record.stateBlobId)) : HostedCluster.fresh(record.templateText, record.seed))();
      slot.hosted = loading;
      loading.then(
        (hosted) => {
          // Unless the copy was dropped meanwhile (lease lost).
          if (slot.hosted === loading) slot.stats = { ...hosted.cluster.stats() };
        },
        () => {
          if (slot.hosted === loading) slot.hosted = undefined;
        },
      );
    }
    return slot.hosted;
  }

  /**
   * Checkpoints the cluster into a new blob and points the record at it (only while this
   * process holds the lease: LeaseLostError otherwise), then drops the old blob.
   */
  private persist(slot: ClusterSlot, hosted: HostedCluster, record: ClusterRecord): Promise<ClusterRecord> {
    const { projectId, clusterId } = slot;
    return slot.recordLock.run(async () => {
      slot.recordVersion++;
      slot.record = undefined;
      if (!this.holds(slot)) throw new LeaseLostError(clusterId, 'its lease ran out');
      const blob = await this.store.blobs.put(hosted.checkpoint(record.name));
      const stats = { ...hosted.cluster.stats() };
      const before = await this.store.clusters.get(projectId, clusterId);
      const updated = await this.store.clusters.updateIfOwner(projectId, clusterId, this.instanceId, { stateBlobId: blob.id, stats, templateText: record.templateText, updatedAt: now() });
      if (!updated) {
        await this.store.blobs.delete(blob.id).catch(() => undefined);
        this.lost(slot, 'another instance took it over');
        throw new LeaseLostError(clusterId, 'another instance took it over');
      }
      if (slot.hosted) slot.stats = stats;
      slot.dirty = false;
      slot.recordVersion++;
      if (before.stateBlobId && before.stateBlobId !== blob.id) {
        await this.store.blobs.delete(before.stateBlobId).catch((e: unknown) => this.deps.logger.warn({ err: e }, 'could not delete an old cluster state blob'));
      }
      return updated;
    });
  }

  private async execute(slot: ClusterSlot): Promise<void> {
    // Cancelled tasks are gone from the map; while stopping, tasks stay queued for the next start.
    if (slot.queued.size === 0 || this.stopping) return;
    try {
      await this.acquire(slot);
      // Tasks submitted through other instances may be older than those queued here: the
      // cluster's tasks run in creation order, wherever they were submitted.
      for (const task of await this.store.tasks.listByState(['queued'], { projectId: slot.projectId, clusterId: slot.clusterId })) this.enqueue(slot, task);
    } catch (error) {
      // Another instance holds the cluster now: it runs the queue (the tasks stay queued).
      if (error instanceof ClusterHostedElsewhereError) {
        slot.queued.clear();
        return;
      }
      if (error instanceof NotFoundError) return;
      throw error;
    }
    let taskId: string | undefined;
    let createdAt = '';
    for (const [id, entry] of slot.queued) {
      if (taskId === undefined || entry.createdAt < createdAt || (entry.createdAt === createdAt && id < taskId)) [taskId, createdAt] = [id, entry.createdAt];
    }
    if (taskId === undefined || this.stopping) return;
    slot.queued.delete(taskId);
    let settle = (): void => {};
    let task: TaskRecord | null = null;
    const running: RunningTask = { taskId, kind: 'train', abort: new AbortController(), finished: new Promise<void>((resolve) => (settle = resolve)) };
    slot.running = running;
    try {
      // Exactly once: only one instance moves the task out of `queued`.
      task = await this.store.tasks.updateIf(slot.projectId, taskId, { states: ['queued'] }, { state: 'running', startedAt: now(), runBy: this.instanceId });
      if (task) {
        running.kind = task.kind;
        await this.run(slot, task, running);
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    } finally {
      slot.running = undefined;
      slot.lastUsed = Date.now();
      settle();
      // Interludes that waited for the end of the task (spiking networks, or the task ended
      // before its first slice) take the next turn of the queue.
      if (slot.interludes.length > 0) this.scheduleInterludes(slot);
    }
  }

  /** Gives the interludes waiting a turn in the cluster's queue. */
  private scheduleInterludes(slot: ClusterSlot): void {
    this.occupy(slot, async () => {
      if (slot.interludes.length === 0) return;
      await this.acquire(slot);
      const record = await this.record(slot);
      const hosted = await this.hosted(slot, record);
      await this.drainInterludes(slot, hosted, await this.deps.backends.get(record.backend), record, { inTask: false });
    }).catch((e: unknown) => {
      for (const waiting of slot.interludes.splice(0)) waiting.fail(e);
    });
  }

  private async run(slot: ClusterSlot, task: TaskRecord, running: RunningTask): Promise<void> {
    const { projectId, id } = task;
    const mine = { states: ['running' as const], runBy: this.instanceId };
    const progress = new ProgressWriter((done, total) => this.store.tasks.updateIf(projectId, id, mine, { progress: { done, total } }), this.progressIntervalMs);
    try {
      const outcome: { samples: number; seconds: number; result: TaskResult; resultBlobId: string | null } =
        task.kind === 'train' ? await this.train(slot, task, running, progress) : await this.request(slot, task, running, progress);
      await progress.flush();
      const ended = await this.store.tasks.updateIf(projectId, id, mine, {
        state: 'finished',
        progress: { done: outcome.samples, total: outcome.samples },
        result: outcome.result,
        resultBlobId: outcome.resultBlobId,
        finishedAt: now(),
      });
      if (!ended) {
        this.deps.logger.warn({ taskId: id }, 'a task finished after another instance had ended it; its result is dropped');
        if (outcome.resultBlobId) await this.store.blobs.delete(outcome.resultBlobId).catch(() => undefined);
        return;
      }
      this.deps.observer?.taskEnded(task.kind, 'finished');
      this.deps.observer?.samplesProcessed(task.kind, outcome.samples, outcome.seconds);
    } catch (error) {
      await progress.flush();
      const leaseLost = running.leaseLost ?? (error instanceof LeaseLostError ? error.message : undefined);
      const cancelled = leaseLost === undefined && (error instanceof JobCancelled || running.abort.signal.aborted);
      const state: TaskState = cancelled ? 'cancelled' : 'failed';
      const message = leaseLost !== undefined ? new LeaseLostError(slot.clusterId, leaseLost).message : cancelled ? (running.stopReason ?? 'cancelled') : describeFailure(error);
      if (!cancelled && leaseLost === undefined) await this.reportFailure(task, error, message);
      const ended = await this.store.tasks
        .updateIf(projectId, id, mine, { state, error: message, finishedAt: now() })
        .catch((e: unknown) => this.deps.logger.error({ err: e, taskId: id }, 'could not record the end of a task'));
      if (ended) this.deps.observer?.taskEnded(task.kind, state);
    }
  }

  private async loadData(task: TaskRecord, params: TaskParams): Promise<Dataset> {
    const record = await this.store.datasets.get(task.projectId, params.datasetId);
    if (record.status !== 'ready') throw new BindError(`dataset ${record.id} is not ready (status ${record.status})`);
    return this.deps.datasets.get(record);
  }

  private async train(
    slot: ClusterSlot,
    task: TrainTaskRecord,
    running: RunningTask,
    progress: ProgressWriter,
  ): Promise<{ samples: number; seconds: number; result: TrainResult; resultBlobId: null }> {
    const params = task.params;
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
      const between = this.offerInterludes(slot, running, hosted, backend, record, false);
      // Predictions that arrived while the task started answer from the network as it is.
      await between();
      await backend.train(hosted.cluster, bound, { epochs: params.epochs, onProgress: progress.report, signal: running.abort.signal, between });
      running.interludes = undefined;
      await between();
    } catch (error) {
      if (error instanceof JobCancelled && running.leaseLost === undefined) {
        // The slice in flight when the cancel came still completes (and stays learned)
        // without a progress report: count what the network really learned.
        progress.report(hosted.cluster.stats().samplesTrained - trainedBefore, data.rows * params.epochs);
        await this.persist(slot, hosted, record);
      }
      // Anything else may have left the network half-changed: reload its last saved state.
      else if (slot.hosted && (await slot.hosted.catch(() => undefined)) === hosted) slot.hosted = undefined;
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
    task: RequestTaskRecord,
    running: RunningTask,
    progress: ProgressWriter,
  ): Promise<{ samples: number; seconds: number; result: RequestResult; resultBlobId: string }> {
    const params = task.params;
    const record = await this.store.clusters.get(task.projectId, task.clusterId);
    const data = await this.loadData(task, params);
    const hosted = await this.hosted(slot, record);
    const backend = await this.deps.backends.get(record.backend);
    const started = performance.now();
    const bound = hosted.cluster.bind(data, bindOptions(params, true));
    // A request task only reads a non-spiking network: predictions need not wait for it.
    const between = this.offerInterludes(slot, running, hosted, backend, record, !hosted.cluster.spiking);
    await between();
    const { outputs } = await backend.predict(hosted.cluster, bound, { onProgress: progress.report, signal: running.abort.signal });
    running.interludes = undefined;
    const seconds = (performance.now() - started) / 1000;
    // A spiking network carries potentials from sample to sample: its state changed.
    if (hosted.cluster.spiking) await this.persist(slot, hosted, record);
    const layout = { rows: data.rows, width: hosted.width, outputs: hosted.outputLayout() };
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

  // ---------------------------------------------------------------------------------------
  // Internals: background rounds

  /** Runs `round` every `ms` (each after the previous one ended) until `over()`. */
  private every(ms: number, over: () => boolean, round: () => Promise<unknown>): void {
    const schedule = (): void => {
      if (over()) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const running = round()
          .catch((e: unknown) => this.deps.logger.warn({ err: e }, 'a background round of the task runtime failed; it runs again'))
          .finally(() => {
            this.rounds.delete(running);
            schedule();
          });
        this.rounds.add(running);
      }, ms);
      timer.unref();
      this.timers.add(timer);
    };
    schedule();
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `work` is still running after `ms`. */
async function timedOut(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([work.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))]);
  clearTimeout(timer);
  return result;
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
