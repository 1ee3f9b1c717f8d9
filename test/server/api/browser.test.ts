/**
 * Someone types the service's address into a browser: `/` sends them to Swagger UI, and an
 * unknown address shows a small HTML page pointing at /docs and /openapi.json (escaped, under
 * a CSP) instead of raw JSON. API clients keep getting problem+json.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { HOME_TARGET } from '../../../server/api/home.js';
import { escapeHtml } from '../../../server/api/not-found.js';
import { assertProblem, request, startTestService, type TestService } from './helpers.js';

/** What Firefox and Chrome send for a typed address. */
const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

/** node:http, not fetch: fetch would percent-encode the path, and the page must escape what arrives raw. */
function rawGet(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base);
    // `path` as an option is sent as it is (a URL string would be percent-encoded).
    const req = httpRequest({ hostname, port, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('a browser at the service address', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  it('/ redirects to /docs', async () => {
    assert.equal(HOME_TARGET, '/docs');
    for (const method of ['GET', 'HEAD']) {
      const r = await fetch(`${t.url}/`, { method, redirect: 'manual', headers: { accept: BROWSER_ACCEPT } });
      assert.equal(r.status, 302, method);
      assert.equal(r.headers.get('location'), '/docs');
    }
    const followed = await fetch(`${t.url}/`, { headers: { accept: BROWSER_ACCEPT } });
    assert.equal(followed.status, 200);
    assert.match(await followed.text(), /swagger-ui/);
    assertProblem(await request(t.url, 'POST', '/'), 404, 'no_route');
  });

  it('an unknown address shows an HTML page that links to /docs and /openapi.json', async () => {
    const r = await rawGet(t.url, `/v1/nothing/<script>alert("x")</script>'`, { accept: BROWSER_ACCEPT });
    assert.equal(r.status, 404);
    assert.match(String(r.headers['content-type']), /^text\/html; charset=utf-8/);
    assert.match(String(r.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.match(r.text, /^<!doctype html>/);
    assert.match(r.text, /<a href="\/docs">/);
    assert.match(r.text, /<a href="\/openapi.json">/);
    assert.ok(!r.text.includes('<script>'), 'the path is not reflected unescaped');
    assert.ok(r.text.includes('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;'), 'but shown escaped');
    assert.equal(escapeHtml(`<a href="x" onclick='y'>&`), '&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;');
  });

  it('API clients keep the problem+json 404, which points at /docs too', async () => {
    for (const accept of [undefined, '*/*', 'application/json', 'application/problem+json', 'application/json, text/html']) {
      const p = assertProblem(await request(t.url, 'GET', '/v1/nothing-here', accept ? { headers: { accept } } : {}), 404, 'no_route');
      assert.match(String(p.detail), /^no route GET \/v1\/nothing-here; .*\/docs.*\/openapi\.json/, String(accept));
    }
    const long = assertProblem(await request(t.url, 'GET', `/${'a'.repeat(5000)}`), 404, 'no_route');
    assert.ok(String(long.detail).length < 400, 'a long path is cut in the detail');
  });

  it('a known route with an unknown id stays a problem, for browsers too', async () => {
    const r = await request(t.url, 'GET', '/v1/projects/00000000-0000-4000-8000-000000000000', { token: t.admin.token, headers: { accept: BROWSER_ACCEPT } });
    assertProblem(r, 404, 'not_found');
  });
});
