/**
 * Bearer-token authentication with passport-jwt, for HTTP and Socket.IO: the one place tokens
 * are verified. One Passport instance per service (not the global singleton), so several
 * services can live in one process (tests do).
 */
import type { Request, Response } from 'express';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { NotFoundError, type Store, type User } from '../store/types.js';
import { DomainError } from '../errors.js';
import { asTokenClaims, TOKEN_ISSUER, type TokenClaims, type TokenService } from './tokens.js';

/** What a valid token proves: who the caller is now (re-read from the store). */
export type AuthenticatedUser = User;

/** How many verified tokens are remembered (oldest forgotten first). */
const VERIFIED_TOKENS = 4096;

/** Clock difference between issuing replicas tolerated when an `exp` is checked against the TTL. */
export const EXPIRY_SKEW_SECONDS = 60;

/**
 * Why a signed token's lifetime is not acceptable, or undefined when it is. A token without
 * `exp` would be valid for ever (jsonwebtoken accepts it: `exp` is optional in JWT), and one
 * whose `exp` lies further out than the configured TTL cannot have been issued by this
 * service as configured (a leaked key, or a TTL since shortened): both are refused.
 */
export function lifetimeProblem(payload: unknown, ttlSeconds: number, nowMs = Date.now()): string | undefined {
  const exp = (payload as { exp?: unknown }).exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) return 'the token has no expiry ("exp"); log in again';
  if (exp * 1000 > nowMs + (ttlSeconds + EXPIRY_SKEW_SECONDS) * 1000) {
    return `the token expires later than the token lifetime allows (HANAMI_TOKEN_TTL ${ttlSeconds} s); log in again`;
  }
  return undefined;
}

interface Verified {
  claims: TokenClaims;
  /** When the token expires (ms since the epoch). */
  expiresAt: number;
}

/**
 * The user a verified token's claims stand for now, or why they no longer do (user deleted,
 * token version bumped by a passphrase or admin-flag change). HTTP and Socket.IO both ask this.
 */
async function tokenUser(store: Store, claims: TokenClaims): Promise<User | string> {
  try {
    const user = await store.users.get(claims.sub);
    return user.tokenVersion === claims.tv ? user : 'the token was revoked (passphrase changed or user disabled); log in again';
  } catch (error) {
    if (error instanceof NotFoundError) return 'the user of this token no longer exists';
    throw error;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/**
 * Tokens are verified by passport-jwt (signature, algorithm, issuer, expiry) the first time
 * they are seen; a token verified before is recognised by its exact text until it expires,
 * which skips the HMAC and JSON decoding on a client's next requests (~40 µs each). The user
 * is re-read and the token version compared on every request either way, so revocation
 * (passphrase change, user disabled or deleted) acts at once.
 */
export class Authenticator {
  private readonly passport = new passport.Passport();
  private readonly verified = new Map<string, Verified>();
  private readonly claimsOf = new WeakMap<Request, Verified>();

  constructor(
    tokens: TokenService,
    private readonly store: Store,
  ) {
    this.passport.use(
      new JwtStrategy(
        {
          jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
          // passport-jwt's types only admit strings and Buffers, but it hands the key to
          // jsonwebtoken, which takes a KeyObject (the fast path; see tokens.ts).
          secretOrKey: tokens.key as unknown as Buffer,
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
          passReqToCallback: true,
        },
        (req: Request, payload: unknown, done: (error: unknown, user?: User | false, info?: { message: string }) => void) => {
          const claims = asTokenClaims(payload);
          if (!claims) {
            done(null, false, { message: 'the token does not carry Hanami claims' });
            return;
          }
          const lifetime = lifetimeProblem(payload, tokens.ttlSeconds);
          if (lifetime) {
            done(null, false, { message: lifetime });
            return;
          }
          const exp = (payload as { exp: number }).exp;
          this.claimsOf.set(req, { claims, expiresAt: exp * 1000 });
          this.userOf(claims).then(
            (outcome) => (typeof outcome === 'string' ? done(null, false, { message: outcome }) : done(null, outcome)),
            (error: unknown) => done(error),
          );
        },
      ),
    );
  }

  private userOf(claims: TokenClaims): Promise<User | string> {
    return tokenUser(this.store, claims);
  }

  /** The caller behind the request's bearer token, or a 401 problem saying why not. */
  async authenticate(req: Request, res: Response): Promise<AuthenticatedUser> {
    const token = BEARER.exec(req.headers.authorization ?? '')?.[1];
    const known = token === undefined ? undefined : this.verified.get(token);
    if (known) {
      if (known.expiresAt > Date.now()) {
        const outcome = await this.userOf(known.claims);
        if (typeof outcome === 'string') throw unauthorized(`invalid token: ${outcome}`);
        return outcome;
      }
      this.verified.delete(token!);
    }
    const user = await new Promise<User>((resolve, reject) => {
      const handler = this.passport.authenticate('jwt', { session: false }, (error: unknown, found: User | false | undefined, info: unknown) => {
        if (error) reject(error);
        else if (found) resolve(found);
        else reject(unauthorizedFor(req, info));
      }) as (req: Request, res: Response, next: (error?: unknown) => void) => void;
      handler(req, res, (error?: unknown) => reject(error ?? unauthorized('authentication failed')));
    });
    const verified = this.claimsOf.get(req);
    if (token !== undefined && verified) this.remember(token, verified);
    return user;
  }

  /**
   * The caller behind a token that did not come in an HTTP request (the Socket.IO handshake's
   * `auth: { token }`): the same checks as HTTP, through the same passport strategy and the
   * same cache of verified tokens, and the same `unauthorized` errors.
   */
  verifyToken(token: string): Promise<AuthenticatedUser> {
    const req = { headers: { authorization: `Bearer ${token}` } } as unknown as Request;
    return this.authenticate(req, {} as Response);
  }

  private remember(token: string, verified: Verified): void {
    if (this.verified.size >= VERIFIED_TOKENS) {
      // Expired ones first; then the oldest remembered (Map keeps insertion order).
      const now = Date.now();
      for (const [t, v] of this.verified) if (v.expiresAt <= now) this.verified.delete(t);
      if (this.verified.size >= VERIFIED_TOKENS) this.verified.delete(this.verified.keys().next().value!);
    }
    this.verified.set(token, verified);
  }
}

function unauthorized(message: string): DomainError {
  return new DomainError('unauthorized', message);
}

function unauthorizedFor(req: Request, info: unknown): DomainError {
  if (!req.headers.authorization) return unauthorized('this endpoint needs a token: send "Authorization: Bearer <token>" (POST /v1/auth/login gives one)');
  const message = info instanceof Error ? info.message : typeof info === 'object' && info !== null && 'message' in info ? String(info.message) : 'invalid token';
  return unauthorized(`invalid token: ${message}`);
}
