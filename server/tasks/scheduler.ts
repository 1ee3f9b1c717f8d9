/**
 * Tasks: which run where and when, and their records. Task records are the durable truth
 * (queued → running → finished | failed | cancelled); this process keeps, per cluster, the
 * tasks queued here and the one running.
 *
 * - A task is stored `queued` by whichever process took the request; that process queues it
 *   when it holds or can claim the cluster (`submit`). Every `pollMs` each process reads the
 *   queued and running tasks from the store and takes over what it may (`poll`): queued tasks
 *   of clusters it holds or can claim, running tasks whose runner's lease ran out (they
 *   failed: "interrupted"), and cancel requests for the tasks it runs. Moving a task out of
 *   `queued` or `running` is a compare-and-set in the store: a task runs at most once.
 * - Each task runs in a turn of its cluster's line (cluster-host.ts), oldest first, through a
 *   runner (runners.ts); the scheduler saves what the runner changed and records the end
 *   (task-end.ts).
 * - At start (`recover`), tasks found running on clusters this process can claim were
 *   interrupted and fail; queued tasks of those clusters are queued. A graceful stop
 *   (`stopTasks`) gives running tasks the grace time, then cancels them at their next slice.
 */
import type { Logger } from 'pino';
import { NotFoundError, type Store, type TaskRecord } from '../store/types.js';
import type { ClusterHost } from './cluster-host.js';
import type { ClusterTurn } from './cluster-slot.js';
import { ClusterHostedElsewhereError, INTERRUPTED_BY_RESTART, interruptedElsewhere, RuntimeStoppingError } from './errors.js';
import type { ClusterRef, LeaseKeeper } from './lease-keeper.js';
import { MetricRecorder, type MetricSettings } from './metric-recorder.js';
import { ProgressWriter } from './progress-writer.js';
import { encodeOutputs } from './results.js';
import { runTask, type RunnerDeps } from './runners.js';
import { RunningTask, TaskEnd, type RuntimeObserver } from './task-end.js';
import type { TaskEvents } from './task-events.js';
import { delay, timedOut } from './timing.js';

export interface SchedulerDeps extends RunnerDeps {
  host: ClusterHost;
  keeper: LeaseKeeper;
  logger: Logger;
  observer: RuntimeObserver | undefined;
  progressIntervalMs: number;
  /** How often each instance polls the store (a cancel through another instance waits a few polls). */
  pollMs: number;
  /** Task state changes and metric points, published as they are stored. */
  events: TaskEvents;
  metrics: MetricSettings;
}

/** One cluster's tasks in this process. */
interface ClusterTasks {
  projectId: string;
  /** Waiting for a turn (they run oldest first). */
  queued: Map<string, { createdAt: string; enqueuedAt: number }>;
  running: RunningTask | undefined;
}

/** How long a cancel through another instance waits for the task to stop. */
const CANCEL_WAIT_FLOOR_MS = 10_000;

const now = (): string => new Date().toISOString();

export class Scheduler {
  private readonly clusters = new Map<string, ClusterTasks>();
  private stopping = false;
  /** Interrupted tasks this process has marked failed (recover() reports its share). */
  private interrupted = 0;
  /** Tasks that were queued at the last poll. */
  private seenQueued = new Set<string>();
  private readonly end: TaskEnd;

  constructor(private readonly deps: SchedulerDeps) {
    this.end = new TaskEnd(deps.store, deps.keeper.instanceId, deps.logger, deps.observer, deps.events);
  }

  private get store(): Store {
    return this.deps.store;
  }

  /** True from the start of a stop: no new tasks, no polls. */
  get isStopping(): boolean {
    return this.stopping;
  }

  private tasksOf(ref: ClusterRef): ClusterTasks {
    let tasks = this.clusters.get(ref.clusterId);
    if (!tasks) this.clusters.set(ref.clusterId, (tasks = { projectId: ref.projectId, queued: new Map(), running: undefined }));
    return tasks;
  }

  /** Whether this process has queued or running tasks on the cluster. */
  hasWork(clusterId: string): boolean {
    const tasks = this.clusters.get(clusterId);
    return tasks !== undefined && (tasks.queued.size > 0 || tasks.running !== undefined);
  }

  /** Tasks queued or running in this process, over all clusters (metrics). */
  counts(): { queued: number; running: number } {
    let queued = 0;
    let running = 0;
    for (const tasks of this.clusters.values()) {
      queued += tasks.queued.size;
      if (tasks.running) running++;
    }
    return { queued, running };
  }

  /** Queues a task that is stored in state `queued`: here when this process holds or can
   *  claim its cluster; otherwise the cluster's owner picks it up from the store. */
  submit(task: TaskRecord): void {
    if (this.stopping) throw new RuntimeStoppingError();
    this.deps.events.publish({ type: 'state', task });
    const ref = { projectId: task.projectId, clusterId: task.clusterId };
    if (this.deps.keeper.holds(task.clusterId)) {
      this.enqueue(ref, task);
      return;
    }
    this.deps.keeper.claim(ref).then(
      () => this.enqueue(ref, task),
      (error: unknown) => {
        if (!(error instanceof ClusterHostedElsewhereError) && !(error instanceof NotFoundError))
          this.deps.logger.warn({ err: error, taskId: task.id }, 'could not claim the cluster of a new task; the next poll tries again');
      },
    );
  }

  /** Cancels a queued or running task (wherever it runs) and returns its record, ended
   *  unless another instance runs it and has not stopped it yet. */
  async cancel(task: TaskRecord, by: string): Promise<TaskRecord> {
    const { projectId, id } = task;
    const tasks = this.clusters.get(task.clusterId);
    const dequeued = await this.store.tasks.updateIf(projectId, id, { states: ['queued'] }, { state: 'cancelled', error: `cancelled by ${by} while queued`, finishedAt: now() });
    if (dequeued) {
      tasks?.queued.delete(id);
      this.deps.events.publish({ type: 'state', task: dequeued });
      this.deps.observer?.taskEnded(dequeued.kind, 'cancelled');
      return dequeued;
    }
    const running = tasks?.running;
    if (running?.taskId === id) {
      running.stop({ cancel: `cancelled by ${by}` });
      await running.finished;
      return this.store.tasks.get(projectId, id);
    }
    const current = await this.store.tasks.get(projectId, id);
    if (current.state !== 'running') return current;
    // Another instance runs it: leave it a request (its next poll stops the task), and wait.
    await this.store.tasks.requestCancel(projectId, id, by);
    const deadline = Date.now() + Math.max(CANCEL_WAIT_FLOOR_MS, 3 * this.deps.pollMs);
    for (;;) {
      const latest = await this.store.tasks.get(projectId, id);
      if (latest.state !== 'running' || Date.now() > deadline) return latest;
      await delay(100);
    }
  }

  /** Adds a queued task to its cluster's queue (once), with a turn in the cluster's line to
   *  run the oldest; true when it was added. */
  private enqueue(ref: ClusterRef, task: TaskRecord): boolean {
    const tasks = this.tasksOf(ref);
    if (this.stopping || tasks.queued.has(task.id) || tasks.running?.taskId === task.id) return false;
    tasks.queued.set(task.id, { createdAt: task.createdAt, enqueuedAt: Date.now() });
    this.deps.host
      .withCluster(ref, 'task', (turn) => this.runOldest(turn, tasks))
      .catch((e: unknown) => this.deps.logger.error({ err: e, clusterId: ref.clusterId }, 'a task could not be started; it stays queued'));
    return true;
  }

  /** A task turn: claims the cluster and runs its oldest queued task. */
  private async runOldest(turn: ClusterTurn, tasks: ClusterTasks): Promise<void> {
    // Cancelled tasks are gone from the map; while stopping, tasks stay queued for the next start.
    if (tasks.queued.size === 0 || this.stopping) return;
    try {
      await turn.claim();
      // Tasks submitted through other instances may be older than those queued here: the
      // cluster's tasks run in creation order, wherever they were submitted.
      for (const task of await this.store.tasks.listByState(['queued'], turn.ref)) this.enqueue(turn.ref, task);
    } catch (error) {
      // Another instance holds the cluster now: it runs the queue (the tasks stay queued).
      if (error instanceof ClusterHostedElsewhereError) {
        tasks.queued.clear();
        return;
      }
      if (error instanceof NotFoundError) return;
      throw error;
    }
    let taskId: string | undefined;
    let createdAt = '';
    for (const [id, entry] of tasks.queued) {
      if (taskId === undefined || entry.createdAt < createdAt || (entry.createdAt === createdAt && id < taskId)) [taskId, createdAt] = [id, entry.createdAt];
    }
    if (taskId === undefined || this.stopping) return;
    tasks.queued.delete(taskId);
    const running = new RunningTask(taskId);
    tasks.running = running;
    try {
      // Exactly once: only one instance moves the task out of `queued`.
      const task = await this.store.tasks.updateIf(tasks.projectId, taskId, { states: ['queued'] }, { state: 'running', startedAt: now(), runBy: this.deps.keeper.instanceId });
      if (task) {
        this.deps.events.publish({ type: 'state', task });
        await this.run(turn, task, running);
      }
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    } finally {
      tasks.running = undefined;
      running.settle();
    }
  }

  /** Runs a started task and records how it ended; saves what it changed first. */
  private async run(turn: ClusterTurn, task: TaskRecord, running: RunningTask): Promise<void> {
    const progress = new ProgressWriter((done, total) => this.end.progress(task, done, total), this.deps.progressIntervalMs);
    const metrics = new MetricRecorder(this.store, this.deps.events, task, this.deps.metrics, this.deps.logger);
    try {
      const outcome = await runTask(this.deps, task, { turn, signal: running.signal, progress, metrics, leaseLost: () => running.leaseLost !== undefined });
      if (outcome.changed) await turn.persist(outcome.changed.hosted, outcome.changed.record);
      if (outcome.ended === 'cancelled') throw outcome.cause;
      const resultBlobId = outcome.outputs ? (await this.store.blobs.put(encodeOutputs(outcome.outputs))).id : null;
      await progress.flush();
      // The final point before the end: a follower's last event is the result.
      await metrics.flush();
      await this.end.finished(task, outcome, resultBlobId);
    } catch (error) {
      await progress.flush();
      // A failure records its final point here (a run that ended otherwise did already).
      metrics.end();
      await metrics.flush();
      await this.end.stopped(task, error, running);
    }
  }

  /** Fails the tasks recorded as running on a cluster this process now holds but does not
   *  run them: their runner stopped (or lost its lease). Returns how many. */
  async failInterrupted(ref: ClusterRef): Promise<number> {
    let failed = 0;
    const mine = this.clusters.get(ref.clusterId)?.running?.taskId;
    for (const task of await this.store.tasks.listByState(['running'], ref)) {
      if (task.id === mine) continue;
      const reason = task.runBy === null || task.runBy === this.deps.keeper.instanceId ? INTERRUPTED_BY_RESTART : interruptedElsewhere(task.runBy);
      const condition = task.runBy === null ? { states: ['running' as const] } : { states: ['running' as const], runBy: task.runBy };
      const ended = await this.store.tasks.updateIf(task.projectId, task.id, condition, { state: 'failed', error: reason, finishedAt: now() });
      if (ended) {
        this.deps.events.publish({ type: 'state', task: ended });
        failed++;
        this.interrupted++;
        this.deps.observer?.taskEnded(task.kind, 'failed');
        this.deps.logger.warn({ taskId: task.id, clusterId: ref.clusterId, runBy: task.runBy }, 'marked an interrupted task failed');
      }
    }
    return failed;
  }

  /** The cluster's lease is gone: its queued tasks stay queued in the store (whoever holds
   *  the cluster next runs them); the running one stops and fails, saving nothing. */
  leaseLost(clusterId: string, why: string): void {
    const tasks = this.clusters.get(clusterId);
    if (!tasks) return;
    tasks.queued.clear();
    tasks.running?.stop({ leaseLost: why });
  }

  /** A deleted cluster has no tasks left: forget it. */
  forget(clusterId: string): void {
    this.clusters.delete(clusterId);
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
  async poll(adoptAll: boolean): Promise<{ failed: number; requeued: number }> {
    const interruptedBefore = this.interrupted;
    const started = Date.now();
    let requeued = 0;
    if (this.stopping) return { failed: 0, requeued };
    for (const tasks of this.clusters.values()) {
      const running = tasks.running;
      if (!running || running.signal.aborted) continue;
      const by = await this.store.tasks.cancelRequestOf(tasks.projectId, running.taskId);
      if (by !== null && tasks.running === running) running.stop({ cancel: `cancelled by ${by}` });
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
    for (const [clusterId, tasks] of this.clusters) {
      const stillQueued = new Set((byCluster.get(clusterId)?.queued ?? []).map((t) => t.id));
      for (const [id, entry] of tasks.queued) if (!stillQueued.has(id) && entry.enqueuedAt < started) tasks.queued.delete(id);
    }
    for (const [clusterId, group] of byCluster) {
      if (this.stopping) break;
      const known = this.clusters.get(clusterId);
      const strangers = group.running.filter((t) => known?.running?.taskId !== t.id);
      const waiting = group.queued.filter((t) => !known?.queued.has(t.id) && known?.running?.taskId !== t.id);
      if (strangers.length === 0 && waiting.length === 0) continue;
      const ref = { projectId: group.projectId, clusterId };
      const held = this.deps.keeper.holds(clusterId);
      if (!held && strangers.length === 0 && !adoptAll && !waiting.some((t) => seenBefore.has(t.id))) continue;
      try {
        // Recorded as running by this process or an earlier owner whose last write came
        // late (when held), or by an owner whose lease ran out (failed by the claim).
        if (!held) await this.deps.keeper.claim(ref);
        else if (strangers.length > 0) await this.failInterrupted(ref);
      } catch (e) {
        if (!(e instanceof ClusterHostedElsewhereError) && !(e instanceof NotFoundError)) this.deps.logger.warn({ err: e, clusterId }, 'poll: could not take a cluster over');
        continue;
      }
      for (const task of waiting) {
        if (this.enqueue(ref, task)) requeued++;
      }
      if (!held && waiting.length === 0) this.deps.host.releaseWhenIdle(ref, 0);
    }
    return { failed: this.interrupted - interruptedBefore, requeued };
  }

  /**
   * Stops taking tasks: waits up to `graceMs` for running tasks, then cancels them at their
   * next slice (train tasks keep and save what they learned). Queued tasks stay queued in the
   * store and run after the next start (or on another instance).
   */
  async stopTasks(graceMs: number, roundsSettled: () => Promise<void>): Promise<void> {
    this.stopping = true;
    // No more polls (so nothing new is taken); the leases are still renewed meanwhile, so
    // a task stopped by the shutdown can still save what it learned.
    await roundsSettled();
    const running = [...this.clusters.values()].flatMap((t) => (t.running ? [t.running] : []));
    const all = Promise.all(running.map((r) => r.finished));
    if (await timedOut(all, graceMs)) {
      for (const r of running) r.stop({ shutdown: 'stopped by a service shutdown; the cluster keeps what this task learned so far' });
      await all;
    }
  }
}
