/**
 * Watching the service while something heavy happens: /healthz polled every 20 ms and the
 * process's RSS (the highest), for the issue-13 attack tests. The service runs in this
 * process, so a blocked event loop shows as a slow /healthz. The machine these tests run on
 * is shared (2 cores, other jobs), hence `withinTries`.
 */
export interface Watched<T> {
  result: T;
  slowestHealthMs: number;
  peakRss: number;
  polls: number;
}

/** What /healthz must answer within during an attack. */
export const HEALTH_TARGET_MS = 200;

/**
 * Runs `attempt` until it reports no timing failure, at most `tries` times: the margin for a
 * machine shared with other jobs, where the whole process is sometimes not scheduled for a
 * moment. A real stall (a parse on the event loop: seconds) fails every try. Correctness is
 * asserted inside `attempt`; it returns why its timing failed, or undefined.
 */
export async function withinTries(tries: number, attempt: (i: number) => Promise<string | undefined>): Promise<void> {
  const failures: string[] = [];
  for (let i = 0; i < tries; i++) {
    const failure = await attempt(i);
    if (failure === undefined) return;
    failures.push(failure);
  }
  throw new Error(`every try failed: ${failures.join('; ')}`);
}

export async function duringWork<T>(url: string, work: () => Promise<T>): Promise<Watched<T>> {
  const times: number[] = [];
  let peak = process.memoryUsage().rss;
  let polls = 0;
  let done = false;
  const poller = (async () => {
    while (!done) {
      const started = performance.now();
      const r = await fetch(`${url}/healthz`);
      await r.arrayBuffer();
      times.push(performance.now() - started);
      peak = Math.max(peak, process.memoryUsage().rss);
      polls++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  try {
    const result = await work();
    // The poll in flight when the work ended is counted too.
    done = true;
    await poller;
    return { result, slowestHealthMs: Math.max(0, ...times), peakRss: peak, polls };
  } finally {
    done = true;
    await poller;
  }
}
