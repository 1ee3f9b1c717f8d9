/**
 * The backend a host runs networks on. Both backends (this CPU backend and
 * ./webgpu-backend.ts) implement the same interface over the same buffers, so a cluster can
 * move between them without changing its results.
 */
import { CpuPool, JobCancelled } from '../../cpu-fallback/pool.js';
import type { BoundData } from '../../cpu-fallback/engine.js';
import type { TransferCounters } from '../../kernels/webgpu/counters.js';
import type { Cluster } from './cluster.js';

export type BackendName = 'cpu' | 'webgpu';

export interface Progress {
  (done: number, total: number): void;
}

export interface TrainRequest {
  epochs?: number;
  /** Samples per scheduling slice (CPU pool). */
  sliceRows?: number;
  /** CPU pool: two-thread teams when they pay (default), always, or never. */
  team?: boolean | 'always';
  /** WebGPU: the largest training batch (samples per submit; default 256). */
  maxBatch?: number;
  from?: number;
  to?: number;
  onProgress?: Progress;
  signal?: AbortSignal;
  /**
   * Called between two slices (CPU) or batches (WebGPU) with `cluster.state` current; when it
   * returns a promise, the training waits for it. For short reads of the network that must not
   * wait for the whole job (predictions over HTTP or Socket.IO), run in the calling thread.
   */
  between?: () => Promise<void> | undefined;
}

export interface PredictRequest {
  from?: number;
  to?: number;
  /** WebGPU: samples per dispatch (default 1024). */
  batch?: number;
  /** CPU pool: rows per slice (several slices run on several workers). */
  sliceRows?: number;
  onProgress?: Progress;
  signal?: AbortSignal;
}

export interface WorkReport {
  /** Synapses visited (forward + backward), for work-per-sample measurements. */
  visits: number;
}

export interface Backend {
  readonly name: BackendName;
  /** Worker threads (CPU) or the adapter's description (WebGPU) for reports. */
  readonly description: string;
  readonly threads: number;
  /** Trains the cluster in place (its state is replaced by the grown one). */
  train(cluster: Cluster, data: BoundData, request?: TrainRequest): Promise<WorkReport>;
  /** Forward only: rows × outputWidth values. */
  predict(cluster: Cluster, data: BoundData, request?: PredictRequest): Promise<{ outputs: Float32Array } & WorkReport>;
  /** GPU backends: dispatches, submits, readbacks and bytes moved so far. */
  transfers?(): TransferCounters;
  close(): Promise<void>;
}

/** The multithreaded CPU fallback over a worker pool shared by all clusters of the host. */
export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly pool: CpuPool;

  constructor(threads?: number) {
    this.pool = new CpuPool(threads);
  }

  get threads(): number {
    return this.pool.threads;
  }

  get description(): string {
    return `CPU, ${this.pool.threads} worker thread${this.pool.threads === 1 ? '' : 's'}`;
  }

  async train(cluster: Cluster, data: BoundData, request: TrainRequest = {}): Promise<WorkReport> {
    try {
      const between = request.between;
      const result = await this.pool.train(cluster.key, cluster.state, data, {
        ...request,
        between: between
          ? (state) => {
              // The slice's network is consistent: make it the cluster's for the hook's readers.
              cluster.state = state;
              return between();
            }
          : undefined,
      });
      cluster.state = result.state;
      return { visits: result.visits };
    } catch (e) {
      // A cancelled job stops between slices: keep what the completed slices learned.
      if (e instanceof JobCancelled && e.state) cluster.state = e.state;
      throw e;
    }
  }

  async predict(cluster: Cluster, data: BoundData, request: PredictRequest = {}): Promise<{ outputs: Float32Array } & WorkReport> {
    const result = await this.pool.predict(cluster.key, cluster.state, data, request);
    if (cluster.spiking) cluster.state = result.state;
    return { outputs: result.outputs, visits: result.visits };
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
