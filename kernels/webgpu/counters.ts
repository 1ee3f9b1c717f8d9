/**
 * What the WebGPU backend did, counted for the shape figures of docs/performance.md: compute
 * dispatches, queue submits, buffer readbacks (mapAsync) and the bytes moved each way.
 */
export interface TransferCounters {
  dispatches: number;
  submits: number;
  readbacks: number;
  bytesReadBack: number;
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

export function newTransferCounters(): TransferCounters {
  return { dispatches: 0, submits: 0, readbacks: 0, bytesReadBack: 0, bytesUploaded: 0, sampleBytesUploaded: 0, batches: 0, trainSamples: 0, predictSamples: 0, growthRequests: 0, droppedRequests: 0 };
}

/** Counter differences (after − before). */
export function countersSince(before: TransferCounters, after: TransferCounters): TransferCounters {
  const out = newTransferCounters();
  for (const k of Object.keys(out) as (keyof TransferCounters)[]) out[k] = after[k] - before[k];
  return out;
}
