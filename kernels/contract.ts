/**
 * The engine contract: what a backend is given and what it promises, shared by the two
 * backends (cpu-fallback/backend.ts, kernels/webgpu/backend.ts) so that neither imports the
 * other and the server drives both through one interface.
 *
 * - Bound data: rows of a dataset (or of direct I/O) and which of their columns feed which
 *   input interface, which targets teach which output interface. Both backends read the same
 *   shape (the GPU packs it into its samples buffer, the CPU loads it row by row).
 * - The Backend interface with its requests and report.
 * - JobCancelled, the one cancellation error of both backends.
 *
 * It lives in kernels/ beside the memory layout because both backends may import kernels/
 * (docs/architecture.md, "Rooms"); it imports nothing but kernels/state.ts.
 */
import type { NetworkState } from './state.js';

// ---------------------------------------------------------------------------------------
// Bound data
// ---------------------------------------------------------------------------------------

export type RowArray = Uint8Array | Float32Array;

/** Which columns of a row feed an input interface. */
export interface InputBinding {
  /** Index into state.inputs. */
  input: number;
  /** First column of the row that feeds the interface. */
  column: number;
  size: number;
}

/** Which targets teach an output interface. */
export interface OutputBinding {
  group: number;
  /** Index of the interface inside its group. */
  iface: number;
  /** `class`: a class index per row; `values`: value columns. */
  source: 'class' | 'values';
  /** For values: first target column. */
  column: number;
  size: number;
}

/** Rows of a dataset bound to a network. */
export interface BoundData {
  rows: number;
  inputs: RowArray;
  inputWidth: number;
  inputMap: InputBinding[];
  /** Class index per row (for class outputs). */
  labels?: Uint16Array | undefined;
  /** rows × valueWidth targets (for value outputs). */
  values?: Float32Array | undefined;
  valueWidth: number;
  outputMap: OutputBinding[];
}

/** Width of one prediction row: all output values of all groups, in group order. */
export function outputWidth(state: NetworkState): number {
  let w = 0;
  for (const g of state.outputs) w += g.width;
  return w;
}

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

export type BackendName = 'cpu' | 'webgpu';

/**
 * What a backend needs of a cluster: a key that names it for as long as it lives (scratch
 * and GPU residency are kept per key) and its network. Training replaces `state` with the
 * grown network; the caller must not touch the network while a job of it runs, except inside
 * that job's `between` hook.
 */
export interface ClusterHandle {
  readonly key: string;
  state: NetworkState;
}

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
   * wait for the whole job (predictions over HTTP or Socket.IO): a `predict` of this cluster
   * made from inside the hook runs at once (see PredictRequest.inline).
   */
  between?: () => Promise<void> | undefined;
  /**
   * The `between` hook reads the network only through this backend (`predict`) and its shape
   * (interface sizes, counters), not the weights of `cluster.state`: a device backend then need
   * not bring the host copy's values current before each call (the WebGPU backend keeps them
   * on the device during a job). Default false: `cluster.state` is current in the hook.
   */
  betweenUsesBackend?: boolean;
  /**
   * Receives the output values each trained row's forward pass produced, before the row
   * learned: (to − from) × outputWidth values (with several epochs, the last epoch's). Direct
   * training answers with them.
   */
  outputs?: Float32Array;
  /** See PredictRequest.inline. */
  inline?: boolean;
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
  /**
   * A few rows a caller is waiting for (direct I/O), or a read between two slices or batches
   * of a job running on the cluster: answer without scheduling. The CPU backend runs them in
   * the calling thread — one MNIST-size sample takes tens of microseconds there, a hand-off to
   * a worker as long again. The WebGPU backend has no such path and runs them as one batch on
   * the device, as it would anyway.
   */
  inline?: boolean;
}

export interface WorkReport {
  /** Synapses visited (forward + backward), for work-per-sample measurements. */
  visits: number;
}

/** What a device backend did, counted for the shape figures of docs/performance.md: compute
 *  dispatches, queue submits, buffer readbacks (mapAsync) and the bytes moved each way. */
export interface TransferCounters {
  dispatches: number;
  submits: number;
  readbacks: number;
  bytesReadBack: number;
  /** ...of which copies of the whole network: the host copy brought current (the last batch
   *  of a training job, a cancellation, a `between` hook that reads the host copy). */
  networkBytesReadBack: number;
  /** Bytes written to the GPU, everything included... */
  bytesUploaded: number;
  /** ...of which the samples themselves (input rows and targets). */
  sampleBytesUploaded: number;
  /** Training batches run and samples trained / predicted. */
  batches: number;
  trainSamples: number;
  predictSamples: number;
  /** Growth requests the host applied after batches, and requests that did not fit. */
  growthRequests: number;
  droppedRequests: number;
}

/**
 * A backend runs networks of clusters: the CPU backend on a worker pool, the WebGPU backend on
 * one device. Both work on the same NetworkState buffers, so a cluster can move between them
 * (and through checkpoints) without changing its results beyond the stated float tolerance.
 */
export interface Backend {
  readonly name: BackendName;
  /** Worker threads (CPU) or the adapter's description (WebGPU) for reports. */
  readonly description: string;
  readonly threads: number;
  /** Trains the cluster in place (its state is replaced by the grown one). A cancelled job
   *  rejects with JobCancelled, the cluster keeping what the completed slices learned. */
  train(cluster: ClusterHandle, data: BoundData, request?: TrainRequest): Promise<WorkReport>;
  /** Forward only: rows × outputWidth values. A spiking network carries its state on. */
  predict(cluster: ClusterHandle, data: BoundData, request?: PredictRequest): Promise<{ outputs: Float32Array } & WorkReport>;
  /** Device backends: dispatches, submits, readbacks and bytes moved so far. */
  transfers?(): TransferCounters;
  close(): Promise<void>;
}

/** A job was cancelled between two slices (CPU) or batches (WebGPU); `state` is the network
 *  after the last one that completed (consistent: slices and batches are never interrupted). */
export class JobCancelled extends Error {
  constructor(readonly state?: NetworkState) {
    super('cancelled');
    this.name = 'JobCancelled';
  }
}
