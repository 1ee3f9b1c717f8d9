/**
 * Issue 13, finding 3: login throttling was per socket address only. Rotating source
 * addresses guessed 150 passphrases without a 429, and behind a TLS proxy every user shared
 * the proxy's one budget.
 *
 * - Per user name, failures back off exponentially (1 s, 2 s, ... up to
 *   HANAMI_LOGIN_BACKOFF_MAX_SECONDS), however many addresses the guesses come from; an
 *   address the account logged in from before is not held back by that lock.
 * - HANAMI_TRUST_PROXY: the client address comes from X-Forwarded-For only when the proxy is
 *   trusted; then each client behind the proxy has its own budget. Untrusted, the header is
 *   ignored, so a client cannot pick a fresh address per request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ConfigError, defaultConfig, loadConfig, parseTrustProxy } from '../../../server/config.js';
import { LoginBackoff } from '../../../server/auth/login-backoff.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, assertProblem, memberOf, request, startTestService, type Reply, type TestService } from './helpers.js';

function login(t: TestService, name: string, passphrase: string, from?: string): Promise<Reply> {
  return request(t.url, 'POST', '/v1/auth/login', { json: { name, passphrase }, headers: from ? { 'x-forwarded-for': from } : {} });
}

/** A different source address for every request, as the probe rotated them. */
function rotating(i: number): string {
  return `198.51.${(i >> 8) & 255}.${i & 255}`;
}

describe('attack: password guessing from rotating addresses', () => {
  let t: TestService;

  before(async () => {
    // The proxy in front is this loopback client; each guess claims another address.
    t = await startTestService({ trustProxy: ['loopback'], loginRatePerMinute: 30, loginBackoffAfter: 5, loginBackoffMaxSeconds: 3 });
    await memberOf(t.admin, null, 'victim', 'member', 'the-right-passphrase');
  });
  after(() => t.close());

  it('150 guesses from 150 addresses run into the per-account back-off', async () => {
    const statuses: number[] = [];
    let retryAfter = 0;
    for (let i = 0; i < 150; i++) {
      const r = await login(t, 'victim', `guess-${i}`, rotating(i));
      statuses.push(r.status);
      if (r.status === 429) {
        assertProblem(r, 429, 'too_many_logins');
        retryAfter = Math.max(retryAfter, Number(r.headers.get('retry-after')));
      }
    }
    const checked = statuses.filter((s) => s === 401).length;
    assert.ok(statuses.includes(429), 'some guesses were refused');
    assert.ok(checked <= 10, `only a few guesses were checked, got ${checked} of 150`);
    assert.ok(retryAfter >= 1 && retryAfter <= 3, `Retry-After within the maximum lock, got ${retryAfter}`);
  });

  it('the lock is short, and does not hold back an address the user logged in from before', async () => {
    // 'admin' logged in from 127.0.0.1 (no X-Forwarded-For) at start.
    for (let i = 0; i < 20; i++) await login(t, ADMIN_NAME, `guess-${i}`, rotating(1000 + i));
    assertProblem(await login(t, ADMIN_NAME, ADMIN_PASSPHRASE, rotating(5000)), 429, 'too_many_logins');
    assert.equal((await login(t, ADMIN_NAME, ADMIN_PASSPHRASE)).status, 200, 'the known address gets in');
    // After the longest lock, a new address gets its chance again.
    await new Promise((resolve) => setTimeout(resolve, 3200));
    assert.equal((await login(t, 'victim', 'the-right-passphrase', rotating(7000))).status, 200);
  });

  it('unknown user names back off the same way (no hint which names exist)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push((await login(t, 'nobody-here', `guess-${i}`, rotating(2000 + i))).status);
    assert.deepEqual(statuses.slice(0, 5), [401, 401, 401, 401, 401]);
    assert.ok(statuses.slice(5).includes(429));
  });
});

describe('attack: clients behind a TLS proxy', () => {
  it('with the proxy trusted, each client has its own budget', async () => {
    const t = await startTestService({ trustProxy: 1, loginRatePerMinute: 3, loginBackoffAfter: 100 });
    try {
      for (let i = 0; i < 3; i++) assertProblem(await login(t, ADMIN_NAME, 'wrong', '203.0.113.1'), 401);
      assertProblem(await login(t, ADMIN_NAME, 'wrong', '203.0.113.1'), 429, 'too_many_logins');
      assert.equal((await login(t, ADMIN_NAME, ADMIN_PASSPHRASE, '203.0.113.2')).status, 200, 'another client behind the same proxy is not locked out');
    } finally {
      await t.close();
    }
  });

  it('without a trusted proxy, X-Forwarded-For is ignored (a client cannot rotate its address)', async () => {
    const t = await startTestService({ loginRatePerMinute: 3, loginBackoffAfter: 100 });
    try {
      // startTestService's own login used one of the three.
      for (let i = 0; i < 2; i++) assertProblem(await login(t, ADMIN_NAME, 'wrong', rotating(i)), 401);
      assertProblem(await login(t, ADMIN_NAME, 'wrong', rotating(99)), 429, 'too_many_logins');
    } finally {
      await t.close();
    }
  });

  it('HANAMI_TRUST_PROXY: off by default, hop counts and CIDR lists; true and nonsense refused', () => {
    assert.equal(defaultConfig().trustProxy, false);
    assert.equal(loadConfig({}).trustProxy, false);
    assert.equal(loadConfig({ HANAMI_TRUST_PROXY: '1' }).trustProxy, 1);
    assert.deepEqual(loadConfig({ HANAMI_TRUST_PROXY: '10.0.0.0/8, loopback,fd00::/8' }).trustProxy, ['10.0.0.0/8', 'loopback', 'fd00::/8']);
    assert.equal(parseTrustProxy('false'), false);
    assert.throws(() => loadConfig({ HANAMI_TRUST_PROXY: 'true' }), ConfigError);
    assert.throws(() => loadConfig({ HANAMI_TRUST_PROXY: '10.0.0.0/33' }), ConfigError);
    assert.throws(() => loadConfig({ HANAMI_TRUST_PROXY: 'proxy.example' }), ConfigError);
  });
});

describe('LoginBackoff', () => {
  it('doubles the lock from 1 s up to the maximum, and forgets after a success', () => {
    let now = 0;
    const b = new LoginBackoff({ freeFailures: 2, maxLockSeconds: 5, now: () => now });
    b.failed('u');
    b.failed('u');
    assert.deepEqual(b.check('u', 'a'), { allowed: true });
    const locks: number[] = [];
    for (let i = 0; i < 5; i++) {
      b.failed('u');
      const d = b.check('u', 'a');
      locks.push(d.allowed ? 0 : d.retryAfterSeconds);
    }
    assert.deepEqual(locks, [1, 2, 4, 5, 5]);
    now += 5000;
    assert.deepEqual(b.check('u', 'a'), { allowed: true });
    b.succeeded('u', 'a');
    b.failed('u');
    assert.deepEqual(b.check('u', 'b'), { allowed: true }, 'the count started again');
  });
});
