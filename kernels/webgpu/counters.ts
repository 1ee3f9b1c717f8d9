/**
 * The WebGPU backend's transfer counters (the shape is part of the engine contract,
 * kernels/contract.ts): fresh ones, and the difference between two readings.
 */
import type { TransferCounters } from '../contract.js';

export type { TransferCounters };

export function newTransferCounters(): TransferCounters {
  return {
    dispatches: 0,
    submits: 0,
    readbacks: 0,
    bytesReadBack: 0,
    networkBytesReadBack: 0,
    bytesUploaded: 0,
    sampleBytesUploaded: 0,
    batches: 0,
    trainSamples: 0,
    predictSamples: 0,
    growthRequests: 0,
    droppedRequests: 0,
  };
}

/** Counter differences (after − before). */
export function countersSince(before: TransferCounters, after: TransferCounters): TransferCounters {
  const out = newTransferCounters();
  for (const k of Object.keys(out) as (keyof TransferCounters)[]) out[k] = after[k] - before[k];
  return out;
}
