/**
 * What the WebGPU jobs share on one device: the context, the pipelines, the transfer
 * counters, and a FIFO lock so that jobs of several clusters take turns batch by batch (a
 * training job never holds the device for more than one batch while others wait).
 */
import type { TransferCounters } from '../contract.js';
import type { GpuContext } from './gpu.js';
import type { GpuPipelines } from './pipelines.js';

export class DeviceLock {
  private tail: Promise<void> = Promise.resolve();

  /** Runs `work` after every piece of work queued before it. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

export interface GpuSession {
  context: GpuContext;
  pipelines: GpuPipelines;
  counters: TransferCounters;
  lock: DeviceLock;
}

/** Fails with the device-lost reason instead of a Dawn error deep inside a job. */
export function assertUsable(session: GpuSession): void {
  if (session.context.lost) throw new Error(session.context.lost);
}
