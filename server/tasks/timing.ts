/**
 * Timers of the task runtime: its background rounds (lease renewal, store polls) and waiting
 * with a limit (graceful stop).
 */
import type { Logger } from 'pino';

/** Rounds that run again and again in the background, each `ms` after the previous one ended. */
export class BackgroundRounds {
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Rounds in flight (a stop waits for them). */
  private readonly running = new Set<Promise<unknown>>();

  constructor(private readonly logger: Logger) {}

  /** Runs `round` every `ms` (each after the previous one ended) until `over()`. */
  every(ms: number, over: () => boolean, round: () => Promise<unknown>): void {
    const schedule = (): void => {
      if (over()) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const running = round()
          .catch((e: unknown) => this.logger.warn({ err: e }, 'a background round of the task runtime failed; it runs again'))
          .finally(() => {
            this.running.delete(running);
            schedule();
          });
        this.running.add(running);
      }, ms);
      timer.unref();
      this.timers.add(timer);
    };
    schedule();
  }

  /** Waits for the rounds in flight. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.running]);
  }

  /** No further rounds (those in flight still finish). */
  cancel(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether `work` is still running after `ms`. */
export async function timedOut(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const result = await Promise.race([work.then(() => false), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), ms)))]);
  clearTimeout(timer);
  return result;
}
