/**
 * The WebGPU backend: the engine contract (kernels/contract.ts) with the network's steps as
 * WGSL compute shaders (kernels/*.wgsl) on one device per host, over the same NetworkState
 * buffers the CPU backend uses.
 *
 * A cluster's network is resident on the GPU while the backend uses it (a few clusters,
 * least recently used dropped first). During a training job the GPU copy owns the weights and
 * the host copy (`cluster.state`) the structure, which it grows (network.ts); when a job ends
 * — finished or cancelled — the host copy is current again, so checkpoints, the CPU backend
 * and `stats()` see the network as trained (and `stats()` at any time: the counters and the
 * structure are always the host's). A `between` hook sees the host copy current too, unless
 * the request says it reads only through this backend (`betweenUsesBackend`). A resident copy
 * is reused only while `cluster.state` is the same object in the same shape (fingerprint), and
 * is reloaded from the host otherwise.
 *
 * Jobs of one cluster run one after the other, with two exceptions that keep reads of the
 * network from waiting for a whole job: a prediction made from a training job's `between`
 * hook (the job waits for it, the GPU copy is current), and an `inline` prediction of a
 * non-spiking network while another prediction job of it runs (both only read). Every batch
 * sets its own data columns in the plan, so such a read between two batches changes nothing
 * for the job around it.
 */
import { ignoreFailure } from '../background.js';
import { type Backend, type BoundData, type ClusterHandle, type PredictRequest, type TrainRequest, type TransferCounters, type WorkReport, JobCancelled, outputWidth } from '../contract.js';
import type { NetworkState } from '../state.js';
import { newTransferCounters } from './counters.js';
import { type AdapterDescription, closeGpu, openGpu } from './gpu.js';
import { GpuNetwork } from './network.js';
import { createPipelines } from './pipelines.js';
import { predictOnGpu } from './predictor.js';
import { DeviceLock, type GpuSession } from './session.js';
import { trainOnGpu } from './trainer.js';

/** Networks kept on the device at once. */
const MAX_RESIDENT = 8;

interface Resident {
  network: GpuNetwork;
  state: NetworkState | undefined;
  fingerprint: string;
  /** Jobs of one cluster run one after the other. */
  jobs: DeviceLock;
  /** A training job of the cluster waits in its `between` hook: no batch runs, the GPU copy
   *  is current. */
  betweenBatches: boolean;
  /** Prediction jobs of the cluster running. */
  readers: number;
}

/** What identifies a network's content cheaply: any training, growth, binding or restore
 *  changes one of these (the counters include samples trained and every structural count). */
export function stateFingerprint(state: NetworkState): string {
  return JSON.stringify([
    Array.from(state.counters),
    state.hexagons.map((h) => [h.blocks, h.capacityBlocks]),
    state.outputs.map((g) => [g.rows, g.rowCapacity, g.width, g.widthCapacity, g.interfaces.map((i) => i.size)]),
    state.inputs.map((i) => i.size),
    state.pages.map((p) => p.used),
    state.sectionCapacity,
  ]);
}

function rowOrder(from: number, to: number, epochs: number): Int32Array {
  const n = to - from;
  const rows = new Int32Array(n * epochs);
  for (let e = 0; e < epochs; e++) for (let i = 0; i < n; i++) rows[e * n + i] = from + i;
  return rows;
}

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly threads = 1;
  private readonly residents = new Map<string, Resident>();
  private closed = false;

  private constructor(private readonly session: GpuSession) {}

  /** Opens the device (checked by a smoke test) and compiles the kernels. */
  static async open(found?: { gpu: GPU; adapter: GPUAdapter }): Promise<WebGpuBackend> {
    const context = await openGpu(found);
    try {
      const pipelines = await createPipelines(context.device);
      return new WebGpuBackend({ context, pipelines, counters: newTransferCounters(), lock: new DeviceLock() });
    } catch (e) {
      closeGpu(context);
      throw e;
    }
  }

  get adapter(): AdapterDescription {
    return this.session.context.adapterInfo;
  }

  get description(): string {
    return `WebGPU on ${this.adapter.summary}`;
  }

  /** Dispatches, submits, readbacks and bytes moved so far. */
  transfers(): TransferCounters {
    return { ...this.session.counters };
  }

  private resident(cluster: ClusterHandle): Resident {
    let r = this.residents.get(cluster.key);
    if (r) {
      this.residents.delete(cluster.key);
    } else {
      if (this.residents.size >= MAX_RESIDENT) {
        const [oldestKey, oldest] = this.residents.entries().next().value!;
        this.residents.delete(oldestKey);
        // Destroy once the evicted cluster's running job (if any) is done.
        ignoreFailure(
          oldest.jobs.run(async () => oldest.network.destroy()),
          'destroying an evicted copy: if it fails, the device frees its memory when it is closed',
        );
      }
      r = {
        network: new GpuNetwork(this.session.context, this.session.pipelines, cluster.state, this.session.counters),
        state: undefined,
        fingerprint: '',
        jobs: new DeviceLock(),
        betweenBatches: false,
        readers: 0,
      };
    }
    this.residents.set(cluster.key, r);
    return r;
  }

  /** Makes the resident copy current (uploading the network unless it already is). */
  private prepare(r: Resident, cluster: ClusterHandle, data: BoundData): void {
    const state = cluster.state;
    if (r.state === state && r.fingerprint === stateFingerprint(state)) {
      // Spiking neurons carry state that the host may have changed (a reset) in place.
      if (state.spiking) r.network.syncNeurons(state);
      return;
    }
    r.network.load(state, data.inputMap);
    r.state = state;
    r.fingerprint = stateFingerprint(state);
  }

  private checkOpen(): void {
    if (this.closed) throw new Error('the WebGPU backend is closed');
  }

  async train(cluster: ClusterHandle, data: BoundData, request: TrainRequest = {}): Promise<WorkReport> {
    this.checkOpen();
    const r = this.resident(cluster);
    return r.jobs.run(async () => {
      this.prepare(r, cluster, data);
      const from = request.from ?? 0;
      const to = request.to ?? data.rows;
      const between = request.between;
      try {
        const { visits } = await trainOnGpu(this.session, r.network, cluster.state, data, {
          rows: rowOrder(from, to, request.epochs ?? 1),
          ...(request.maxBatch !== undefined ? { maxBatch: request.maxBatch } : {}),
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
          ...(between ? { between: () => this.pauseBetween(r, cluster, between) } : {}),
          ...(request.betweenUsesBackend ? { betweenUsesBackend: true } : {}),
          ...(request.outputs ? { outputs: { values: request.outputs, firstRow: from } } : {}),
        });
        return { visits };
      } catch (e) {
        // A cancelled job brought the host copy current: it keeps what it learned. After any
        // other failure the resident copy is not trusted (it is reloaded from the host).
        if (!(e instanceof JobCancelled)) r.state = undefined;
        throw e;
      } finally {
        r.betweenBatches = false;
        r.fingerprint = stateFingerprint(cluster.state);
      }
    });
  }

  /** Runs a training job's `between` hook; predictions of the cluster made meanwhile run at
   *  once on the current GPU copy (see the file comment). */
  private pauseBetween(r: Resident, cluster: ClusterHandle, between: () => Promise<void> | undefined): Promise<void> | undefined {
    r.state = cluster.state;
    r.betweenBatches = true;
    let waiting: Promise<void> | undefined;
    try {
      waiting = between();
    } catch (e) {
      r.betweenBatches = false;
      throw e;
    }
    if (!waiting) {
      r.betweenBatches = false;
      return undefined;
    }
    return waiting.finally(() => {
      r.betweenBatches = false;
    });
  }

  async predict(cluster: ClusterHandle, data: BoundData, request: PredictRequest = {}): Promise<{ outputs: Float32Array } & WorkReport> {
    this.checkOpen();
    const r = this.resident(cluster);
    const run = async (current: boolean): Promise<{ outputs: Float32Array } & WorkReport> => {
      if (!current) this.prepare(r, cluster, data);
      const from = request.from ?? 0;
      const to = request.to ?? data.rows;
      const outputs = new Float32Array((to - from) * outputWidth(cluster.state));
      r.readers++;
      try {
        const { visits } = await predictOnGpu(this.session, r.network, cluster.state, data, outputs, {
          from,
          to,
          ...(request.batch !== undefined ? { batch: request.batch } : {}),
          ...(request.onProgress ? { onProgress: request.onProgress } : {}),
          ...(request.signal ? { signal: request.signal } : {}),
        });
        return { outputs, visits };
      } catch (e) {
        r.state = undefined;
        throw e;
      } finally {
        r.readers--;
        if (r.state) r.fingerprint = stateFingerprint(cluster.state);
      }
    };
    // Reads that must not queue behind the job that is using the cluster (file comment).
    if (r.betweenBatches) return run(true);
    if (request.inline && r.readers > 0 && !cluster.state.spiking && r.state === cluster.state) return run(true);
    return r.jobs.run(() => run(false));
  }

  /** Forgets the resident copy of a cluster (after its network was edited in place). */
  invalidate(cluster: ClusterHandle): void {
    const r = this.residents.get(cluster.key);
    if (r) r.state = undefined;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const residents = [...this.residents.values()];
    this.residents.clear();
    await Promise.all(residents.map((r) => r.jobs.run(async () => r.network.destroy())));
    await this.session.lock.run(async () => closeGpu(this.session.context));
  }
}
