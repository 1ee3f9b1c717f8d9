/**
 * Per-account back-off for logins, on top of the per-address rate limit (rate-limit.ts).
 *
 * The per-address limit alone let an attacker with many source addresses guess one account's
 * passphrase without ever being slowed down. Here failed logins are counted per user name
 * (known or not: unknown names are treated alike, so the answers do not tell which exist):
 * after `freeFailures` failures in a row, the name is locked for 1 s, then 2, 4, 8, ... up to
 * `maxLockSeconds`, counted from the last failure. While it is locked, a login for that name
 * is answered 429 with Retry-After at once, without checking the passphrase (so it costs no
 * scrypt work either). A success clears the count; so do `resetAfterMs` without failures.
 *
 * The trade-off: an attacker who knows a user name can keep it locked by guessing again
 * whenever the lock ends, which would lock its owner out. Two things bound that:
 * - the lock never lasts longer than `maxLockSeconds` (HANAMI_LOGIN_BACKOFF_MAX_SECONDS,
 *   60 s by default): a user waits at most that long between tries, and the attacker gets at
 *   most one guess per that time for the account (1,440 a day at 60 s), however many
 *   addresses they use;
 * - an address from which the account logged in successfully before (remembered per
 *   process, at most KNOWN_ADDRESSES_PER_NAME per name) is not held back by the lock: its
 *   logins are checked as usual (the per-address rate limit still applies to it). The
 *   attacker, on other addresses, cannot use that way in.
 * State is per process: with several replicas behind a load balancer, each keeps its own.
 */

export interface LoginBackoffOptions {
  /** Failures in a row before the first lock (HANAMI_LOGIN_BACKOFF_AFTER). */
  freeFailures: number;
  /** The longest lock, in seconds (HANAMI_LOGIN_BACKOFF_MAX_SECONDS). */
  maxLockSeconds: number;
  /** Failures are forgotten after this long without a new one. */
  resetAfterMs?: number;
  now?: () => number;
}

interface NameState {
  failures: number;
  lastFailure: number;
  lockedUntil: number;
}

/** Names tracked at most (the oldest are forgotten first): random names must not fill memory. */
const MAX_NAMES = 100_000;
/** Addresses remembered per name as ones it logged in from. */
export const KNOWN_ADDRESSES_PER_NAME = 16;
/** Names whose known addresses are remembered. */
const MAX_KNOWN_NAMES = 100_000;

export type BackoffDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class LoginBackoff {
  private readonly states = new Map<string, NameState>();
  private readonly known = new Map<string, string[]>();
  private readonly freeFailures: number;
  private readonly maxLockMs: number;
  private readonly resetAfterMs: number;
  private readonly now: () => number;

  constructor(options: LoginBackoffOptions) {
    this.freeFailures = options.freeFailures;
    this.maxLockMs = options.maxLockSeconds * 1000;
    this.resetAfterMs = options.resetAfterMs ?? 15 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Whether a login for `name` from `address` may be checked now. */
  check(name: string, address: string): BackoffDecision {
    const state = this.current(name);
    if (!state || state.lockedUntil <= this.now()) return { allowed: true };
    if (this.known.get(name)?.includes(address)) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((state.lockedUntil - this.now()) / 1000)) };
  }

  failed(name: string): void {
    const now = this.now();
    const state = this.current(name) ?? { failures: 0, lastFailure: now, lockedUntil: 0 };
    state.failures++;
    state.lastFailure = now;
    const over = state.failures - this.freeFailures;
    if (over > 0) state.lockedUntil = now + Math.min(this.maxLockMs, 1000 * 2 ** Math.min(over - 1, 30));
    this.states.delete(name);
    this.states.set(name, state);
    if (this.states.size > MAX_NAMES) this.states.delete(this.states.keys().next().value!);
  }

  succeeded(name: string, address: string): void {
    this.states.delete(name);
    const addresses = (this.known.get(name) ?? []).filter((a) => a !== address);
    addresses.push(address);
    if (addresses.length > KNOWN_ADDRESSES_PER_NAME) addresses.shift();
    this.known.delete(name);
    this.known.set(name, addresses);
    if (this.known.size > MAX_KNOWN_NAMES) this.known.delete(this.known.keys().next().value!);
  }

  /** The name's state, or undefined once its failures are old enough to forget. */
  private current(name: string): NameState | undefined {
    const state = this.states.get(name);
    if (state && this.now() - state.lastFailure > this.resetAfterMs && state.lockedUntil <= this.now()) {
      this.states.delete(name);
      return undefined;
    }
    return state;
  }
}
