/**
 * The CPU backend: the engine contract (kernels/contract.ts) over the worker pool shared by
 * every cluster of the host (./pool.ts), plus an in-thread path for the few rows direct I/O
 * waits for (`inline`): one MNIST-size sample takes tens of microseconds on the calling
 * thread, and a hand-off to a worker and back costs as much again (docs/performance.md).
 */
import { type Backend, type BoundData, type ClusterHandle, type PredictRequest, type TrainRequest, type WorkReport, JobCancelled, outputWidth } from '../kernels/contract.js';
import type { NetworkState } from '../kernels/state.js';
import { ExecutionContext } from './context.js';
import { predictRows, trainRows } from './engine.js';
import { CpuPool } from './pool.js';

/** Scratch contexts of the in-thread path, per cluster key (bounded, oldest dropped): a
 *  context is as large as the network's neurons, and one host serves many clusters. */
const MAX_INLINE_CONTEXTS = 16;

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  readonly pool: CpuPool;
  private readonly inlineContexts = new Map<string, ExecutionContext>();

  constructor(threads?: number) {
    this.pool = new CpuPool(threads);
  }

  get threads(): number {
    return this.pool.threads;
  }

  get description(): string {
    return `CPU, ${this.pool.threads} worker thread${this.pool.threads === 1 ? '' : 's'}`;
  }

  async train(cluster: ClusterHandle, data: BoundData, request: TrainRequest = {}): Promise<WorkReport> {
    if (request.inline) return this.trainHere(cluster, data, request);
    try {
      const between = request.between;
      const result = await this.pool.train(cluster.key, cluster.state, data, {
        ...request,
        ...(between && {
          between: (state: NetworkState) => {
            // The slice's network is consistent: make it the cluster's for the hook's readers.
            cluster.state = state;
            return between();
          },
        }),
      });
      cluster.state = result.state;
      return { visits: result.visits };
    } catch (e) {
      // A cancelled job stops between slices: keep what the completed slices learned.
      if (e instanceof JobCancelled && e.state) cluster.state = e.state;
      throw e;
    }
  }

  async predict(cluster: ClusterHandle, data: BoundData, request: PredictRequest = {}): Promise<{ outputs: Float32Array } & WorkReport> {
    if (request.inline) return this.predictHere(cluster, data, request);
    const result = await this.pool.predict(cluster.key, cluster.state, data, request);
    if (cluster.state.spiking) cluster.state = result.state;
    return { outputs: result.outputs, visits: result.visits };
  }

  close(): Promise<void> {
    this.inlineContexts.clear();
    return this.pool.close();
  }

  // -------------------------------------------------------------------------------------
  // In the calling thread
  // -------------------------------------------------------------------------------------

  private contextFor(key: string, state: NetworkState): ExecutionContext {
    let ctx = this.inlineContexts.get(key);
    if (ctx) {
      // Most recently used last; the network may have grown since (a task trained it).
      this.inlineContexts.delete(key);
      ctx.fit(state);
    } else {
      ctx = new ExecutionContext(state);
    }
    this.inlineContexts.set(key, ctx);
    if (this.inlineContexts.size > MAX_INLINE_CONTEXTS) this.inlineContexts.delete(this.inlineContexts.keys().next().value!);
    return ctx;
  }

  private trainHere(cluster: ClusterHandle, data: BoundData, request: TrainRequest): WorkReport {
    const from = request.from ?? 0;
    const to = request.to ?? data.rows;
    const state = cluster.state;
    const ctx = this.contextFor(cluster.key, state);
    const before = ctx.visits;
    const epochs = request.epochs ?? 1;
    for (let e = 0; e < epochs; e++) {
      if (request.signal?.aborted) throw new JobCancelled(state);
      trainRows(ctx, state, data, from, to, undefined, request.outputs);
      request.onProgress?.((e + 1) * (to - from), epochs * (to - from));
    }
    return { visits: ctx.visits - before };
  }

  private predictHere(cluster: ClusterHandle, data: BoundData, request: PredictRequest): { outputs: Float32Array } & WorkReport {
    const from = request.from ?? 0;
    const to = request.to ?? data.rows;
    const state = cluster.state;
    const ctx = this.contextFor(cluster.key, state);
    const before = ctx.visits;
    const outputs = new Float32Array((to - from) * outputWidth(state));
    if (request.signal?.aborted) throw new JobCancelled();
    predictRows(ctx, state, data, from, to, outputs);
    request.onProgress?.(to - from, to - from);
    return { outputs, visits: ctx.visits - before };
  }
}
