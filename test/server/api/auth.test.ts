/**
 * Authentication: login, tokens (signature, expiry, issuer, claims), revocation through the
 * token version, renewal, the login rate limit, scrypt storage and the initial admin.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { pino } from 'pino';
import { after, before, describe, it } from 'node:test';
import { verifyPassphrase } from '../../../server/auth/passphrase.js';
import { startService } from '../../../server/service.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, assertProblem, Client, memberOf, obj, request, startTestService, str, testConfig, type TestService } from './helpers.js';

describe('authentication', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  it('logs in with user name and passphrase and returns a bearer token for that user', async () => {
    const r = await request(t.url, 'POST', '/v1/auth/login', { json: { name: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE } });
    assert.equal(r.status, 200);
    const body = obj(r.body);
    assert.equal(body.tokenType, 'Bearer');
    assert.ok(Date.parse(str(body, 'expiresAt')) > Date.now() + 3000 * 1000, 'expires after about the configured hour');
    assert.equal(obj(body.user).name, ADMIN_NAME);
    assert.equal(obj(body.user).isAdmin, true);
    assert.equal(obj(body.user).passphraseHash, undefined, 'the hash never leaves the service');
    const me = await new Client(t.url, str(body, 'token')).expect(200, 'GET', '/v1/users/me');
    assert.equal(me.name, ADMIN_NAME);
  });

  it('gives the same 401 for an unknown user and a wrong passphrase', async () => {
    const wrong = await request(t.url, 'POST', '/v1/auth/login', { json: { name: ADMIN_NAME, passphrase: 'not-the-passphrase' } });
    const unknown = await request(t.url, 'POST', '/v1/auth/login', { json: { name: 'nobody', passphrase: 'not-the-passphrase' } });
    assert.equal(assertProblem(wrong, 401, 'bad_credentials').detail, assertProblem(unknown, 401, 'bad_credentials').detail);
  });

  it('stores passphrases as salted scrypt hashes', async () => {
    const user = await t.service.services.store.users.findByName(ADMIN_NAME);
    assert.ok(user);
    assert.match(user.passphraseHash, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.ok(!user.passphraseHash.includes(ADMIN_PASSPHRASE));
    assert.equal(await verifyPassphrase(ADMIN_PASSPHRASE, user.passphraseHash), true);
    assert.equal(await verifyPassphrase(`${ADMIN_PASSPHRASE}x`, user.passphraseHash), false);
    const a = await memberOf(t.admin, null, 'salt-a', 'member', 'same-passphrase');
    const b = await memberOf(t.admin, null, 'salt-b', 'member', 'same-passphrase');
    const ha = (await t.service.services.store.users.get(a.userId)).passphraseHash;
    const hb = (await t.service.services.store.users.get(b.userId)).passphraseHash;
    assert.notEqual(ha, hb, 'a per-user salt makes equal passphrases hash differently');
  });

  it('refuses requests without a token, with a bad signature, expired, or with foreign claims', async () => {
    assertProblem(await request(t.url, 'GET', '/v1/users/me'), 401, 'unauthorized');
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { headers: { authorization: 'Basic YWRtaW46eA==' } }), 401, 'unauthorized');
    const admin = await t.service.services.store.users.findByName(ADMIN_NAME);
    assert.ok(admin);
    const claims = { sub: admin.id, name: admin.name, admin: true, tv: admin.tokenVersion };
    const forged = jwt.sign(claims, 'a-different-key-of-at-least-32-characters', { algorithm: 'HS256', issuer: 'hanami', expiresIn: 60 });
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: forged }), 401);
    const key = t.service.services.tokens.key;
    const expired = jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 10 }, key, { algorithm: 'HS256', issuer: 'hanami' });
    assert.match(String(assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: expired }), 401).detail), /expired/);
    const otherIssuer = jwt.sign(claims, key, { algorithm: 'HS256', issuer: 'somebody-else', expiresIn: 60 });
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: otherIssuer }), 401);
    const noVersion = jwt.sign({ sub: admin.id, name: admin.name, admin: true }, key, { algorithm: 'HS256', issuer: 'hanami', expiresIn: 60 });
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: noVersion }), 401);
    const unsigned = jwt.sign(claims, '', { algorithm: 'none', issuer: 'hanami', expiresIn: 60 });
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: unsigned }), 401);
    const good = jwt.sign(claims, key, { algorithm: 'HS256', issuer: 'hanami', expiresIn: 60 });
    assert.equal((await request(t.url, 'GET', '/v1/users/me', { token: good })).status, 200, 'the same claims, properly signed, pass');
  });

  it('refuses a token that expired after it was verified and remembered', async () => {
    const admin = await t.service.services.store.users.findByName(ADMIN_NAME);
    assert.ok(admin);
    const claims = { sub: admin.id, name: admin.name, admin: true, tv: admin.tokenVersion };
    const exp = Math.floor(Date.now() / 1000) + 2;
    const short = jwt.sign({ ...claims, exp }, t.service.services.tokens.key, { algorithm: 'HS256', issuer: 'hanami' });
    assert.equal((await request(t.url, 'GET', '/v1/users/me', { token: short })).status, 200);
    assert.equal((await request(t.url, 'GET', '/v1/users/me', { token: short })).status, 200, 'recognised while valid');
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 50));
    assert.match(String(assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: short }), 401).detail), /expired/);
    // A tampered copy of a remembered token is not recognised as it.
    const good = jwt.sign(claims, t.service.services.tokens.key, { algorithm: 'HS256', issuer: 'hanami', expiresIn: 60 });
    assert.equal((await request(t.url, 'GET', '/v1/users/me', { token: good })).status, 200);
    const [h, p, sig] = good.split('.') as [string, string, string];
    const flipped = `${h}.${p}.${sig.slice(0, -2)}${sig.endsWith('AA') ? 'BB' : 'AA'}`;
    assertProblem(await request(t.url, 'GET', '/v1/users/me', { token: flipped }), 401);
  });

  it('audits logins and authenticated changes, not anonymous junk', async () => {
    const before = Number((await t.admin.expect(200, 'GET', '/v1/audit-log')).total);
    await request(t.url, 'POST', '/v1/auth/login', { json: { name: ADMIN_NAME, passphrase: 'wrong-passphrase' } });
    await request(t.url, 'POST', '/v1/projects', { json: { name: 'anonymous' } });
    await request(t.url, 'DELETE', '/v1/users/00000000-0000-4000-8000-000000000000');
    await t.admin.send('DELETE', '/v1/users/00000000-0000-4000-8000-000000000000');
    const log = await t.admin.expect(200, 'GET', `/v1/audit-log?offset=${before}`);
    const entries = (log.items as Record<string, unknown>[]).map((e) => [e.method, e.path, e.status, e.userId === null ? null : 'admin']);
    assert.deepEqual(entries, [
      ['POST', '/v1/auth/login', 401, null],
      ['DELETE', '/v1/users/00000000-0000-4000-8000-000000000000', 404, 'admin'],
    ]);
  });

  it('renews a valid token', async () => {
    const renewed = await t.admin.expect(200, 'POST', '/v1/auth/renew');
    const fresh = new Client(t.url, str(renewed, 'token'));
    assert.equal((await fresh.expect(200, 'GET', '/v1/users/me')).name, ADMIN_NAME);
    assertProblem(await request(t.url, 'POST', '/v1/auth/renew'), 401);
  });

  it('revokes older tokens when the passphrase changes', async () => {
    const user = await memberOf(t.admin, null, 'changer', 'member', 'first-passphrase');
    const wrong = await user.send('PATCH', '/v1/users/me', { json: { currentPassphrase: 'not-it', passphrase: 'second-passphrase' } });
    assertProblem(wrong, 403, 'bad_credentials');
    const changed = await user.expect(200, 'PATCH', '/v1/users/me', { json: { currentPassphrase: 'first-passphrase', passphrase: 'second-passphrase' } });
    assertProblem(await user.send('GET', '/v1/users/me'), 401);
    assert.equal((await new Client(t.url, str(changed, 'token')).expect(200, 'GET', '/v1/users/me')).name, 'changer');
    await Client.login(t.url, 'changer', 'second-passphrase');
    assertProblem(await request(t.url, 'POST', '/v1/auth/login', { json: { name: 'changer', passphrase: 'first-passphrase' } }), 401);
  });

  it('revokes tokens of a deleted user and of an admin who lost the flag', async () => {
    const doomed = await memberOf(t.admin, null, 'doomed');
    await t.admin.expect(204, 'DELETE', `/v1/users/${doomed.userId}`);
    assert.match(String(assertProblem(await doomed.send('GET', '/v1/users/me'), 401).detail), /no longer exists/);
    const deputy = await memberOf(t.admin, null, 'deputy');
    await t.admin.expect(200, 'PATCH', `/v1/users/${deputy.userId}`, { json: { isAdmin: true } });
    assertProblem(await deputy.send('GET', '/v1/users/me'), 401, 'unauthorized');
    const asAdmin = await Client.login(t.url, 'deputy', 'deputy-passphrase');
    await asAdmin.expect(200, 'GET', '/v1/users');
    await t.admin.expect(200, 'PATCH', `/v1/users/${deputy.userId}`, { json: { isAdmin: false } });
    assertProblem(await asAdmin.send('GET', '/v1/users'), 401, 'unauthorized');
  });
});

describe('login rate limit', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService({ loginRatePerMinute: 5 });
  });
  after(() => t.close());

  it('answers 429 with Retry-After once an address used its budget', async () => {
    // startTestService logged in once already.
    for (let i = 0; i < 4; i++) assertProblem(await request(t.url, 'POST', '/v1/auth/login', { json: { name: ADMIN_NAME, passphrase: 'guess' } }), 401);
    const limited = await request(t.url, 'POST', '/v1/auth/login', { json: { name: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE } });
    assertProblem(limited, 429, 'too_many_logins');
    const retry = Number(limited.headers.get('retry-after'));
    assert.ok(retry >= 1 && retry <= 60, `Retry-After ${retry}`);
    await t.admin.expect(200, 'GET', '/v1/users/me');
  });
});

describe('initial admin', () => {
  it('generates a passphrase when none is configured, and only on the first start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hanami-admin-'));
    const config = testConfig(dir, { adminUser: 'root', adminPassphrase: undefined });
    const logger = pino({ level: 'silent' });
    try {
      const first = await startService(config, { logger });
      try {
        assert.deepEqual(first.admin.created, { name: 'root' });
        const generated = first.admin.generatedPassphrase;
        assert.ok(generated !== undefined && generated.length >= 20, 'a long random passphrase');
        await Client.login(first.url, 'root', generated);
      } finally {
        await first.stop();
      }
      const second = await startService(config, { logger });
      try {
        assert.deepEqual(second.admin, {}, 'an existing admin is left alone');
        await Client.login(second.url, 'root', first.admin.generatedPassphrase ?? '');
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
