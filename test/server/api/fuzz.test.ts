/**
 * Fuzz-style: several hundred malformed requests over every route of the route table
 * (mangled path parameters, junk queries, bodies of every wrong shape, broken JSON, wrong
 * media types, bad tokens), made from a seeded generator so a failure reproduces. Never a
 * 5xx, every error is problem+json, and the service answers normally afterwards.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { ROUTES } from '../../../server/api/routes.js';
import type { AnyRoute } from '../../../server/api/route.js';
import { createProject, memberOf, request, startTestService, type Client, type TestService } from './helpers.js';
import { fillPath, populateProject, type PopulatedProject } from './fixtures.js';

/** mulberry32: small, seeded, good enough to pick mutations reproducibly. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

// Not '..' or '%2e%2e': those navigate (RFC 3986 dot segments), they are not malformed.
const BAD_SEGMENTS = [
  'x',
  '0',
  '-1',
  'null',
  '%00',
  '.',
  'a'.repeat(3000),
  '%F0%9F%92%A9',
  '00000000-0000-0000-0000-00000000000',
  '%7BprojectId%7D',
  '%ZZ',
  '%20',
  'ffffffff-ffff-ffff-ffff-ffffffffffffff',
  '00000000-0000-4000-8000-000000000000%2F..',
];
/** Each is invalid for every route: a bad value for a known parameter is also unknown where the route lacks it. */
const BAD_QUERIES = ['limit=-1', 'limit=abc', 'offset=1e999', 'unknown=1', 'format=xml', 'taskId=nope', 'offset=%00', 'limit=', `limit=${'9'.repeat(400)}`, 'userId[]=x', 'projectId=%ZZ'];
const BAD_VALUES: unknown[] = [null, true, 0, -1, 1e308, 'x', '', 'a'.repeat(5000), [], [1, 2], {}, { $gt: '' }, { nested: { deeper: [null] } }, '00000000-0000-4000-8000-000000000000'];
const BAD_TEXT = ['{', '{"a":}', 'nul', '[', '{"name": "x"', '\u0000', '{"__proto__": {"isAdmin": true}}', '{"constructor": {"prototype": {}}}'];

interface RawReply {
  status: number;
  contentType: string;
  text: string;
}

/** node:http, not fetch: fetch refuses GET bodies and normalizes paths, and both should reach the server. */
function rawRequest(base: string, method: string, path: string, headers: Record<string, string>, body?: string): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const framed = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = httpRequest(`${base}${path}`, { method, headers: framed }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

interface Attempt {
  method: string;
  path: string;
  body?: string;
  contentType?: string;
  token: 'user' | 'none' | 'garbage';
  what: string;
}

function pick<T>(random: () => number, list: readonly T[]): T {
  return list[Math.floor(random() * list.length)]!;
}

/** A body for `route` that is wrong in one randomly chosen way. */
function badBody(random: () => number, route: AnyRoute): { body: string; contentType: string; what: string } {
  const schema: unknown = route.body;
  const properties = typeof schema === 'object' && schema !== null && 'properties' in schema ? Object.keys((schema as { properties: object }).properties) : ['name'];
  switch (Math.floor(random() * 6)) {
    case 0:
      return { body: pick(random, BAD_TEXT), contentType: 'application/json', what: 'broken JSON' };
    case 1:
      return { body: JSON.stringify(pick(random, BAD_VALUES)), contentType: 'application/json', what: 'body of the wrong shape' };
    case 2: {
      const key = pick(random, properties);
      return { body: JSON.stringify({ [key]: pick(random, BAD_VALUES) }), contentType: 'application/json', what: `wrong type for ${key}` };
    }
    case 3:
      return { body: JSON.stringify({ surprise: 1, [pick(random, properties)]: 'x' }), contentType: 'application/json', what: 'unknown field' };
    case 4:
      return { body: '{"name":"x"}', contentType: pick(random, ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16']), what: 'wrong media type' };
    default:
      return { body: `[${'['.repeat(2000)}${']'.repeat(2000)}]`, contentType: 'application/json', what: 'deep nesting' };
  }
}

function attempts(random: () => number, ids: Record<string, string>, perRoute: number): Attempt[] {
  const out: Attempt[] = [];
  for (const route of ROUTES) {
    for (let i = 0; i < perRoute; i++) {
      const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
      const values = { ...ids };
      let what = '';
      // At least one thing is wrong in every attempt, so no handler ever acts on it.
      const mutation = Math.floor(random() * 3);
      if ((mutation === 0 && params.length > 0) || (route.method === 'delete' && params.length > 0)) {
        const target = pick(random, params);
        const bad = pick(random, BAD_SEGMENTS);
        // A '.' that ends the path is a dot segment too (RFC 3986: `…/checkpoints/.` is the
        // list `…/checkpoints/`): it navigates, it is not malformed.
        values[target] = bad === '.' && route.path.endsWith(`{${target}}`) ? '.x' : bad;
        what = `bad {${target}}`;
      }
      let path = fillPath(route, values);
      let body: string | undefined;
      let contentType: string | undefined;
      const hasInput = route.body !== undefined || route.upload !== undefined;
      if (what === '' && (mutation === 1 || !hasInput)) {
        path += `?${pick(random, BAD_QUERIES)}`;
        what = 'bad query';
      }
      // Bodies go to every route, also where none is expected (GET included): the server
      // must cope with them, but only a route with a body schema counts them as the fault.
      if (hasInput || random() < 0.3) {
        const b = route.upload && random() < 0.5 ? { body: 'not a dataset', contentType: 'application/json', what: 'JSON instead of a file' } : badBody(random, route);
        body = b.body;
        contentType = b.contentType;
        what = what === '' ? b.what : `${what} + ${b.what}`;
      }
      const token = random() < 0.1 ? 'none' : random() < 0.1 ? 'garbage' : 'user';
      const attempt: Attempt = { method: route.method.toUpperCase(), path, token, what: `${route.operationId}: ${what}` };
      if (body !== undefined) attempt.body = body;
      if (contentType !== undefined) attempt.contentType = contentType;
      out.push(attempt);
    }
  }
  return out;
}

describe('fuzz: malformed requests over every route', () => {
  let t: TestService;
  let user: Client;
  let a: PopulatedProject;

  before(async () => {
    t = await startTestService({ maxJsonBytes: 64 * 1024 });
    const project = await createProject(t.admin, 'fuzzed');
    user = await memberOf(t.admin, project, 'fuzzer', 'project-admin');
    a = await populateProject(t.admin, user, 'fuzz', project);
  });
  after(() => t.close());

  it('never answers 5xx, always problem+json, and keeps answering', async () => {
    const random = generator(20261124);
    const ids = {
      projectId: a.projectId,
      templateId: a.templateId,
      datasetId: a.datasetId,
      clusterId: a.clusterId,
      taskId: a.requestTaskId,
      checkpointId: a.checkpointId,
      userId: user.userId,
      part: 'csv',
    };
    const list = attempts(random, ids, 8);
    assert.ok(list.length >= 300, `${list.length} attempts`);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const attempt of list) {
      const headers: Record<string, string> = {};
      if (attempt.contentType) headers['content-type'] = attempt.contentType;
      if (attempt.token === 'garbage') headers.authorization = 'Bearer not.a.token';
      if (attempt.token === 'user') headers.authorization = `Bearer ${user.token ?? ''}`;
      let r: RawReply;
      try {
        r = await rawRequest(t.url, attempt.method, attempt.path, headers, attempt.body);
      } catch (error) {
        failures.push(`${attempt.what}: no answer (${(error as Error).message})`);
        continue;
      }
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (r.status >= 500) failures.push(`${attempt.what}: ${r.status} ${r.text.slice(0, 200)}`);
      if (r.status >= 400 && !/^application\/problem\+json/.test(r.contentType)) failures.push(`${attempt.what}: ${r.status} without problem+json (${r.contentType}: ${r.text.slice(0, 100)})`);
      if (r.status < 300) failures.push(`${attempt.what}: accepted (${r.status}) ${attempt.method} ${attempt.path.slice(0, 200)}`);
    }
    assert.deepEqual(failures, []);
    assert.ok((statuses.get(400) ?? 0) > 100, `mostly validation failures: ${JSON.stringify([...statuses])}`);

    assert.equal((await request(t.url, 'GET', '/healthz')).status, 200);
    assert.equal((await request(t.url, 'GET', '/readyz')).status, 200);
    const P = `/v1/projects/${a.projectId}`;
    await user.expect(200, 'GET', `${P}/clusters/${a.clusterId}`);
    await user.expect(200, 'GET', `${P}/clusters/${a.clusterId}/tasks/${a.requestTaskId}/results`);
    const dataset = await user.expect(200, 'GET', `${P}/datasets/${a.datasetId}`);
    assert.equal(dataset.status, 'ready');
    const errors = await t.admin.expect(200, 'GET', '/v1/error-log');
    assert.equal(errors.total, 0, 'no internal error was logged');
  });
});
