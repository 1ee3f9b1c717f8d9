/**
 * Inference on the GPU. Non-spiking networks: up to `slots` samples in ONE dispatch of
 * `infer_batch`, one workgroup per sample, each with its own scratch slot, all reading the same
 * network; one submit and one readback of the output values per batch. Spiking networks carry
 * potentials from sample to sample, so `infer_sequential` runs their rows in order in one
 * workgroup, and the carried state is read back into the host's network afterwards.
 */
import type { BoundData } from '../contract.js';
import { NEURON_STRIDE } from '../layout.js';
import type { NetworkState } from '../state.js';
import { assertUsable, type GpuSession } from './session.js';
import type { GpuNetwork } from './network.js';
import { packSamples, packedWords } from './data.js';
import { batchParamWords } from './params.js';
import { MapMode } from './gpu.js';
import { GROWTH_HEADER, NEURON_CELL } from './records.js';
import { fieldOf } from './plan.js';

const VISITS = fieldOf(GROWTH_HEADER, 'visits');

/** Samples per dispatch unless asked otherwise. */
export const DEFAULT_INFER_BATCH = 1024;

/** Scratch a slot needs: its neuron cells, their accumulators and output cells. */
function bytesPerSlot(network: GpuNetwork): number {
  return network.layout.cellsPerSlot * (NEURON_CELL.stride + 2) * 4 + network.layout.totalWidth * 12;
}

export interface GpuPredictOptions {
  from: number;
  to: number;
  /** Samples per dispatch (default DEFAULT_INFER_BATCH, fewer when scratch would not fit). */
  batch?: number;
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** Writes rows [from, to) forward to `out` (row-major, totalWidth values per row). */
export async function predictOnGpu(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, out: Float32Array, options: GpuPredictOptions): Promise<{ visits: number }> {
  const total = options.to - options.from;
  const fit = Math.max(1, Math.floor(session.context.maxStorageBindingBytes / Math.max(1, bytesPerSlot(network))));
  const chunk = Math.max(1, Math.min(options.batch ?? DEFAULT_INFER_BATCH, fit, session.context.maxWorkgroupsPerDimension));
  let visits = 0;
  for (let done = 0; done < total;) {
    if (options.signal?.aborted) throw new Error('cancelled');
    const n = Math.min(chunk, total - done);
    const first = options.from + done;
    visits += await session.lock.run(() => predictBatch(session, network, state, data, first, n, out.subarray(done * network.layout.totalWidth, (done + n) * network.layout.totalWidth)));
    done += n;
    options.onProgress?.(done, total);
  }
  return { visits };
}

/** One dispatch of up to `slots` samples; resolves with the synapse visits it made. */
async function predictBatch(session: GpuSession, network: GpuNetwork, state: NetworkState, data: BoundData, first: number, n: number, out: Float32Array): Promise<number> {
  assertUsable(session);
  const { device } = session.context;
  const counters = session.counters;
  const sequential = state.spiking;
  const slots = sequential ? 1 : n;
  const width = network.layout.totalWidth;
  // This job's columns: another job of the cluster may have run between two of its batches.
  network.setInputs(state, data.inputMap);
  network.ensureScratch({ slots, valueRows: n, sampleWords: packedWords(data, network.layout, n, false), growthRecords: 0 }, state);
  const rows = Array.from({ length: n }, (_, j) => first + j);
  const packed = packSamples(state, network.layout, data, rows, false);
  network.writeSamples(packed.words);
  network.writeParams(
    batchParamWords({
      count: n,
      seed: state.seed,
      spiking: state.spiking ? 1 : 0,
      rowWords: packed.rowWords,
      inputBytes: packed.inputBytes ? 1 : 0,
      cellsPerSlot: network.layout.cellsPerSlot,
      totalWidth: width,
      gradBase: slots * width,
      valueBase: 2 * slots * width,
      refractoryTime: state.refractoryTime,
      cooldown: state.neuronCooldown,
    }),
  );
  const encoder = device.createCommandEncoder();
  // Growth a training job between two of its batches queued for the network (a prediction
  // from its `between` hook) comes first.
  network.flush(encoder);
  network.encodeClearScratch(encoder, state, slots);
  const pass = encoder.beginComputePass();
  pass.setPipeline(sequential ? session.pipelines.pipelines.infer_sequential : session.pipelines.pipelines.infer_batch);
  pass.setBindGroup(0, network.getBindGroup());
  pass.dispatchWorkgroups(sequential ? 1 : n);
  pass.end();
  // One staging buffer: the growth log header (visits), the output values, and for spiking
  // networks the neuron records.
  const headerBytes = GROWTH_HEADER.stride * 4;
  const valueBytes = n * width * 4;
  const neuronBytes = sequential ? network.layout.cellsPerSlot * NEURON_STRIDE * 4 : 0;
  const totalBytes = headerBytes + valueBytes + neuronBytes;
  const staging = network.stagingBuffer(totalBytes);
  encoder.copyBufferToBuffer(network.buffer('growth'), 0, staging, 0, headerBytes);
  if (valueBytes > 0) encoder.copyBufferToBuffer(network.buffer('outcells'), 2 * slots * width * 4, staging, headerBytes, valueBytes);
  if (neuronBytes > 0) encoder.copyBufferToBuffer(network.buffer('neurons'), 0, staging, headerBytes + valueBytes, neuronBytes);
  network.submit(encoder);
  counters.dispatches++;
  await staging.mapAsync(MapMode.READ, 0, totalBytes);
  counters.readbacks++;
  counters.bytesReadBack += totalBytes;
  counters.predictSamples += n;
  try {
    const mapped = staging.getMappedRange(0, totalBytes);
    out.set(new Float32Array(mapped, headerBytes, n * width));
    // Spiking: the potentials carried into the next call live in the neuron records.
    if (neuronBytes > 0) network.adoptNeurons(state, new Uint32Array(mapped, headerBytes + valueBytes, neuronBytes / 4));
    return new Uint32Array(mapped, 0, GROWTH_HEADER.stride)[VISITS]!;
  } finally {
    staging.unmap();
  }
}
