/**
 * Whether the store can take writes, for /readyz. A full disk used to leave /readyz at 200
 * while every upload, task result and record change failed. Probing on every /readyz would
 * put a write (an fsync) on every probe of every load balancer, so instead:
 *
 * - every `intervalMs` (HANAMI_STORE_PROBE_MS), a 4 KiB blob is written and deleted again
 *   (the blob store shares the store's disk: the data folder with SQLite, GridFS with
 *   MongoDB);
 * - a request that hits a full disk (ENOSPC, EDQUOT, SQLITE_FULL, MongoDB's OutOfDiskSpace)
 *   marks the store unwritable at once (`sawFull`), and the next probe decides again.
 *
 * Until the first probe has finished, the store counts as writable.
 */
import { ignoreFailure } from '../../kernels/background.js';
import type { Store } from './types.js';

const PROBE_BYTES = 4096;

/** Error codes that mean "no space": the OS's, SQLite's and MongoDB's (14031 OutOfDiskSpace). */
const FULL_CODES = new Set<unknown>(['ENOSPC', 'EDQUOT', 'SQLITE_FULL', 14031, 'OutOfDiskSpace']);

/** The error, or one of its causes, says the disk (or a quota on it) is full. */
export function isStorageFull(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const x = e as { code?: unknown; codeName?: unknown; message?: unknown; cause?: unknown };
    if (FULL_CODES.has(x.code) || FULL_CODES.has(x.codeName)) return true;
    if (typeof x.message === 'string' && /\b(ENOSPC|EDQUOT|no space left on device|database or disk is full|disk quota exceeded)\b/i.test(x.message)) return true;
    e = x.cause;
  }
  return false;
}

/** The store's error code for a full disk, for messages (`ENOSPC`, `SQLITE_FULL`, ...). */
export function fullCode(error: unknown): string {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    const x = e as { code?: unknown; cause?: unknown };
    if (typeof x.code === 'string' && FULL_CODES.has(x.code)) return x.code;
    e = x.cause;
  }
  return 'ENOSPC';
}

export interface WriteState {
  writable: boolean;
  /** Why not, when not. */
  reason?: string;
  /** When it was last found out (ISO time), if ever. */
  checkedAt?: string;
}

export class StoreWriteProbe {
  private state: WriteState = { writable: true };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    // probe() records its failures as the store's state; it does not reject.
    ignoreFailure(this.probe(), 'probe() records its outcome itself');
    this.timer = setInterval(() => {
      ignoreFailure(this.probe(), 'probe() records its outcome itself');
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  get current(): WriteState {
    return this.state;
  }

  /** A request ran into a full disk: unwritable until a probe succeeds. */
  sawFull(error: unknown): void {
    this.state = { writable: false, reason: `${fullCode(error)}: the disk is full`, checkedAt: new Date().toISOString() };
  }

  /** Writes and deletes a small blob; one probe at a time. */
  probe(): Promise<void> {
    this.running ??= (async () => {
      try {
        const blob = await this.store.blobs.put(Buffer.alloc(PROBE_BYTES));
        await ignoreFailure(this.store.blobs.delete(blob.id), 'the write worked, which is what the probe asks; a probe blob left behind is tiny');
        this.state = { writable: true, checkedAt: new Date().toISOString() };
      } catch (error) {
        const reason = isStorageFull(error) ? `${fullCode(error)}: the disk is full` : error instanceof Error ? error.message : String(error);
        this.state = { writable: false, reason, checkedAt: new Date().toISOString() };
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }
}
