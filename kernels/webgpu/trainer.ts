/**
 * Training on the GPU, batch by batch. A batch of K samples is one command buffer: clear the
 * scratch, ONE dispatch of `train_batch` (one workgroup runs every step of every sample in
 * order, so sample j + 1 sees the weights sample j left: batch-size-1 semantics), then copies
 * of what the host needs into one staging buffer, ONE submit and ONE readback. The host then
 * holds the current network (the readback is copied into the NetworkState), applies the
 * growth requests of the batch with kernels/growth.ts, and uploads only what growth changed.
 *
 * Growth that needs the allocator waits for the end of the batch. While the network is
 * empty almost every sample asks for some, so batches start at one sample and grow with the
 * samples trained (batchSizeAt); docs/architecture.md has the measured effect.
 */
import { type BoundData, JobCancelled } from '../contract.js';
import { COUNTER, REDUCTION_INTERVAL } from '../layout.js';
import type { NetworkState } from '../state.js';
import { assertUsable, type GpuSession } from './session.js';
import { type GpuNetwork } from './network.js';
import { packSamples, packedWords } from './data.js';
import { batchParamWords } from './params.js';
import { GROWTH_HEADER, GROWTH_REQUEST } from './records.js';
import { applyRequests, decodeRequests, releaseEmptied, requestBounds } from './growth-log.js';
import { maybeCompact } from '../growth.js';
import { fieldOf } from './plan.js';
import { MapMode } from './gpu.js';

/** Samples per batch once the network has trained enough (one submit and one readback per
 *  this many samples). */
export const MAX_TRAIN_BATCH = 256;
/** While warming up, a batch holds at most samplesTrained / WARMUP_DIVISOR samples. */
export const WARMUP_DIVISOR = 4;

/** Batch size for a network that has trained `samplesTrained` samples. */
export function batchSizeAt(samplesTrained: number, maxBatch = MAX_TRAIN_BATCH, reduction = false, warmupDivisor = WARMUP_DIVISOR): number {
  let k = Math.max(1, Math.min(maxBatch, Math.floor(samplesTrained / warmupDivisor)));
  // The CPU reduces right after the growth of every REDUCTION_INTERVAL-th sample: a batch
  // ends there, so the reduction pass (its own submission) sees the same network.
  if (reduction) k = Math.min(k, REDUCTION_INTERVAL - (samplesTrained % REDUCTION_INTERVAL));
  return k;
}

export interface GpuTrainOptions {
  /** Dataset rows in training order (epochs already unrolled). */
  rows: ArrayLike<number>;
  maxBatch?: number;
  /** Warm-up: a batch holds at most samplesTrained / warmupDivisor samples (measurements). */
  warmupDivisor?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
  /** Between two batches, with `state` current (the host copy): short reads of the network. */
  between?: () => Promise<void> | undefined;
  /** Receives each trained row's output values from its forward pass (before it learned):
   *  dataset row r at (r − firstRow) × totalWidth; a row trained again overwrites its values.
   *  They come back with the batch's readback. */
  outputs?: { values: Float32Array; firstRow: number };
}

const HEADER = {
  cursor: fieldOf(GROWTH_HEADER, 'cursor'),
  appended: fieldOf(GROWTH_HEADER, 'appended'),
  removed: fieldOf(GROWTH_HEADER, 'removed'),
  dropped: fieldOf(GROWTH_HEADER, 'dropped'),
  visits: fieldOf(GROWTH_HEADER, 'visits'),
};

/** Trains `state` (whose GPU copy `network` holds) on the given rows. On return — also after
 *  a cancellation between batches (JobCancelled) — `state` is the current network. */
export async function trainOnGpu(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, options: GpuTrainOptions): Promise<{ visits: number }> {
  const total = options.rows.length;
  let done = 0;
  let visits = 0;
  while (done < total) {
    if (options.signal?.aborted) throw new JobCancelled(state);
    const key = state.counters[COUNTER.samplesTrained]!;
    const k = Math.min(total - done, batchSizeAt(key, options.maxBatch, state.enableReduction, options.warmupDivisor));
    const rows = Array.from({ length: k }, (_, j) => options.rows[done + j]!);
    visits += await session.lock.run(async () => {
      const batchVisits = await trainBatch(session, network, state, data, rows, options.outputs);
      if (state.enableReduction && state.counters[COUNTER.samplesTrained]! % REDUCTION_INTERVAL === 0) await reduceOnGpu(session, network, state, data);
      return batchVisits;
    });
    done += k;
    options.onProgress?.(done, total);
    if (done < total) await options.between?.();
  }
  return { visits };
}

/** One batch; resolves with the synapse visits it made. */
async function trainBatch(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, rows: number[], outputs: GpuTrainOptions['outputs']): Promise<number> {
  assertUsable(session);
  const { device } = session.context;
  const counters = session.counters;
  const k = rows.length;
  const firstKey = state.counters[COUNTER.samplesTrained]!;
  const bounds = requestBounds(state, k);
  // This job's columns: a prediction may have run in the `between` hook with its own.
  network.setInputs(state, data.inputMap);
  network.ensureScratch({ slots: 1, valueRows: k, sampleWords: packedWords(data, network.layout, k, true), growthRecords: bounds.capacity }, state);
  const packed = packSamples(state, network.layout, data, rows, true);
  network.writeSamples(packed.words);
  const width = network.layout.totalWidth;
  network.writeParams(
    batchParamWords({
      count: k,
      firstKey,
      seed: state.seed,
      spiking: state.spiking ? 1 : 0,
      reinforce: state.enableReduction ? 1 : 0,
      sectionCount: state.counters[COUNTER.sectionCount]!,
      rowWords: packed.rowWords,
      inputBytes: packed.inputBytes ? 1 : 0,
      targetsOffset: packed.targetsOffset,
      cellsPerSlot: network.layout.cellsPerSlot,
      totalWidth: width,
      gradBase: width,
      valueBase: 2 * width,
      growthCapacity: network.growthRecords,
      refractoryTime: state.refractoryTime,
      cooldown: state.neuronCooldown,
    }),
  );

  const encoder = device.createCommandEncoder();
  network.encodeClearScratch(encoder, state, 1);
  const pass = encoder.beginComputePass();
  pass.setPipeline(session.pipelines.pipelines.train_batch);
  pass.setBindGroup(0, network.getBindGroup());
  pass.dispatchWorkgroups(1);
  pass.end();
  const window = Math.min(bounds.expected, network.growthRecords);
  // The output values train_batch keeps per sample (output.wgsl writes them at valueBase +
  // sample × totalWidth) ride along in the same readback when the caller wants them.
  const values = outputs && width > 0 ? { byteOffset: 2 * width * 4, bytes: k * width * 4 } : undefined;
  const { staging, layout } = network.encodeReadback(encoder, state, window, state.spiking, values);
  device.queue.submit([encoder.finish()]);
  counters.dispatches++;
  counters.submits++;
  await staging.mapAsync(MapMode.READ, 0, layout.total);
  counters.readbacks++;
  try {
    const mapped = staging.getMappedRange(0, layout.total);
    const header = new Uint32Array(mapped, layout.growth.offset, GROWTH_HEADER.stride);
    const made = header[HEADER.cursor]!;
    const appended = header[HEADER.appended]!;
    const removed = header[HEADER.removed]!;
    const dropped = header[HEADER.dropped]!;
    const kept = Math.min(made, network.growthRecords);
    let records = new Uint32Array(mapped, layout.growth.offset + GROWTH_HEADER.stride * 4, Math.min(kept, window) * GROWTH_REQUEST.stride);
    if (kept > window) {
      // More requests than expected: fetch the rest (a second readback, counted).
      const rest = await network.read('growth', (GROWTH_HEADER.stride + window * GROWTH_REQUEST.stride) * 4, (kept - window) * GROWTH_REQUEST.stride * 4);
      const all = new Uint32Array(kept * GROWTH_REQUEST.stride);
      all.set(records);
      all.set(rest, records.length);
      records = all;
    }
    const snapshot = network.applyReadback(state, mapped, layout);
    const c = state.counters;
    c[COUNTER.synapseCount] = c[COUNTER.synapseCount]! + appended - removed;
    c[COUNTER.synapsesRemoved] = c[COUNTER.synapsesRemoved]! + removed;
    const requests = decodeRequests(records, kept);
    applyRequests(state, requests, firstKey);
    c[COUNTER.samplesTrained] = firstKey + k;
    counters.batches++;
    counters.trainSamples += k;
    counters.growthRequests += requests.length;
    counters.droppedRequests += dropped;
    if (outputs && layout.values) {
      const trained = new Float32Array(mapped, layout.values.offset, k * width);
      rows.forEach((row, j) => outputs.values.set(trained.subarray(j * width, (j + 1) * width), (row - outputs.firstRow) * width));
    }
    network.commit(state, data.inputMap, snapshot);
    return header[HEADER.visits]!;
  } finally {
    staging.unmap();
  }
}

/** The reduction pass (kernels/reduction.wgsl) as its own submission, after the host applied
 *  the growth of the sample that ends a reduction interval: the same order as the CPU's
 *  growAfterSample. Emptied sections are freed here with kernels/growth.ts. */
async function reduceOnGpu(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData): Promise<void> {
  const { device } = session.context;
  const counters = session.counters;
  network.writeParams(batchParamWords({ sectionCount: state.counters[COUNTER.sectionCount]!, cellsPerSlot: network.layout.cellsPerSlot, totalWidth: network.layout.totalWidth }));
  const encoder = device.createCommandEncoder();
  encoder.clearBuffer(network.buffer('growth'), 0, GROWTH_HEADER.stride * 4);
  const pass = encoder.beginComputePass();
  pass.setPipeline(session.pipelines.pipelines.step_reduce);
  pass.setBindGroup(0, network.getBindGroup());
  pass.dispatchWorkgroups(1);
  pass.end();
  const { staging, layout } = network.encodeReadback(encoder, state, 0);
  device.queue.submit([encoder.finish()]);
  counters.dispatches++;
  counters.submits++;
  await staging.mapAsync(MapMode.READ, 0, layout.total);
  counters.readbacks++;
  try {
    const mapped = staging.getMappedRange(0, layout.total);
    const removed = new Uint32Array(mapped, layout.growth.offset, GROWTH_HEADER.stride)[HEADER.removed]!;
    const snapshot = network.applyReadback(state, mapped, layout);
    const c = state.counters;
    c[COUNTER.synapseCount] = c[COUNTER.synapseCount]! - removed;
    c[COUNTER.synapsesRemoved] = c[COUNTER.synapsesRemoved]! + removed;
    releaseEmptied(state);
    maybeCompact(state);
    network.commit(state, data.inputMap, snapshot);
  } finally {
    staging.unmap();
  }
}
