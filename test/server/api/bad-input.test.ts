/**
 * Each class of bad input gets a 4xx problem+json that names the problem: malformed JSON,
 * wrong types, unknown fields, oversize bodies and uploads, malformed UUIDs, unknown ids,
 * duplicates, bad templates (line/column), malformed dataset files (byte offset, row and
 * column), wrong media types, and task inputs that cannot work.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { assertProblem, createProject, memberOf, num, request, startTestService, str, type Client, type Reply, type TestService } from './helpers.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset } from './workflow.js';

const UNKNOWN = '00000000-0000-4000-8000-000000000000';

/** An IDX header (magic, dims) followed by `data`. */
function idx(type: number, dims: number[], data: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = type;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(data)]);
}

describe('bad input', () => {
  let t: TestService;
  let user: Client;
  let project: string;
  let P: string;

  before(async () => {
    t = await startTestService({ maxJsonBytes: 2048, maxUploadBytes: 4096 });
    project = await createProject(t.admin, 'bad-input');
    P = `/v1/projects/${project}`;
    user = await memberOf(t.admin, project, 'clumsy');
  });
  after(() => t.close());

  it('malformed JSON: 400 malformed_json', async () => {
    const r = await user.send('POST', `${P}/templates`, { body: '{"name": "x", "text": ', headers: { 'content-type': 'application/json' } });
    assert.match(String(assertProblem(r, 400, 'malformed_json').detail), /not valid JSON/);
    assertProblem(await user.send('POST', `${P}/templates`, { body: '"just a string"', headers: { 'content-type': 'application/json' } }), 400);
    assertProblem(await user.send('POST', `${P}/templates`, { body: '[1, 2]', headers: { 'content-type': 'application/json' } }), 400, 'validation');
  });

  it('wrong types: 400 validation naming the field', async () => {
    const p = assertProblem(await user.post(`${P}/templates`, { name: 12, template: DEFAULT_TEMPLATE }), 400, 'validation');
    assert.equal(p.field, '/body/name');
    const q = assertProblem(await user.post(`${P}/datasets`, { name: 'd', format: 'xml' }), 400, 'validation');
    assert.equal(q.field, '/body/format');
    assertProblem(await user.get(`${P}/templates?limit=many`), 400, 'validation');
    assertProblem(await user.post(`${P}/clusters`, { name: 'c', template: DEFAULT_TEMPLATE, seed: -1 }), 400, 'validation');
    assertProblem(await user.post(`${P}/clusters`, { name: 'c', template: DEFAULT_TEMPLATE, seed: 1.5 }), 400, 'validation');
    assertProblem(await user.post(`${P}/clusters`, { name: '  padded  ', template: DEFAULT_TEMPLATE }), 400, 'validation');
  });

  it('numbers that coerce to Infinity: 400', async () => {
    assert.equal(assertProblem(await user.get(`${P}/templates?offset=1e999`), 400, 'validation').field, '/query/offset');
  });

  it('requests that are not HTTP: 400 problem+json before the connection closes', async () => {
    const { port } = new URL(t.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => socket.end('THIS IS NOT HTTP\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.match(answer, /Content-Type: application\/problem\+json/);
    assert.equal(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).code, 'unparsable_request');
  });

  it('unknown fields and query parameters: 400', async () => {
    const p = assertProblem(await user.post(`${P}/templates`, { name: 'x', template: DEFAULT_TEMPLATE, colour: 'blue' }), 400, 'validation');
    assert.match(String(p.detail), /unknown field "colour" in \/body/);
    assert.deepEqual(p.allowed, { fields: ['name', 'template', 'text'] }, 'the fields it does take');
    assertProblem(await user.get(`${P}/templates?sort=name`), 400, 'validation');
  });

  it('oversize JSON bodies: 413', async () => {
    const r = await user.post(`${P}/templates`, { name: 'big', template: 'x'.repeat(4000) });
    assertProblem(r, 413, 'body_too_large');
  });

  it('oversize uploads: 413, with or without Content-Length, and the dataset says why', async () => {
    const declared = await createDataset(user, project, { name: 'too big declared', format: 'csv', labelColumn: 'label' });
    const big = `a,b,label\n${'1,2,x\n'.repeat(2000)}`;
    assertProblem(await user.send('PUT', `${P}/datasets/${declared}/content/csv`, { body: big, headers: { 'content-type': 'text/csv' } }), 413, 'upload_too_large');
    const streamed = await createDataset(user, project, { name: 'too big streamed', format: 'csv', labelColumn: 'label' });
    const chunks = Readable.from(
      (function* () {
        yield Buffer.from('a,b,label\n');
        for (let i = 0; i < 20; i++) yield Buffer.from('1,2,x\n'.repeat(100));
      })(),
    );
    assertProblem(await user.send('PUT', `${P}/datasets/${streamed}/content/csv`, { body: chunks, headers: { 'content-type': 'text/csv' } }), 413, 'upload_too_large');
    const record = await user.expect(200, 'GET', `${P}/datasets/${streamed}`);
    assert.equal(record.status, 'failed');
    assert.match(str(record, 'error'), /larger than the upload limit/);
    assert.deepEqual(record.parts, [], 'nothing of it was kept');
    await user.expect(200, 'GET', `${P}/datasets`);
  });

  it('malformed UUIDs: 400, in the path, the body and the query', async () => {
    assert.equal(assertProblem(await user.get(`${P}/clusters/not-a-uuid`), 400, 'validation').field, '/params/clusterId');
    assertProblem(await user.get('/v1/projects/123'), 400, 'validation');
    assertProblem(await user.post(`${P}/checkpoints`, { clusterId: 'c-1', name: 'k' }), 400, 'validation');
    assertProblem(await user.get(`${P}/datasets/${UNKNOWN}/check?taskId=42`), 400, 'validation');
  });

  it('unknown ids: 404 for every kind', async () => {
    for (const kind of ['templates', 'datasets', 'clusters', 'checkpoints']) assertProblem(await user.get(`${P}/${kind}/${UNKNOWN}`), 404, 'not_found');
    assertProblem(await t.admin.get(`/v1/users/${UNKNOWN}`), 404, 'not_found');
    assertProblem(await t.admin.get(`/v1/projects/${UNKNOWN}`), 404, 'not_found');
    assertProblem(await user.post(`${P}/clusters`, { name: 'x', templateId: UNKNOWN }), 404, 'not_found');
  });

  it('duplicates: 409 duplicate for every named kind', async () => {
    await user.expect(201, 'POST', `${P}/templates`, { json: { name: 'twice', template: DEFAULT_TEMPLATE } });
    assertProblem(await user.post(`${P}/templates`, { name: 'twice', template: DEFAULT_TEMPLATE }), 409, 'duplicate');
    await createDataset(user, project, { name: 'twice', format: 'idx' });
    assertProblem(await user.post(`${P}/datasets`, { name: 'twice', format: 'idx' }), 409, 'duplicate');
    const cluster = await createCluster(user, project, { name: 'twice', template: DEFAULT_TEMPLATE });
    assertProblem(await user.post(`${P}/clusters`, { name: 'twice', template: DEFAULT_TEMPLATE }), 409, 'duplicate');
    await user.expect(201, 'POST', `${P}/checkpoints`, { json: { clusterId: cluster, name: 'twice' } });
    assertProblem(await user.post(`${P}/checkpoints`, { clusterId: cluster, name: 'twice' }), 409, 'duplicate');
    assertProblem(await t.admin.post('/v1/projects', { name: 'bad-input' }), 409, 'duplicate');
  });

  it('bad templates: 422 with line and column', async () => {
    const text = ['version: 1', 'settings:', '    neuron_cooldown: 100.0', 'hexagons:', '    1,1,1', '    2,x,1', 'inputs:', '    input: 1,1,1', 'outputs:', '    output: 2,1,1', ''].join('\n');
    const p = assertProblem(await user.post(`${P}/templates`, { name: 'broken', template: text }), 422, 'bad_template');
    assert.equal(p.line, 6);
    assert.equal(p.column, 7);
    assert.match(String(p.detail), /^line 6, column 7/);
    const unknownHexagon = DEFAULT_TEMPLATE.replace('output: 3,1,1', 'output: 9,9,1');
    const q = assertProblem(await user.post(`${P}/clusters`, { name: 'broken', template: unknownHexagon }), 422, 'bad_template');
    assert.equal(typeof q.line, 'number');
    assertProblem(await user.post(`${P}/templates`, { name: 'json', template: '{"version": 1,' }), 422, 'bad_template');
    // A misspelled block header: named as such, at its own line and column.
    const misspelled = assertProblem(await user.post(`${P}/templates`, { name: 'typo', template: DEFAULT_TEMPLATE.replace('outputs:', 'ouputs:') }), 422, 'bad_template');
    const header = DEFAULT_TEMPLATE.split('\n').indexOf('outputs:') + 1;
    assert.equal(misspelled.line, header);
    assert.equal(misspelled.column, 1);
    assert.match(String(misspelled.detail), /unknown block "ouputs" \(blocks are: .*; did you mean "outputs"\?\)/);
  });

  it('malformed IDX files: 422 with the byte offset; the part can be uploaded again', async () => {
    const id = await createDataset(user, project, { name: 'bad idx', format: 'idx' });
    const put = (part: string, body: Buffer): Promise<Reply> => user.send('PUT', `${P}/datasets/${id}/content/${part}`, { body, headers: { 'content-type': 'application/octet-stream' } });
    const magic = assertProblem(await put('images', Buffer.from([1, 0, 8, 3, 0, 0, 0, 1])), 422, 'bad_dataset');
    assert.equal(magic.byteOffset, 0);
    const truncated = assertProblem(await put('images', idx(8, [2, 2, 2], [1, 2, 3])), 422, 'bad_dataset');
    assert.equal(truncated.byteOffset, 19);
    const gzipped = assertProblem(await put('images', gzipSync(idx(8, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9]))), 422, 'bad_dataset');
    assert.equal(gzipped.byteOffset, 24, 'trailing bytes, counted in the decompressed file');
    let record = await user.expect(200, 'GET', `${P}/datasets/${id}`);
    assert.equal(record.status, 'failed');
    assert.match(str(record, 'error'), /^images: /);
    record = await user.expect(200, 'PUT', `${P}/datasets/${id}/content/images`, { body: gzipSync(idx(8, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])), headers: { 'content-type': 'application/gzip' } });
    assert.equal(record.status, 'ready');
    const labels = assertProblem(await put('labels', idx(8, [3], [0, 1, 2])), 422, 'bad_dataset');
    assert.match(String(labels.detail), /3 labels but the images file has 2 images/);
    assert.equal(labels.byteOffset, 4);
    record = await user.expect(200, 'GET', `${P}/datasets/${id}`);
    assert.equal(record.targets, null, 'the refused labels were not kept');
    assertProblem(await put('images', idx(8, [2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8])), 409, 'part_exists');
    assertProblem(await put('csv', Buffer.from('a\n1\n')), 400, 'bad_part');
  });

  it('malformed CSV files: 422 with row and column', async () => {
    const id = await createDataset(user, project, { name: 'bad csv', format: 'csv', labelColumn: 'label' });
    const cell = assertProblem(await user.send('PUT', `${P}/datasets/${id}/content/csv`, { body: 'a,b,label\n1,2,x\n3,four,y\n', headers: { 'content-type': 'text/csv' } }), 422, 'bad_dataset');
    assert.equal(cell.row, 3);
    assert.equal(cell.column, 2);
    const ragged = assertProblem(await user.send('PUT', `${P}/datasets/${id}/content/csv`, { body: 'a,b,label\n1,2,x\n3,4\n', headers: { 'content-type': 'text/csv' } }), 422, 'bad_dataset');
    assert.equal(ragged.row, 3);
    const column = await createDataset(user, project, { name: 'bad column', format: 'csv', labelColumn: 'kind' });
    const header = assertProblem(await user.send('PUT', `${P}/datasets/${column}/content/csv`, { body: tinyCsv(3), headers: { 'content-type': 'text/csv' } }), 422, 'bad_dataset');
    assert.equal(header.row, 1);
    assert.match(String(header.detail), /unknown column "kind"/);
  });

  it('wrong media types: 415', async () => {
    assertProblem(await user.send('POST', `${P}/templates`, { body: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type');
    const id = await createDataset(user, project, { name: 'media', format: 'csv', labelColumn: 'label' });
    assertProblem(await user.send('PUT', `${P}/datasets/${id}/content/csv`, { body: tinyCsv(3), headers: { 'content-type': 'image/png' } }), 415, 'unsupported_media_type');
  });

  it('dataset options that do not fit the format: 400', async () => {
    assertProblem(await user.post(`${P}/datasets`, { name: 'o1', format: 'idx', labelColumn: 'x' }), 400, 'csv_option');
    assertProblem(await user.post(`${P}/datasets`, { name: 'o2', format: 'csv', labelColumn: 'x', targetColumns: ['y'] }), 400, 'label_or_targets');
  });

  it('tasks that cannot work are refused before they are queued', async () => {
    const cluster = await createCluster(user, project, { name: 'tasks', template: DEFAULT_TEMPLATE });
    const T = `${P}/clusters/${cluster}/tasks`;
    const waiting = await createDataset(user, project, { name: 'empty', format: 'csv', labelColumn: 'label' });
    assertProblem(await user.post(T, { kind: 'train', datasetId: waiting }), 409, 'dataset_not_ready');
    const data = await createDataset(user, project, { name: 'tiny', format: 'csv', labelColumn: 'label' });
    await uploadCsv(user, project, data, tinyCsv());
    const unlabelled = await createDataset(user, project, { name: 'unlabelled', format: 'csv' });
    await uploadCsv(user, project, unlabelled, 'a,b\n1,2\n');
    assertProblem(await user.post(T, { kind: 'train', datasetId: unlabelled }), 422, 'no_targets');
    assertProblem(await user.post(T, { kind: 'request', datasetId: data, epochs: 2 }), 400, 'epochs_for_request');
    assert.equal(assertProblem(await user.post(T, { kind: 'train', datasetId: data, inputs: [{ name: 'eyes' }] }), 422, 'bad_mapping').field, '/body/inputs/0/name');
    assertProblem(await user.post(T, { kind: 'train', datasetId: data, inputs: [{ name: 'input', column: 1, size: 5 }] }), 422, 'bad_mapping');
    assertProblem(await user.post(T, { kind: 'train', datasetId: data, output: 'mouth' }), 422, 'bad_mapping');
    assertProblem(await user.post(T, { kind: 'train', datasetId: data, epochs: 0 }), 400, 'validation');
    assert.match(String(assertProblem(await user.post(T, { kind: 'request', datasetId: data }), 422, 'width_mismatch').detail), /has not learned yet/);
    const tasks = await user.expect(200, 'GET', T);
    assert.equal(num(tasks, 'total'), 0, 'nothing was queued');
  });

  it('still answers after all of that', async () => {
    assert.equal((await request(t.url, 'GET', '/healthz')).status, 200);
    await user.expect(200, 'GET', `${P}/datasets`);
  });
});
