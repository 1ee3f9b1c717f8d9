/**
 * The work-aware rate limit of direct I/O (issue 13, finding 5), per user over all their
 * sockets. It counts bytes of values (4 per number, inputs and targets), not calls:
 *
 * - **Bytes per second** (HANAMI_IO_BYTES_PER_SECOND): a token bucket charged before a call's
 *   values are copied or checked. Bounds the cost of receiving, copying and checking.
 * - **Bytes in flight** (HANAMI_IO_MAX_INFLIGHT_BYTES): bytes of the user's calls admitted and
 *   not yet answered. The work a call makes grows with its values (times the cluster's size),
 *   and a client that pipelines hundreds of large calls would queue all of them ahead of other
 *   users' calls; past this amount its next call is refused until earlier ones are answered.
 *   One call is always admitted when none is in flight, so a client that waits for its answers
 *   is never refused by it.
 *
 * A call over either limit is refused at once (`rate-limited`), never queued: the other users'
 * calls do not wait behind it.
 */
interface Bucket {
  left: number;
  at: number;
}

export interface BudgetLimits {
  bytesPerSecond: number;
  /** The byte bucket's size (at least one largest message). */
  byteBurst: number;
  maxInflightBytes: number;
}

export class UserBudgets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly inflight = new Map<string, number>();

  constructor(readonly limits: BudgetLimits) {}

  /** Admits a call carrying `bytes` (then `release` it once answered), or says which limit it
   *  is over. */
  admit(userId: string, bytes: number, now = Date.now()): 'bytes-per-second' | 'bytes-in-flight' | undefined {
    const busy = this.inflight.get(userId) ?? 0;
    if (busy > 0 && busy + bytes > this.limits.maxInflightBytes) return 'bytes-in-flight';
    let bucket = this.buckets.get(userId);
    if (!bucket) {
      bucket = { left: this.limits.byteBurst, at: now };
      this.buckets.set(userId, bucket);
    } else {
      bucket.left = Math.min(this.limits.byteBurst, bucket.left + ((now - bucket.at) * this.limits.bytesPerSecond) / 1000);
      bucket.at = now;
    }
    if (bucket.left < bytes) return 'bytes-per-second';
    bucket.left -= bytes;
    this.inflight.set(userId, busy + bytes);
    return undefined;
  }

  /** An admitted call was answered (or dropped with its socket). */
  release(userId: string, bytes: number): void {
    const left = (this.inflight.get(userId) ?? 0) - bytes;
    if (left > 0) this.inflight.set(userId, left);
    else this.inflight.delete(userId);
  }

  /** The user's last socket closed. */
  forget(userId: string): void {
    this.buckets.delete(userId);
    this.inflight.delete(userId);
  }
}
