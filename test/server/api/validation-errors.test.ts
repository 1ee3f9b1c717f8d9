/**
 * Every validation error names the field, what the request had there and what the field
 * allows: enum values (every enum of the document, walked), numeric ranges, string lengths,
 * patterns and formats, types, required and unknown fields and query parameters, media types
 * (415). Echoed values are cut, so a huge bogus value does not come back whole.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROUTES } from '../../../server/api/routes.js';
import { NAME_PATTERN } from '../../../server/api/schemas.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { arr, assertProblem, obj, startTestService, type Client, type TestService } from './helpers.js';
import { fillPath, populateProject, samples, type PopulatedProject } from './fixtures.js';

/** One enum of the document: where it is and what it allows. */
interface EnumSite {
  operationId: string;
  method: string;
  /** `body`, `query` or `path`. */
  where: string;
  /** Path inside the body, or [parameter name]. */
  pointer: string[];
  values: unknown[];
}

/** Every `enum` in the request bodies and parameters of every operation. */
function enumSites(doc: Record<string, unknown>): EnumSite[] {
  const sites: EnumSite[] = [];
  const walk = (schema: unknown, at: string[], found: (pointer: string[], values: unknown[]) => void): void => {
    if (typeof schema !== 'object' || schema === null) return;
    const s = schema as Record<string, unknown>;
    if (Array.isArray(s.enum)) found(at, s.enum);
    for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, unknown>)) walk(child, [...at, name], found);
    if (s.items) walk(s.items, [...at, '0'], found);
  };
  for (const item of Object.values(obj(doc.paths))) {
    for (const [method, op] of Object.entries(obj(item))) {
      const operation = obj(op);
      const operationId = String(operation.operationId);
      for (const parameter of arr(operation.parameters).map(obj)) {
        walk(parameter.schema, [String(parameter.name)], (pointer, values) => sites.push({ operationId, method, where: String(parameter.in), pointer, values }));
      }
      const body = operation.requestBody ? obj(obj(obj(operation.requestBody).content)['application/json'] ?? {}).schema : undefined;
      walk(body, [], (pointer, values) => sites.push({ operationId, method, where: 'body', pointer, values }));
    }
  }
  return sites;
}

/** `base` with `value` set at `pointer` (objects and arrays made on the way). */
function withValue(base: unknown, pointer: string[], value: unknown): unknown {
  const root: unknown = structuredClone(base ?? {});
  let at = root as Record<string, unknown>;
  pointer.forEach((segment, i) => {
    if (i === pointer.length - 1) at[segment] = value;
    else at = (at[segment] ??= /^\d+$/.test(pointer[i + 1]!) ? [] : {}) as Record<string, unknown>;
  });
  return root;
}

const BOGUS = 'not-one-of-them';

describe('validation errors say what is allowed', () => {
  let t: TestService;
  let admin: Client;
  let data: PopulatedProject;
  let P: string;

  before(async () => {
    t = await startTestService();
    admin = t.admin;
    data = await populateProject(admin, admin, 'v');
    P = `/v1/projects/${data.projectId}`;
  });
  after(() => t.close());

  it('every enum of the document: a wrong value gets a 400 naming the field, the value and every allowed value', async () => {
    const sites = enumSites(t.service.services.openapi as unknown as Record<string, unknown>);
    assert.ok(sites.length >= 8, `the walk finds the document's enums, found ${sites.length}`);
    let n = 0;
    for (const site of sites) {
      const route = ROUTES.find((r) => r.operationId === site.operationId);
      assert.ok(route, site.operationId);
      const sample = samples({ ...data, userId: admin.userId }, `enum-${n++}`)[site.operationId];
      const send = async (value: unknown) => {
        const ids: Record<string, string> = {
          projectId: data.projectId,
          clusterId: data.clusterId,
          datasetId: data.datasetId,
          templateId: data.templateId,
          checkpointId: data.checkpointId,
          taskId: data.requestTaskId,
          userId: admin.userId,
        };
        if (site.where === 'path') ids[site.pointer[0]!] = String(value);
        const query = new URLSearchParams(sample?.query ?? '');
        if (site.where === 'query') query.set(site.pointer[0]!, String(value));
        const path = `${fillPath(route, ids)}${query.size > 0 ? `?${query}` : ''}`;
        if (sample?.raw) return admin.send(site.method.toUpperCase(), path, { body: sample.raw.body, headers: { 'content-type': sample.raw.contentType } });
        const body = site.where === 'body' ? withValue(sample?.json, site.pointer, value) : sample?.json;
        return admin.send(site.method.toUpperCase(), path, body === undefined ? {} : { json: body });
      };
      const field = `/${site.where === 'path' ? 'params' : site.where}/${site.pointer.join('/')}`;
      const where = `${site.operationId} ${field}`;
      // The request is otherwise valid: with an allowed value it passes validation.
      const control = await send(site.values[0]);
      assert.ok(!(control.status === 400 && obj(control.body).code === 'validation'), `${where}: the control request is valid, got ${control.text.slice(0, 300)}`);
      const p = assertProblem(await send(BOGUS), 400, 'validation');
      assert.equal(p.field, field, where);
      assert.equal(p.found, JSON.stringify(BOGUS), `${where}: found`);
      assert.deepEqual(obj(p.allowed).enum, site.values, `${where}: allowed`);
      const detail = String(p.detail);
      assert.ok(detail.includes(field) && detail.includes(BOGUS), `${where}: the detail names the field and the value: ${detail}`);
      for (const value of site.values) assert.ok(detail.includes(JSON.stringify(value)), `${where}: the detail names ${JSON.stringify(value)}: ${detail}`);
      assert.deepEqual(
        arr(p.errors).map((e) => obj(e).path),
        [field],
        `${where}: one error, for the field`,
      );
    }
  });

  it('numeric ranges: the limits and the number found', async () => {
    const p = assertProblem(await admin.post(`${P}/clusters`, { name: 'c', template: DEFAULT_TEMPLATE, seed: -1 }), 400, 'validation');
    assert.equal(p.field, '/body/seed');
    assert.equal(p.found, '-1');
    assert.deepEqual(p.allowed, { type: 'integer', minimum: 0, maximum: 4294967295 });
    assert.match(String(p.detail), /^\/body\/seed must be an integer from 0 to 4294967295 \(found -1\)$/);
    const q = assertProblem(await admin.get(`${P}/clusters?limit=5000`), 400, 'validation');
    assert.equal(q.field, '/query/limit');
    assert.match(String(q.detail), /from 1 to 1000 \(found 5000\)/);
  });

  it('numbers that are not plain decimal (1e999 was Infinity): the range they must be in', async () => {
    const p = assertProblem(await admin.get(`${P}/clusters?offset=1e999`), 400, 'validation');
    assert.equal(p.field, '/query/offset');
    assert.equal(p.found, '"1e999"');
    assert.match(String(p.detail), /must be written as a plain decimal integer .*: an integer from 0 to 1000000000/);
  });

  it('string lengths and patterns: the limits, the pattern and what it means', async () => {
    const empty = assertProblem(await admin.post(`${P}/clusters`, { name: '', template: DEFAULT_TEMPLATE }), 400, 'validation');
    assert.equal(empty.field, '/body/name');
    assert.equal(empty.found, '""');
    assert.equal(obj(empty.allowed).minLength, 1);
    assert.equal(obj(empty.allowed).maxLength, 128);
    assert.match(String(empty.detail), /of 1 to 128 characters/);
    const padded = assertProblem(await admin.post(`${P}/clusters`, { name: ' padded ', template: DEFAULT_TEMPLATE }), 400, 'validation');
    assert.equal(obj(padded.allowed).pattern, NAME_PATTERN);
    assert.ok(String(padded.detail).includes(`matching the pattern ${NAME_PATTERN} (1–128 characters, no leading or trailing whitespace, no control characters`), String(padded.detail));
    assert.match(String(padded.detail), /\(found " padded "\)$/);
    const short = assertProblem(await admin.post('/v1/users', { name: 'shorty', passphrase: 'short' }), 400, 'validation');
    assert.equal(short.field, '/body/passphrase');
    assert.match(String(short.detail), /of 8 to 1024 characters \(found "short", 5 characters\)/);
  });

  it('formats: what the format looks like', async () => {
    const p = assertProblem(await admin.get(`${P}/clusters/not-a-uuid`), 400, 'validation');
    assert.equal(p.field, '/params/clusterId');
    assert.equal(p.found, '"not-a-uuid"');
    assert.deepEqual(p.allowed, { type: 'string', format: 'uuid' });
    assert.match(String(p.detail), /must be a UUID \(like 00000000-0000-4000-8000-000000000000\) \(found "not-a-uuid"\)/);
    const uri = assertProblem(await admin.get(`${P}/clusters/%ZZ`), 400, 'validation');
    assert.match(String(uri.detail), /is not a valid URI: every "%" must be followed by two hexadecimal digits/);
  });

  it('wrong types: the type and the rest of what the field takes', async () => {
    const p = assertProblem(await admin.post(`${P}/clusters`, { name: 12, template: DEFAULT_TEMPLATE }), 400, 'validation');
    assert.equal(p.field, '/body/name');
    assert.equal(p.found, '12');
    assert.match(String(p.detail), /^\/body\/name must be a string of 1 to 128 characters/);
    const body = assertProblem(await admin.send('POST', `${P}/clusters`, { body: '[1, 2]', headers: { 'content-type': 'application/json' } }), 400, 'validation');
    assert.equal(body.field, '/body');
    assert.deepEqual(obj(body.allowed).fields, ['name', 'templateId', 'template', 'seed', 'backend']);
  });

  it('required fields: which field, what it takes, and every required field', async () => {
    const p = assertProblem(await admin.post(`${P}/clusters`, { template: DEFAULT_TEMPLATE }), 400, 'validation');
    assert.equal(p.field, '/body/name');
    assert.equal(p.found, undefined, 'nothing was found');
    assert.deepEqual(obj(p.allowed).required, ['name']);
    assert.match(String(p.detail), /^\/body\/name is required: a string of 1 to 128 characters/);
    // The validator stops at the first failure (AJV's advice for untrusted input); the
    // message lists every required field so that one answer is enough.
    const login = assertProblem(await admin.post('/v1/auth/login', {}), 400, 'validation');
    assert.match(String(login.detail), /\(required: name, passphrase\)/);
  });

  it('unknown fields and query parameters: the ones that are known', async () => {
    const p = assertProblem(await admin.post(`${P}/clusters`, { name: 'c', template: DEFAULT_TEMPLATE, colour: 'blue' }), 400, 'validation');
    assert.equal(p.field, '/body/colour');
    assert.equal(p.found, '"blue"');
    assert.deepEqual(p.allowed, { fields: ['name', 'templateId', 'template', 'seed', 'backend'] });
    assert.match(String(p.detail), /unknown field "colour" in \/body \(found "blue"\); it takes name, templateId, template, seed, backend/);
    const nested = assertProblem(await admin.post(`${P}/clusters/${data.clusterId}/tasks`, { kind: 'train', datasetId: data.datasetId, inputs: [{ name: 'input', width: 3 }] }), 400, 'validation');
    assert.equal(nested.field, '/body/inputs/0/width');
    assert.deepEqual(nested.allowed, { fields: ['name', 'column', 'size'] });
    const q = assertProblem(await admin.get(`${P}/clusters?sort=name`), 400, 'validation');
    assert.equal(q.field, '/query/sort');
    assert.deepEqual(q.allowed, { fields: ['offset', 'limit'] });
    assert.match(String(q.detail), /unknown query parameter "sort" \(found "name"\); it takes offset, limit/);
  });

  it('huge values are cut when echoed', async () => {
    const huge = 'x'.repeat(15_000);
    const r = await admin.post(`${P}/clusters`, { name: huge, template: DEFAULT_TEMPLATE });
    const p = assertProblem(r, 400, 'validation');
    assert.ok(r.text.length < 3000, `the problem stays small: ${r.text.length} characters`);
    for (const e of arr(p.errors).map(obj)) {
      assert.ok(String(e.found).length <= 65, `found is cut: ${String(e.found).length}`);
      assert.match(String(e.found), /^"x+…$/);
      assert.match(String(e.message), /15000 characters/, 'the message says how long it was');
    }
    const key = await admin.post(`${P}/clusters`, { name: 'c', template: DEFAULT_TEMPLATE, ['k'.repeat(15_000)]: 1 });
    assert.equal(assertProblem(key, 400, 'validation').field, `/body/${'k'.repeat(64)}…`, 'the name of an unknown field is cut too');
    assert.ok(key.text.length < 3000);
  });

  it('415: the media types the operation takes', async () => {
    const p = assertProblem(await admin.send('POST', `${P}/clusters`, { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    assert.equal(p.found, '"application/x-www-form-urlencoded"');
    assert.deepEqual(p.allowed, { mediaTypes: ['application/json'] });
    assert.match(String(p.detail), /unsupported media type "application\/x-www-form-urlencoded"; POST \/v1\/projects\/[0-9a-f-]+\/clusters takes application\/json/);
    const upload = assertProblem(await admin.send('PUT', `${P}/datasets/${data.datasetId}/content/csv`, { body: 'a,b\n', headers: { 'content-type': 'image/png' } }), 415, 'unsupported_media_type');
    assert.deepEqual(upload.allowed, { mediaTypes: ['application/octet-stream', 'application/gzip', 'text/csv'] });
    assert.match(String(upload.detail), /takes application\/octet-stream, application\/gzip, text\/csv$/);
    // A byte body: fetch adds no Content-Type of its own.
    const none = assertProblem(await admin.send('POST', `${P}/clusters`, { body: new TextEncoder().encode('{}') }), 415, 'unsupported_media_type');
    assert.equal(none.found, undefined);
    assert.match(String(none.detail), /no Content-Type header; POST .* takes application\/json/);
  });
});
