/**
 * Bearer-token authentication with passport-jwt. One Passport instance per app (not the
 * global singleton), so several services can live in one process (tests do).
 */
import type { Request, Response } from 'express';
import passport from 'passport';
import { ExtractJwt, Strategy as JwtStrategy } from 'passport-jwt';
import { NotFoundError, type Store, type User } from '../store/types.js';
import { ApiError, unauthorized } from '../api/problem.js';
import { asTokenClaims, TOKEN_ISSUER, type TokenService } from './tokens.js';

/** What a valid token proves: who the caller is now (re-read from the store). */
export type AuthenticatedUser = User;

export class Authenticator {
  private readonly passport = new passport.Passport();

  constructor(tokens: TokenService, store: Store) {
    this.passport.use(
      new JwtStrategy(
        {
          jwtFromRequest: ExtractJwt.fromAuthHeaderAsBearerToken(),
          // passport-jwt's types only admit strings and Buffers, but it hands the key to
          // jsonwebtoken, which takes a KeyObject (the fast path; see tokens.ts).
          secretOrKey: tokens.key as unknown as Buffer,
          algorithms: ['HS256'],
          issuer: TOKEN_ISSUER,
        },
        (payload: unknown, done: (error: unknown, user?: User | false, info?: { message: string }) => void) => {
          const claims = asTokenClaims(payload);
          if (!claims) {
            done(null, false, { message: 'the token does not carry Hanami claims' });
            return;
          }
          store.users.get(claims.sub).then(
            (user) => {
              if (user.tokenVersion !== claims.tv) done(null, false, { message: 'the token was revoked (passphrase changed or user disabled); log in again' });
              else done(null, user);
            },
            (error: unknown) => {
              if (error instanceof NotFoundError) done(null, false, { message: 'the user of this token no longer exists' });
              else done(error);
            },
          );
        },
      ),
    );
  }

  /** The caller behind the request's bearer token, or a 401 problem saying why not. */
  authenticate(req: Request, res: Response): Promise<AuthenticatedUser> {
    return new Promise((resolve, reject) => {
      const handler = this.passport.authenticate('jwt', { session: false }, (error: unknown, user: User | false | undefined, info: unknown) => {
        if (error) reject(error);
        else if (user) resolve(user);
        else reject(unauthorizedFor(req, info));
      }) as (req: Request, res: Response, next: (error?: unknown) => void) => void;
      handler(req, res, (error?: unknown) => reject(error ?? unauthorized('authentication failed')));
    });
  }
}

function unauthorizedFor(req: Request, info: unknown): ApiError {
  if (!req.headers.authorization) return unauthorized('this endpoint needs a token: send "Authorization: Bearer <token>" (POST /v1/auth/login gives one)');
  const message = info instanceof Error ? info.message : typeof info === 'object' && info !== null && 'message' in info ? String((info as { message: unknown }).message) : 'invalid token';
  return unauthorized(`invalid token: ${message}`);
}
