/**
 * What the API and the metrics ask the runtime: which tasks a cluster has (here, or anywhere
 * through the store), whether a dataset is in use, and the sizes of a cluster's interfaces
 * for the checks before a task is queued.
 */
import { parseTemplate } from '../network/template.js';
import type { ClusterRecord, Store } from '../store/types.js';
import { readSavedInterfaces } from './checkpoint-head.js';
import type { ClusterHost } from './cluster-host.js';
import { sizesOfState, sizesOfTemplate, type InterfaceSizes } from './interface-fit.js';
import type { Scheduler } from './scheduler.js';

export type ClusterActivity = { queued: number; runningTaskId: string | null };

export class RuntimeQueries {
  constructor(
    private readonly store: Store,
    private readonly scheduler: Scheduler,
    private readonly host: ClusterHost,
  ) {}

  /** Whether this process has queued or running tasks on the cluster. */
  isClusterBusy(clusterId: string): boolean {
    return this.scheduler.hasWork(clusterId);
  }

  /** Whether the cluster has queued or running tasks, here or on another instance. */
  async isClusterBusyAnywhere(projectId: string, clusterId: string): Promise<boolean> {
    if (this.isClusterBusy(clusterId)) return true;
    return (await this.store.tasks.listByState(['queued', 'running'], { projectId, clusterId })).length > 0;
  }

  /** Queued task count and running task of each cluster, wherever they run (the store). */
  async clusterActivity(clusters: readonly { projectId: string; id: string }[]): Promise<Map<string, ClusterActivity>> {
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

  /** Whether a queued or running task (on any instance) reads this dataset. */
  async isDatasetInUse(projectId: string, datasetId: string): Promise<boolean> {
    const active = await this.store.tasks.listByState(['queued', 'running']);
    return active.some((t) => t.projectId === projectId && t.params.datasetId === datasetId);
  }

  /**
   * The sizes of a cluster's interfaces as its state is now (before its queued tasks run),
   * for checks before a task is queued: from the network in memory when this process hosts
   * it, else from the header of its saved state (never loading the network for this), else
   * (never trained or saved) from its template.
   */
  async interfaceSizes(record: ClusterRecord): Promise<InterfaceSizes> {
    const hosted = await this.host.heldNetwork(record.id);
    if (hosted) return sizesOfState(hosted.cluster.state, hosted.cluster.stats().samplesTrained > 0);
    if (record.stateBlobId) return { ...(await readSavedInterfaces(this.store, record.stateBlobId)), learned: (record.stats.samplesTrained ?? 0) > 0 };
    return sizesOfTemplate(parseTemplate(record.templateText));
  }
}
