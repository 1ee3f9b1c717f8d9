/**
 * Promises nobody waits for, made explicit. The linter refuses a floating promise and a
 * failure swallowed without a word (`.catch(() => undefined)`); these two say what happens
 * instead. In kernels/ because that room imports nothing, so every room can use them.
 */

/** Starts `work` without waiting for it; `onFailure` is told if it fails. */
export function inBackground(work: Promise<unknown>, onFailure: (error: unknown) => void): void {
  work.then(undefined, onFailure);
}

/**
 * Lets `work` fail without consequence, and resolves either way. `why` says why a failure may
 * be ignored (for the reader: best-effort cleanup, a promise that cannot reject, ...).
 */
export function ignoreFailure(work: Promise<unknown>, why: string): Promise<void> {
  return work.then(
    () => undefined,
    () => {
      // Ignored on purpose; see `why` at the call site.
      void why;
    },
  );
}
