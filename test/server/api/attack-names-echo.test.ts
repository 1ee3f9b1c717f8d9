/**
 * Issue 13, finding 7: names accepted NUL, control and bidi-override characters, and long
 * input came back whole in problem bodies.
 *
 * - Every name (projects, templates, datasets, clusters, checkpoints, task names; user names
 *   were letters and digits already) refuses C0/C1 controls, DEL, line/paragraph separators
 *   and bidi overrides/isolates with a 400 saying which character and where.
 * - No problem body echoes more than ~64 characters of the client's text, wherever it came
 *   from (a query parameter name, a path, a field name, a media type, a duplicate name, a
 *   column name or cell of an uploaded file, a request id).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { assertProblem, createProject, obj, request, startTestService, str, type Reply, type TestService } from './helpers.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset } from './workflow.js';

const BAD_CHARACTERS: [string, string][] = [
  ['\u0000', 'U+0000'],
  ['\u0007', 'U+0007'],
  ['\u001b', 'U+001B'],
  ['\n', 'U+000A'],
  ['\u007f', 'U+007F'],
  ['\u0085', 'U+0085'],
  ['\u009b', 'U+009B'],
  ['\u2028', 'U+2028'],
  ['\u202a', 'U+202A'],
  ['\u202e', 'U+202E'],
  ['\u2066', 'U+2066'],
  ['\u2069', 'U+2069'],
];

/** The longest run of `c` in `text`. */
function longestRun(text: string, c: string): number {
  let best = 0;
  let run = 0;
  for (const ch of text) {
    run = ch === c ? run + 1 : 0;
    best = Math.max(best, run);
  }
  return best;
}

function assertShortEcho(r: Reply, filler: string, what: string): void {
  assert.ok(r.status >= 400, `${what}: expected an error, got ${r.status}`);
  assert.ok(longestRun(r.text, filler) <= 66, `${what}: the problem echoes ${longestRun(r.text, filler)} characters of input: ${r.text.slice(0, 300)}`);
}

describe('attack: control characters in names, long echoes', () => {
  let t: TestService;
  let projectId: string;
  let P: string;
  let clusterId: string;
  let datasetId: string;

  before(async () => {
    t = await startTestService();
    projectId = await createProject(t.admin, 'names');
    P = `/v1/projects/${projectId}`;
    datasetId = await createDataset(t.admin, projectId, { name: 'data', format: 'csv', labelColumn: 'label' });
    await uploadCsv(t.admin, projectId, datasetId, tinyCsv());
    clusterId = await createCluster(t.admin, projectId, { name: 'c', template: DEFAULT_TEMPLATE });
  });
  after(() => t.close());

  it('every kind of name refuses control and bidi characters, naming the character and where', async () => {
    const creators: [string, string, (name: string) => Record<string, unknown>][] = [
      ['POST', '/v1/projects', (name) => ({ name })],
      ['POST', `${P}/templates`, (name) => ({ name, template: DEFAULT_TEMPLATE })],
      ['POST', `${P}/datasets`, (name) => ({ name, format: 'csv' })],
      ['POST', `${P}/clusters`, (name) => ({ name, template: DEFAULT_TEMPLATE })],
      ['POST', `${P}/checkpoints`, (name) => ({ name, clusterId })],
      ['POST', `${P}/clusters/${clusterId}/tasks`, (name) => ({ kind: 'train', name, datasetId })],
      ['PATCH', P, (name) => ({ name })],
      ['PATCH', `${P}/clusters/${clusterId}`, (name) => ({ name })],
      ['POST', '/v1/users', (name) => ({ name, passphrase: 'long-enough-passphrase' })],
    ];
    for (const [method, path, body] of creators) {
      for (const [c, code] of BAD_CHARACTERS) {
        const r = await t.admin.send(method, path, { json: body(`evil${c}name`) });
        const p = assertProblem(r, 400, 'validation');
        assert.equal(p.field, '/body/name', `${method} ${path} ${code}`);
        if (path !== '/v1/users') assert.match(String(p.detail), new RegExp(`character ${code.replace('+', '\\+')} at position 5`), `${method} ${path}`);
        assert.ok(!r.text.includes(c), `${method} ${path}: the raw ${code} is not echoed`);
      }
    }
  });

  it('ordinary names in any script still work', async () => {
    for (const name of ['Café ☕ 数据', 'עברית data', 'a b\tc'.replace('\t', ' '), 'x'.repeat(128)]) {
      str(await t.admin.expect(201, 'POST', `${P}/templates`, { json: { name, template: DEFAULT_TEMPLATE } }), 'id');
    }
  });

  it('no problem body echoes more than ~64 characters of input', async () => {
    const x = 'x'.repeat(15_000);
    assertShortEcho(await t.admin.get(`${P}/templates?${x}=1`), 'x', 'unknown query parameter name');
    assertShortEcho(await t.admin.get(`${P}/templates?limit=${x}`), 'x', 'query value');
    assertShortEcho(await t.admin.post(`${P}/templates`, { name: 'a', [x]: 1 }), 'x', 'unknown field name');
    assertShortEcho(await t.admin.post(`${P}/templates`, { name: x }), 'x', 'long value');
    assertShortEcho(await t.admin.get(`/v1/${x}`), 'x', 'unknown path');
    assertShortEcho(await t.admin.send('PATCH', `/v1/projects/${x}/templates`), 'x', 'method not allowed on a long path');
    assertShortEcho(await t.admin.get(`${P}/templates/${x}`), 'x', 'malformed id');
    assertShortEcho(await t.admin.get(`${P}/templates/%ZZ${x}`), 'x', 'undecodable path');
    assertShortEcho(await t.admin.send('POST', `${P}/templates`, { body: 'x', headers: { 'content-type': `text/${x}` } }), 'x', 'media type');
    assertShortEcho(await request(t.url, 'GET', `${P}/templates`, { headers: { 'x-request-id': 'y'.repeat(100) } }).then((r) => ({ ...r, status: 400 })), 'y', 'request id');
    const n = 'n'.repeat(128);
    await t.admin.expect(201, 'POST', `${P}/datasets`, { json: { name: n, format: 'csv' } });
    assertShortEcho(await t.admin.post(`${P}/datasets`, { name: n, format: 'csv' }), 'n', 'duplicate name');
    const label = 'L'.repeat(256);
    const csv = await createDataset(t.admin, projectId, { name: 'long-columns', format: 'csv', labelColumn: label });
    const header = `${'h'.repeat(10_000)},${'k'.repeat(10_000)}\n1,2\n`;
    const r = await t.admin.send('PUT', `${P}/datasets/${csv}/content/csv`, { body: header, headers: { 'content-type': 'text/csv' } });
    assertProblem(r, 422, 'bad_dataset');
    for (const c of ['L', 'h', 'k']) assertShortEcho(r, c, `CSV header (${c})`);
    const cells = await createDataset(t.admin, projectId, { name: 'long-cell', format: 'csv' });
    const bad = await t.admin.send('PUT', `${P}/datasets/${cells}/content/csv`, { body: `a,b\n1,${'z'.repeat(10_000)}\n`, headers: { 'content-type': 'text/csv' } });
    assertProblem(bad, 422, 'bad_dataset');
    assertShortEcho(bad, 'z', 'CSV cell');
    assert.ok(longestRun(String(obj((await t.admin.get(`${P}/datasets/${cells}`)).body).error), 'z') <= 66, 'the dataset error keeps the cut too');
  });
});
