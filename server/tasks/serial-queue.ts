/**
 * The order a cluster's work runs in: functions run one after another, each after the
 * previous one settled (a failure does not stop the queue; it surfaces on its own promise).
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined); // the caller sees the failure on `result`
    return result;
  }
}
