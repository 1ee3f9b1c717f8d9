/**
 * Login (user name + passphrase → token) and token renewal. Logins are rate-limited per
 * client address (HANAMI_LOGIN_RATE per minute; the address is the socket's, or the one
 * trusted proxies give in X-Forwarded-For, HANAMI_TRUST_PROXY) and backed off per user name
 * after failures (auth/login-backoff.ts); a wrong name and a wrong passphrase get the same
 * answer in about the same time.
 */
import { Type } from '@sinclair/typebox';
import { verifyAgainstDummy, verifyPassphrase } from '../../auth/passphrase.js';
import { ApiError } from '../problem.js';
import { requestState } from '../request-state.js';
import { json, requirePrincipal, route } from '../route.js';
import { Closed, UserName } from '../schemas.js';
import { LoginResult, loginResult } from './users.js';

const Login = Closed({ name: UserName, passphrase: Type.String({ minLength: 1, maxLength: 1024 }) }, { title: 'Login' });

export const authRoutes = [
  route({
    method: 'post',
    path: '/v1/auth/login',
    operationId: 'login',
    summary: 'Log in: user name and passphrase give a token',
    description: 'The token expires after HANAMI_TOKEN_TTL seconds; renew it before with POST /v1/auth/renew.',
    tag: 'auth',
    access: 'public',
    body: Login,
    responses: { 200: { description: 'Logged in.', schema: LoginResult } },
    async handler({ body, req, services }) {
      const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
      const limit = services.loginLimiter.hit(address);
      if (!limit.allowed) {
        throw new ApiError('too_many_logins', `too many login attempts from this address; retry in ${limit.retryAfterSeconds} s`, { retryAfterSeconds: limit.retryAfterSeconds });
      }
      const backoff = services.loginBackoff.check(body.name, address);
      if (!backoff.allowed) {
        throw new ApiError('too_many_logins', `too many failed logins for this user name; retry in ${backoff.retryAfterSeconds} s`, { retryAfterSeconds: backoff.retryAfterSeconds });
      }
      const user = await services.store.users.findByName(body.name);
      const ok = user ? await verifyPassphrase(body.passphrase, user.passphraseHash) : await verifyAgainstDummy(body.passphrase);
      if (!user || !ok) {
        services.loginBackoff.failed(body.name);
        throw new ApiError('bad_credentials', 'unknown user name or wrong passphrase');
      }
      services.loginBackoff.succeeded(body.name, address);
      requestState(req).actingUserId = user.id;
      return json(200, LoginResult, loginResult(services, user));
    },
  }),
  route({
    method: 'post',
    path: '/v1/auth/renew',
    operationId: 'renewToken',
    summary: 'Exchange a valid token for a fresh one',
    tag: 'auth',
    access: 'user',
    responses: { 200: { description: 'A fresh token.', schema: LoginResult } },
    async handler({ principal, services }) {
      return json(200, LoginResult, loginResult(services, await services.store.users.get(requirePrincipal(principal).userId)));
    },
  }),
];
