/**
 * What the task runtime refuses or reports: errors of the vocabulary (server/errors.ts), so the
 * API and direct I/O translate them like any other.
 */
import { DomainError } from '../errors.js';

/** The cluster has queued or running tasks (HTTP 409 `cluster_busy`, Socket.IO `cluster-busy`). */
export class ClusterBusyError extends DomainError {
  constructor(message: string) {
    super('cluster_busy', message);
    this.name = 'ClusterBusyError';
  }
}

/** The operation needs the cluster in the other mode: `cluster_direct` (it is in direct mode;
 *  tasks and deletion need tasks mode), `not_direct_mode` (direct I/O needs direct mode). */
export class ClusterModeError extends DomainError {
  constructor(
    readonly clusterId: string,
    /** The mode the cluster is in. */
    readonly mode: 'tasks' | 'direct',
    message: string,
  ) {
    super(mode === 'direct' ? 'cluster_direct' : 'not_direct_mode', message);
    this.name = 'ClusterModeError';
  }
}

/** The service is stopping: no new work (HTTP 503 `shutting_down`). */
export class RuntimeStoppingError extends DomainError {
  constructor() {
    super('shutting_down', 'the service is shutting down; try again after it restarts');
    this.name = 'RuntimeStoppingError';
  }
}

/** The cluster is hosted by another live service instance (HTTP 409 `cluster_hosted_elsewhere`). */
export class ClusterHostedElsewhereError extends DomainError {
  constructor(
    readonly clusterId: string,
    /** The instance holding it (its HANAMI_INSTANCE_ID). */
    readonly owner: string,
    /** When its lease ends unless it renews it (it does while it works on the cluster). */
    readonly leaseUntil: string,
  ) {
    super(
      'cluster_hosted_elsewhere',
      `cluster ${clusterId} is hosted by service instance "${owner}" (lease until ${leaseUntil}, renewed while it works on the cluster and given up once it has been idle); send this request to that instance, or retry once it has released the cluster`,
      { owner, leaseUntil },
    );
    this.name = 'ClusterHostedElsewhereError';
  }
}

/** This process lost a cluster's lease while working on it (internal; ends the work). */
export class LeaseLostError extends Error {
  constructor(clusterId: string, why: string) {
    super(`interrupted: this service instance lost the lease on cluster ${clusterId} (${why}); the cluster keeps the state its new owner has; submit the task again`);
    this.name = 'LeaseLostError';
  }
}

export const INTERRUPTED_BY_RESTART = 'interrupted: the service stopped while this task ran (the cluster keeps its state from its last finished task); submit it again';

/** Why a task another instance was running ended: its instance stopped renewing its lease. */
export function interruptedElsewhere(instance: string): string {
  return `interrupted: the service stopped while this task ran (instance "${instance}" stopped renewing its lease on the cluster; the cluster keeps its state from its last finished task); submit it again`;
}
