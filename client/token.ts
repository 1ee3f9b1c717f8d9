/** What the client reads from a JWT (without checking it: the service does that). */

export interface TokenTimes {
  /** Seconds since the epoch. */
  issuedAt: number | undefined;
  expiresAt: number | undefined;
}

export function tokenTimes(token: string): TokenTimes {
  const payload = token.split('.')[1];
  if (!payload) return { issuedAt: undefined, expiresAt: undefined };
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iat?: unknown; exp?: unknown };
    return { issuedAt: typeof claims.iat === 'number' ? claims.iat : undefined, expiresAt: typeof claims.exp === 'number' ? claims.exp : undefined };
  } catch {
    return { issuedAt: undefined, expiresAt: undefined };
  }
}

/**
 * Whether a token should be renewed now: in the last quarter of its life (at most 5 minutes
 * before it expires), or once expired. Tokens without an expiry are never renewed early.
 */
export function dueForRenewal(token: string, nowMs = Date.now()): boolean {
  const { issuedAt, expiresAt } = tokenTimes(token);
  if (expiresAt === undefined) return false;
  const lifetime = issuedAt !== undefined ? expiresAt - issuedAt : 3600;
  const margin = Math.min(300, lifetime / 4);
  return nowMs / 1000 >= expiresAt - margin;
}

export function isExpired(token: string, nowMs = Date.now()): boolean {
  const { expiresAt } = tokenTimes(token);
  return expiresAt !== undefined && nowMs / 1000 >= expiresAt;
}
