/**
 * Interludes: short reads of a cluster's network (`POST …/predict`, Socket.IO request
 * batches) that run at the next moment the network is consistent instead of waiting for a
 * whole task. Where that moment is, the cluster host decides (cluster-host.ts `interlude`):
 * at once when nothing runs or the running task only reads the network, between two slices
 * (CPU) or batches (WebGPU) of a running train task, otherwise in a turn of the cluster's
 * line. This file is the waiting list and the hook a running task offers.
 */
import type { Backend } from '../../kernels/contract.js';
import type { ClusterRecord } from '../store/types.js';
import type { HostedCluster } from './hosted-cluster.js';

/** Where an interlude runs: `inTask` while a task holds the cluster (its backend is busy with
 *  the task's job, so the work must run in this thread and not ask the backend). */
export interface InterludeContext {
  inTask: boolean;
}

export type InterludeWork<T> = (hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext) => Promise<T> | T;

/** A running task's slice boundary, offered once the task holds the loaded network. */
export interface InterludeOffer {
  /** The task only reads the network (a request task on a non-spiking network): an
   *  interlude may run at once, beside it. Otherwise at the next slice boundary. */
  now: boolean;
  /** Runs the interludes waiting (none on a spiking network: they change it). */
  drain: () => Promise<void> | undefined;
}

interface Waiting {
  /** Runs the work; settles the caller's promise either way. */
  run: (hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext) => Promise<void>;
  fail: (error: unknown) => void;
}

/** The interludes waiting on one cluster, in arrival order. */
export class InterludeQueue {
  private waiting: Waiting[] = [];

  /** `beforeRun` sees the network before each interlude's work. */
  constructor(private readonly beforeRun: (hosted: HostedCluster) => void) {}

  get size(): number {
    return this.waiting.length;
  }

  /** Adds `work`; the promise settles when it has run (or failed to get a turn). */
  add<T>(work: InterludeWork<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        run: async (hosted, backend, record, within) => {
          try {
            this.beforeRun(hosted);
            resolve(await work(hosted, backend, record, within));
          } catch (e) {
            reject(e);
          }
        },
        fail: reject,
      });
    });
  }

  /** Runs every interlude waiting, those that arrive meanwhile included. */
  async drain(hosted: HostedCluster, backend: Backend, record: ClusterRecord, within: InterludeContext): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting.splice(0);
      for (const waiting of batch) await waiting.run(hosted, backend, record, within);
    }
  }

  /** Fails every interlude waiting (their turn could not load the cluster). */
  failAll(error: unknown): void {
    for (const waiting of this.waiting.splice(0)) waiting.fail(error);
  }

  /** The hook a task that holds the loaded network offers (see InterludeOffer). */
  offer(hosted: HostedCluster, backend: Backend, record: ClusterRecord, now: boolean): InterludeOffer {
    const drain = (): Promise<void> | undefined => {
      // A spiking network's predictions change it: they wait for the end of the task.
      if (this.waiting.length === 0 || hosted.cluster.spiking) return undefined;
      return this.drain(hosted, backend, record, { inTask: true });
    };
    return { now, drain };
  }
}
