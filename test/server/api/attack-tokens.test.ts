/**
 * Issue 13, finding 8a: a token with a valid signature but no `exp` was accepted for ever.
 * Now a token must carry an `exp`, and one no further out than the configured lifetime
 * (HANAMI_TOKEN_TTL, plus a minute for clocks) allows — on HTTP and on the Socket.IO
 * handshake alike (one verifier).
 */
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import { after, before, describe, it } from 'node:test';
import { ADMIN_NAME, assertProblem, request, startTestService, type TestService } from './helpers.js';

describe('attack: tokens without expiry', () => {
  let t: TestService;
  let claims: Record<string, unknown>;

  before(async () => {
    t = await startTestService({ tokenTtlSeconds: 600 });
    const admin = await t.service.services.store.users.findByName(ADMIN_NAME);
    assert.ok(admin);
    claims = { sub: admin.id, name: admin.name, admin: true, tv: admin.tokenVersion };
  });
  after(() => t.close());

  const sign = (extra: Record<string, unknown>): string => jwt.sign({ ...claims, ...extra }, t.service.services.tokens.key, { algorithm: 'HS256', issuer: 'hanami' });

  it('refuses a properly signed token without exp, over HTTP and on the Socket.IO handshake', async () => {
    const forever = sign({});
    assert.equal(jwt.decode(forever, { json: true })?.exp, undefined);
    assert.match(String(assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: forever }), 401, 'unauthorized').detail), /no expiry/);
    // A second time too: nothing remembers it as verified.
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: forever }), 401, 'unauthorized');
    await assert.rejects(t.service.services.authenticator.verifyToken(forever), /no expiry/);
  });

  it('refuses an exp further out than the configured lifetime allows', async () => {
    const now = Math.floor(Date.now() / 1000);
    const decade = sign({ exp: now + 10 * 365 * 24 * 3600 });
    assert.match(String(assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: decade }), 401, 'unauthorized').detail), /HANAMI_TOKEN_TTL 600/);
    const justOver = sign({ exp: now + 600 + 120 });
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: justOver }), 401, 'unauthorized');
  });

  it('accepts what the service issues and renews', async () => {
    const now = Math.floor(Date.now() / 1000);
    assert.equal((await request(t.url, 'GET', '/v1/users/me', { token: sign({ exp: now + 600 }) })).status, 200);
    assert.equal((await t.admin.send('GET', '/v1/users/me')).status, 200);
    assert.equal((await t.admin.send('POST', '/v1/auth/renew')).status, 200);
  });
});
