/**
 * The rules for changing a cluster, for HTTP and Socket.IO alike: which mode an operation
 * needs, when a busy cluster is refused, switching modes (saving what direct I/O taught the
 * cluster before tasks take over; handing an idle cluster off for direct I/O elsewhere),
 * deleting a cluster with its tasks and their results, and restoring a checkpoint into an
 * existing cluster. The route handlers (server/api/resources) and the Socket.IO layer
 * (server/io) call these; they translate the errors (errors.ts) and nothing else.
 */
import type { Logger } from 'pino';
import { NotFoundError, type ClusterRecord, type Store } from '../store/types.js';
import type { BackendSet } from './backends.js';
import type { ClusterHost } from './cluster-host.js';
import type { DirectAccess } from './direct-access.js';
import { ClusterBusyError, ClusterModeError, RuntimeStoppingError } from './errors.js';
import { HostedCluster } from './hosted-cluster.js';
import type { RuntimeQueries } from './queries.js';

export type ClusterMode = ClusterRecord['mode'];

/** What a PATCH of a cluster may change. */
export interface ClusterChange {
  name?: string | undefined;
  backend?: ClusterRecord['backend'] | undefined;
  mode?: ClusterMode | undefined;
}

/** Why work that needs the cluster in `mode` is refused (undefined: it is in that mode).
 *  Tasks (and changes of the cluster's state) need tasks mode; Socket.IO needs direct mode. */
export function modeRefusal(record: ClusterRecord, mode: ClusterMode): ClusterModeError | undefined {
  if (record.mode === mode) return undefined;
  return mode === 'tasks'
    ? new ClusterModeError(record.id, record.mode, `cluster ${record.id} is in direct mode; switch it to tasks mode first`)
    : new ClusterModeError(record.id, record.mode, `cluster ${record.id} is in ${record.mode} mode; PATCH it to mode "direct" to use direct I/O`);
}

/** Throws `modeRefusal`'s error. */
export function requireMode(record: ClusterRecord, mode: ClusterMode): void {
  const refusal = modeRefusal(record, mode);
  if (refusal) throw refusal;
}

export interface ClusterServiceDeps {
  store: Store;
  backends: BackendSet;
  host: ClusterHost;
  direct: DirectAccess;
  queries: RuntimeQueries;
  /** Forgets a deleted cluster's tasks in this process. */
  forgetTasks(clusterId: string): void;
  stopping(): boolean;
  logger: Logger;
}

export class ClusterService {
  constructor(private readonly deps: ClusterServiceDeps) {}

  /** Refuses a Socket.IO attach unless the cluster is in direct mode with no tasks here. */
  checkDirectIo(record: ClusterRecord): void {
    requireMode(record, 'direct');
    if (this.deps.queries.isClusterBusy(record.id)) throw new ClusterBusyError(`cluster ${record.id} has queued or running tasks`);
  }

  /**
   * Renames a cluster, switches its backend (from its next task) or its mode. Switching to
   * direct mode needs a cluster without tasks anywhere and releases it here, so the instance
   * serving direct I/O can take it; switching back to tasks saves what direct I/O taught it
   * first (that lives in the memory of the instance hosting the cluster).
   */
  async update(projectId: string, clusterId: string, change: ClusterChange): Promise<ClusterRecord> {
    const { store, backends, host, direct, queries } = this.deps;
    if (this.deps.stopping()) throw new RuntimeStoppingError();
    const before = await store.clusters.get(projectId, clusterId);
    if (change.mode === 'tasks' && before.mode !== 'tasks') await direct.saveCluster(projectId, clusterId);
    const toDirect = change.mode === 'direct' && before.mode !== 'direct';
    return host.updateRecord(
      { projectId, clusterId },
      async (record) => {
        const patch: Partial<Omit<ClusterRecord, 'id' | 'projectId'>> = {};
        if (change.name !== undefined) patch.name = change.name;
        if (change.backend !== undefined) {
          await backends.get(change.backend);
          patch.backend = change.backend;
        }
        if (change.mode === 'direct' && record.mode !== 'direct') {
          if (await queries.isClusterBusyAnywhere(record.projectId, record.id)) {
            throw new ClusterBusyError(`cluster ${record.id} has queued or running tasks; wait for them or cancel them before switching to direct mode`);
          }
          patch.mode = 'direct';
        }
        if (change.mode === 'tasks' && record.mode !== 'tasks') patch.mode = 'tasks';
        patch.updatedAt = new Date().toISOString();
        return store.clusters.update(projectId, clusterId, patch);
      },
      { handOff: toDirect },
    );
  }

  /** Deletes a cluster in tasks mode without tasks, with its tasks' records and results and
   *  its saved state (its checkpoints stay). */
  async delete(projectId: string, clusterId: string): Promise<void> {
    const { store, host, queries } = this.deps;
    const record = await store.clusters.get(projectId, clusterId);
    const busy = (): ClusterBusyError => new ClusterBusyError(`cluster ${record.id} has queued or running tasks; cancel them first`);
    if (await queries.isClusterBusyAnywhere(record.projectId, record.id)) throw busy();
    requireMode(record, 'tasks');
    if (this.deps.stopping()) throw new RuntimeStoppingError();
    await host.updateRecord({ projectId, clusterId }, async (current) => {
      if (await queries.isClusterBusyAnywhere(current.projectId, current.id)) throw busy();
      // Page by page from the start: the tasks deleted leave the list.
      for (;;) {
        const { items } = await store.tasks.listByCluster(projectId, clusterId, { limit: 1000 });
        if (items.length === 0) break;
        for (const task of items) {
          if (task.resultBlobId) await this.dropBlob(task.resultBlobId);
          await store.tasks.delete(projectId, task.id);
        }
      }
      await store.clusters.delete(projectId, clusterId);
      if (current.stateBlobId) await this.dropBlob(current.stateBlobId);
    });
    host.forget({ projectId, clusterId });
    this.deps.forgetTasks(clusterId);
  }

  /** Replaces the state of an existing cluster (tasks mode, no tasks anywhere) by checkpoint
   *  bytes; the cluster takes the checkpoint's template too. */
  async restore(target: ClusterRecord, bytes: Buffer): Promise<ClusterRecord> {
    requireMode(target, 'tasks');
    if (await this.deps.queries.isClusterBusyAnywhere(target.projectId, target.id)) {
      throw new ClusterBusyError(`cluster ${target.id} has queued or running tasks; cancel them or wait before restoring into it`);
    }
    return this.deps.host.withCluster({ projectId: target.projectId, clusterId: target.id }, 'restore', async (turn) => {
      await turn.claim();
      const hosted = HostedCluster.fromCheckpoint(bytes);
      const saved = await turn.persist(hosted, { ...target, templateText: hosted.cluster.templateText });
      turn.install(hosted);
      return saved;
    });
  }

  /** The record is gone already, so a blob that cannot be deleted stays as a logged orphan. */
  private async dropBlob(blobId: string): Promise<void> {
    try {
      await this.deps.store.blobs.delete(blobId);
    } catch (error) {
      if (!(error instanceof NotFoundError)) this.deps.logger.warn({ err: error, blobId }, 'could not delete a blob; it stays as an orphan');
    }
  }
}
