/**
 * The task runtime: clusters in memory, one line of work per cluster, tasks, and which
 * clusters this process may hold (cluster leases in the store). This file only puts the
 * parts together and is what the rest of the service calls; each part has one job:
 *
 * - lease-keeper.ts: claims, renews and releases leases; says when one is lost.
 * - cluster-host.ts + cluster-slot.ts: the clusters in memory (named states), their lines of
 *   work (`withCluster`, the one way to work on a cluster), interludes, record changes,
 *   saving the state, releasing idle clusters.
 * - scheduler.ts: submit, poll, cancel, recover, stop; runs tasks through runners.ts and
 *   records their ends (task-end.ts).
 * - direct-access.ts: the runtime API for direct I/O.
 * - cluster-service.ts: the rules for changing a cluster (modes, delete, restore, busy).
 * - queries.ts: what the API and metrics read.
 *
 * docs/architecture.md ("The task runtime") describes how they work together.
 */
import type { Logger } from 'pino';
import type { Backend } from '../../kernels/contract.js';
import type { BindOptions } from '../network/cluster.js';
import type { Dataset } from '../datasets/types.js';
import { defaultInstanceId } from '../config.js';
import type { ClusterRecord, OutputLayout, Store, TaskRecord } from '../store/types.js';
import type { BackendSet } from './backends.js';
import { ClusterHost } from './cluster-host.js';
import { ClusterService } from './cluster-service.js';
import type { DatasetCache } from './dataset-loader.js';
import { DirectAccess } from './direct-access.js';
import type { HostedCluster } from './hosted-cluster.js';
import type { InterfaceSizes } from './interface-fit.js';
import type { InterludeWork } from './interludes.js';
import { LeaseKeeper, type OwnershipSettings } from './lease-keeper.js';
import { RuntimeQueries, type ClusterActivity } from './queries.js';
import { Scheduler } from './scheduler.js';
import type { RuntimeObserver } from './task-end.js';
import { TaskEvents } from './task-events.js';
import { DEFAULT_METRIC_SETTINGS, type MetricSettings } from './metric-recorder.js';
import { BackgroundRounds } from './timing.js';

export { ClusterBusyError, ClusterHostedElsewhereError, ClusterModeError, INTERRUPTED_BY_RESTART, interruptedElsewhere, RuntimeStoppingError } from './errors.js';
export { isDeadLocalInstance, type OwnershipSettings } from './lease-keeper.js';
export type { InterludeContext } from './interludes.js';
export type { RuntimeObserver } from './task-end.js';
export type { TaskEvent, TaskEvents } from './task-events.js';
export type { MetricSettings } from './metric-recorder.js';

export interface RuntimeDeps {
  store: Store;
  backends: BackendSet;
  datasets: DatasetCache;
  logger: Logger;
  observer?: RuntimeObserver;
  progressIntervalMs?: number;
  ownership?: Partial<OwnershipSettings>;
  /** The metric series' cadence and bound (default: a point every 1,000 samples, 1,000 kept). */
  metrics?: Partial<MetricSettings>;
}

export class TaskRuntime {
  private readonly keeper: LeaseKeeper;
  private readonly host: ClusterHost;
  private readonly scheduler: Scheduler;
  private readonly direct: DirectAccess;
  private readonly queries: RuntimeQueries;
  private readonly rounds: BackgroundRounds;
  /** The rules for changing a cluster (PATCH, DELETE, restore, Socket.IO attach). */
  readonly clusters: ClusterService;
  /** After stop(): the leases are released, nothing renews them any more. */
  private stopped = false;
  /** Task state changes and metric points of the tasks this process runs, as they are stored
   *  (Socket.IO followers: server/io/events.ts). */
  readonly events = new TaskEvents();

  constructor(deps: RuntimeDeps) {
    const { store, backends, datasets, logger } = deps;
    const settings: OwnershipSettings = { instanceId: defaultInstanceId(), leaseMs: 30_000, renewMs: 10_000, idleMs: 60_000, pollMs: 2_000, ...deps.ownership };
    this.rounds = new BackgroundRounds(logger);
    this.keeper = new LeaseKeeper(store, settings, logger, {
      claimed: async (cluster) => {
        this.host.claimed(cluster);
        await this.scheduler.failInterrupted(cluster);
      },
      lost: (clusterId, why) => {
        this.host.lost(clusterId);
        this.scheduler.leaseLost(clusterId, why);
      },
    });
    this.host = new ClusterHost({ store, keeper: this.keeper, backends, logger, hasTaskWork: (clusterId) => this.scheduler.hasWork(clusterId) });
    this.scheduler = new Scheduler({
      store,
      datasets,
      backends,
      host: this.host,
      keeper: this.keeper,
      logger,
      observer: deps.observer,
      progressIntervalMs: deps.progressIntervalMs ?? 250,
      pollMs: settings.pollMs,
      events: this.events,
      metrics: { ...DEFAULT_METRIC_SETTINGS, ...deps.metrics },
    });
    const stopping = (): boolean => this.scheduler.isStopping;
    this.direct = new DirectAccess(this.host, stopping);
    this.queries = new RuntimeQueries(store, this.scheduler, this.host);
    this.clusters = new ClusterService({ store, backends, host: this.host, direct: this.direct, queries: this.queries, forgetTasks: (id) => this.scheduler.forget(id), stopping, logger });
  }

  /** This process's name in leases and on the tasks it runs. */
  get instanceId(): string {
    return this.keeper.instanceId;
  }

  // ---------------------------------------------------------------------------------------
  // Start and stop

  /**
   * Start-up: releases the leases this instance held in an earlier life, fails the tasks
   * that were running on clusters it can now claim, queues the queued tasks of those
   * clusters, then keeps renewing leases and polling the store until `stop()`.
   */
  async recover(): Promise<{ failed: number; requeued: number }> {
    await this.keeper.releaseEarlierLives();
    const recovered = await this.scheduler.poll(true);
    const { renewMs, pollMs, idleMs } = this.keeper.settings;
    this.rounds.every(
      renewMs,
      () => this.stopped,
      async () => {
        await this.keeper.renewAll();
        this.host.releaseIdle(idleMs);
      },
    );
    this.rounds.every(
      pollMs,
      () => this.scheduler.isStopping,
      () => this.scheduler.poll(false),
    );
    return recovered;
  }

  /**
   * Stops taking work: waits up to `graceMs` for running tasks, then cancels them at their
   * next slice (train tasks keep and save what they learned). Queued tasks stay queued in
   * the store and run after the next start (or on another instance). Saves what direct I/O
   * changed and releases every lease.
   */
  async stop(graceMs: number): Promise<void> {
    await this.scheduler.stopTasks(graceMs, () => this.rounds.settled());
    await this.host.releaseAll(graceMs);
    this.stopped = true;
    this.rounds.cancel();
    await this.rounds.settled();
  }

  // ---------------------------------------------------------------------------------------
  // Tasks (scheduler.ts)

  submit(task: TaskRecord): void {
    this.scheduler.submit(task);
  }

  cancel(task: TaskRecord, by: string): Promise<TaskRecord> {
    return this.scheduler.cancel(task, by);
  }

  // ---------------------------------------------------------------------------------------
  // Direct I/O (direct-access.ts; docs/architecture.md "The runtime API for direct I/O")

  withCluster<T>(projectId: string, clusterId: string, work: (hosted: HostedCluster, backend: Backend, record: ClusterRecord) => Promise<T>): Promise<T> {
    return this.direct.withCluster(projectId, clusterId, work);
  }

  trainDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<void> {
    return this.direct.trainDirect(projectId, clusterId, data, bind);
  }

  predictDirect(projectId: string, clusterId: string, data: Dataset, bind: Omit<BindOptions, 'readOnly'> = {}): Promise<{ outputs: Float32Array; width: number; layout: OutputLayout[] }> {
    return this.direct.predictDirect(projectId, clusterId, data, bind);
  }

  saveCluster(projectId: string, clusterId: string): Promise<ClusterRecord> {
    return this.direct.saveCluster(projectId, clusterId);
  }

  interlude<T>(projectId: string, clusterId: string, work: InterludeWork<T>): Promise<T> {
    return this.direct.interlude(projectId, clusterId, work);
  }

  // ---------------------------------------------------------------------------------------
  // Readings (queries.ts, and what is in memory)

  clusterActivity(clusters: readonly { projectId: string; id: string }[]): Promise<Map<string, ClusterActivity>> {
    return this.queries.clusterActivity(clusters);
  }

  isDatasetInUse(projectId: string, datasetId: string): Promise<boolean> {
    return this.queries.isDatasetInUse(projectId, datasetId);
  }

  interfaceSizes(record: ClusterRecord): Promise<InterfaceSizes> {
    return this.queries.interfaceSizes(record);
  }

  /** Tasks queued or running in this process, over all clusters (metrics). */
  counts(): { queued: number; running: number } {
    return this.scheduler.counts();
  }

  /** Statistics of the clusters in memory (metrics). */
  loadedStats(): { projectId: string; clusterId: string; stats: Record<string, number> }[] {
    return this.host.loadedStats();
  }

  /** Statistics of a cluster's state in memory, if it is loaded. */
  liveStats(clusterId: string): Record<string, number> | undefined {
    return this.host.liveStats(clusterId);
  }
}
