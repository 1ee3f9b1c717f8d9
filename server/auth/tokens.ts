/**
 * Access tokens: HS256 JWTs with the claims `sub` (user id), `name`, `admin` and `tv` (the
 * user's token version). Every request re-reads the user and compares `tv`, so changing a
 * passphrase or deleting a user revokes every token issued before (docs/security.md).
 */
import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { User } from '../store/types.js';

export const TOKEN_ISSUER = 'hanami';

export interface TokenClaims {
  sub: string;
  name: string;
  admin: boolean;
  tv: number;
}

export interface IssuedToken {
  token: string;
  expiresAt: string;
}

export class TokenService {
  /**
   * A KeyObject, not the string: jsonwebtoken first tries to parse a string key as a PEM
   * public key and catches the failure, which costs ~0.5 ms per verification
   * (shared research, stack.md §2).
   */
  readonly key: KeyObject;

  constructor(
    secret: string,
    readonly ttlSeconds: number,
  ) {
    this.key = createSecretKey(Buffer.from(secret, 'utf8'));
  }

  issue(user: User): IssuedToken {
    const claims: TokenClaims = { sub: user.id, name: user.name, admin: user.isAdmin, tv: user.tokenVersion };
    const token = jwt.sign(claims, this.key, { algorithm: 'HS256', expiresIn: this.ttlSeconds, issuer: TOKEN_ISSUER });
    return { token, expiresAt: new Date(Date.now() + this.ttlSeconds * 1000).toISOString() };
  }
}

/** Narrows a verified payload to our claims (a token signed with our key but another shape is refused). */
export function asTokenClaims(payload: unknown): TokenClaims | undefined {
  if (typeof payload !== 'object' || payload === null) return undefined;
  const p = payload as Record<string, unknown>;
  if (typeof p.sub !== 'string' || typeof p.name !== 'string' || typeof p.admin !== 'boolean' || typeof p.tv !== 'number') return undefined;
  return { sub: p.sub, name: p.name, admin: p.admin, tv: p.tv };
}
