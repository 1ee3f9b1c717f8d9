/**
 * The order a cluster's work runs in: functions run one after another, each after the
 * previous one settled (a failure does not stop the queue; it surfaces on its own promise).
 */
import { ignoreFailure } from '../../kernels/background.js';
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = ignoreFailure(result, 'the caller sees the failure on `result`; the queue goes on');
    return result;
  }
}
