/**
 * Task progress into the store: written at most every `intervalMs`, in order. flush() writes
 * the latest value (so a cancelled task shows exactly the samples it completed) and stops
 * further writes.
 */
import { ignoreFailure } from '../../kernels/background.js';
export class ProgressWriter {
  private last = 0;
  private latest: { done: number; total: number } | undefined;
  private written: { done: number; total: number } | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly write: (done: number, total: number) => Promise<unknown>,
    private readonly intervalMs: number,
  ) {}

  report = (done: number, total: number): void => {
    if (this.closed) return;
    this.latest = { done, total };
    const now = Date.now();
    if (now - this.last < this.intervalMs) return;
    this.last = now;
    this.enqueue();
  };

  private enqueue(): void {
    const value = this.latest;
    if (!value || value === this.written) return;
    this.written = value;
    // Progress is best-effort; the task's final update after the run is not.
    this.chain = ignoreFailure(
      this.chain.then(() => this.write(value.done, value.total)),
      'progress is best-effort; the final update is not',
    );
  }

  /** Writes the latest value; later reports are ignored. */
  async flush(): Promise<void> {
    if (!this.closed) this.enqueue();
    this.closed = true;
    await this.chain;
  }
}
