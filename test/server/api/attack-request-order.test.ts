/**
 * Issue 13, findings 5 and 8c: what an anonymous caller learns from a bad request, and how
 * query numbers are read.
 *
 * - Unauthenticated requests with bad parameters or bodies got 400 with the schema's
 *   complaint before 401: now every non-public route answers 401 first, whatever the request
 *   holds (and the body is not parsed).
 * - `limit=0x10` was read as 16 (AJV's coercion is JavaScript's `+x`): query integers must be
 *   plain decimal now.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertProblem, createProject, obj, request, startTestService, type TestService } from './helpers.js';

describe('attack: request order and query numbers', () => {
  let t: TestService;
  let P: string;

  before(async () => {
    t = await startTestService();
    P = `/v1/projects/${await createProject(t.admin, 'order')}`;
  });
  after(() => t.close());

  it('an anonymous caller gets 401, not the schema, for bad parameters, bodies and ids', async () => {
    const anonymous = [
      await request(t.url, 'GET', `${P}/templates?limit=abc`),
      await request(t.url, 'GET', `${P}/templates?bogus=1`),
      await request(t.url, 'GET', '/v1/projects/not-a-uuid/templates'),
      await request(t.url, 'POST', `${P}/templates`, { json: { name: 12, nonsense: true } }),
      await request(t.url, 'POST', `${P}/templates`, { body: '{"name": ', headers: { 'content-type': 'application/json' } }),
      await request(t.url, 'POST', `${P}/datasets`, { body: 'x', headers: { 'content-type': 'text/plain' } }),
      await request(t.url, 'PUT', `${P}/datasets/00000000-0000-4000-8000-000000000000/content/nope`, { body: 'x', headers: { 'content-type': 'application/octet-stream' } }),
      await request(t.url, 'GET', `${P}/templates?limit=abc`, { token: 'not.a.token' }),
    ];
    for (const r of anonymous) {
      const p = assertProblem(r, 401, 'unauthorized');
      assert.equal(p.field, undefined, 'no field of the schema is named');
      assert.equal(p.allowed, undefined, 'nothing of the schema is shown');
    }
  });

  it('a logged-in caller still gets the 400 naming the field', async () => {
    assert.equal(assertProblem(await t.admin.get(`${P}/templates?limit=abc`), 400, 'validation').field, '/query/limit');
    assert.equal(assertProblem(await t.admin.post(`${P}/templates`, { name: 12 }), 400, 'validation').field, '/body/name');
  });

  it('public routes validate as before', async () => {
    assertProblem(await request(t.url, 'POST', '/v1/auth/login', { json: { name: 'x' } }), 400, 'validation');
  });

  it('query integers are plain decimal: hex, octal, binary, exponents, signs, spaces and leading zeros are refused', async () => {
    for (const bad of ['0x10', '0o20', '0b10000', '1e1', '16e0', '+16', '%2016', '16%20', '016', '16.0', '1e999', '9'.repeat(400), 'Infinity']) {
      const p = assertProblem(await t.admin.get(`${P}/templates?limit=${bad}`), 400, 'validation');
      assert.equal(p.field, '/query/limit', bad);
      assert.match(String(p.detail), /plain decimal integer/, bad);
      assert.deepEqual(obj(p.allowed).maximum, 1000, bad);
    }
    const ok = obj((await t.admin.get(`${P}/templates?limit=16&offset=0`)).body);
    assert.equal(ok.limit, 16);
    assertProblem(await t.admin.get(`${P}/templates?limit=-1`), 400, 'validation');
  });
});
