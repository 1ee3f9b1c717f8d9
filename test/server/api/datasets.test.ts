/**
 * Dataset uploads: streamed parts with visible progress, gzip, downloads byte for byte,
 * value targets from CSV, deletion rules, and the accuracy check's refusals.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { exportMnist8k } from '../../../server/datasets/mnist8k.js';
import { NotFoundError } from '../../../server/store/types.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { assertProblem, createProject, memberOf, num, obj, startTestService, str, waitFor, type Client, type TestService } from './helpers.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset, runTask, uploadFile } from './workflow.js';

describe('datasets', () => {
  let t: TestService;
  let user: Client;
  let project: string;
  let P: string;
  let dir: string;
  let files: string[];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hanami-datasets-'));
    files = await exportMnist8k(dir);
    t = await startTestService();
    project = await createProject(t.admin, 'data');
    P = `/v1/projects/${project}`;
    user = await memberOf(t.admin, project, 'uploader');
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows upload progress while a part streams in', async () => {
    const id = await createDataset(user, project, { name: 'slow', format: 'idx' });
    const bytes = readFileSync(files[0]!);
    const half = Math.floor(bytes.length / 2);
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const body = Readable.from(
      (async function* () {
        yield bytes.subarray(0, half);
        await gate;
        yield bytes.subarray(half);
      })(),
    );
    const uploading = user.send('PUT', `${P}/datasets/${id}/content/images`, { body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
    const midway = await waitFor(
      () => user.expect(200, 'GET', `${P}/datasets/${id}`),
      (d) => num(d, 'receivedBytes') > 0,
      'upload progress',
    );
    assert.equal(midway.status, 'uploading');
    assert.equal(midway.expectedBytes, bytes.length);
    assert.ok(num(midway, 'receivedBytes') < bytes.length);
    assertProblem(await user.send('PUT', `${P}/datasets/${id}/content/labels`, { body: readFileSync(files[1]!), headers: { 'content-type': 'application/octet-stream' } }), 409, 'upload_in_progress');
    assertProblem(await user.delete(`${P}/datasets/${id}`), 409, 'upload_in_progress');
    release();
    const done = await uploading;
    assert.equal(done.status, 200, done.text);
    const record = obj(done.body);
    assert.equal(record.status, 'ready');
    assert.equal(record.receivedBytes, bytes.length);
    assert.equal(record.rows, 8000);
    assert.equal(record.targets, null, 'no labels yet');
    const labelled = await uploadFile(user, project, id, 'labels', files[1]!);
    assert.deepEqual(obj(labelled.targets).kind, 'class');
  });

  it('marks a dataset failed when its upload breaks off, keeps nothing of it, and takes the part again', async () => {
    const id = await createDataset(user, project, { name: 'interrupted', format: 'idx' });
    const bytes = readFileSync(files[2]!);
    const { port } = new URL(t.url);
    await new Promise<void>((resolve) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: Number(port),
        method: 'PUT',
        path: `${P}/datasets/${id}/content/images`,
        headers: { authorization: `Bearer ${user.token ?? ''}`, 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) },
      });
      req.on('error', () => resolve());
      req.write(bytes.subarray(0, 100_000), () => setTimeout(() => req.destroy(), 200));
    });
    const failed = await waitFor(
      () => user.expect(200, 'GET', `${P}/datasets/${id}`),
      (d) => d.status === 'failed',
      'the failed upload',
    );
    assert.match(str(failed, 'error'), /broke off/);
    assert.deepEqual(failed.parts, []);
    assert.equal(failed.receivedBytes, 0);
    const again = await uploadFile(user, project, id, 'images', files[2]!);
    assert.equal(again.status, 'ready');
  });

  it('downloads every part byte for byte, gzipped uploads included', async () => {
    const gz = join(dir, 'test-images.gz');
    const compressed = gzipSync(readFileSync(files[2]!));
    writeFileSync(gz, compressed);
    const id = await createDataset(user, project, { name: 'zipped', format: 'idx' });
    const record = await uploadFile(user, project, id, 'images', gz, 'application/gzip');
    assert.equal(record.rows, 2000, 'parsed through the gzip');
    const part = obj((record.parts as unknown[])[0]);
    assert.equal(part.sha256, createHash('sha256').update(compressed).digest('hex'));
    const download = await fetch(`${t.url}${P}/datasets/${id}/content/images`, { headers: { authorization: `Bearer ${user.token ?? ''}` } });
    assert.equal(download.status, 200);
    assert.equal(download.headers.get('x-content-sha256'), part.sha256);
    assert.match(download.headers.get('content-disposition') ?? '', /attachment; filename="zipped-images"/);
    assert.ok(Buffer.from(await download.arrayBuffer()).equals(compressed));
    assertProblem(await user.get(`${P}/datasets/${id}/content/labels`), 404, 'not_found');
    assertProblem(await user.get(`${P}/datasets/${id}/content/csv`), 400, 'bad_part');
  });

  it('reads CSV value targets and learns them in their own units', async () => {
    const lines = ['x,y,sum'];
    for (let i = 0; i < 200; i++) lines.push(`${i % 10},${(i * 7) % 10},${(i % 10) + ((i * 7) % 10)}`);
    const id = await createDataset(user, project, { name: 'sums', format: 'csv', targetColumns: ['sum'] });
    const record = await uploadCsv(user, project, id, `${lines.join('\n')}\n`);
    assert.deepEqual(record.targets, { kind: 'values', columns: ['sum'] });
    assert.deepEqual(record.targetColumns, ['sum']);
    assert.deepEqual(record.inputColumns, ['x', 'y']);
    const csv = await user.send('GET', `${P}/datasets/${id}/content/csv`);
    assert.equal(csv.text, `${lines.join('\n')}\n`);
    const cluster = await createCluster(user, project, { name: 'adder', template: DEFAULT_TEMPLATE });
    await runTask(user, project, cluster, { kind: 'train', datasetId: id, epochs: 2 });
    const request = await runTask(user, project, cluster, { kind: 'request', datasetId: id });
    const result = obj(request.task.result);
    assert.equal(typeof result.rmse, 'number');
    const check = await user.expect(200, 'GET', `${P}/datasets/${id}/check?taskId=${str(request.task, 'id')}`);
    assert.equal(check.rmse, result.rmse);
    assert.equal(check.accuracy, undefined);
    const results = await user.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(request.task, 'id')}/results?limit=3&offset=5`);
    assert.deepEqual(results.columns, ['output:sum']);
    assert.equal((results.values as unknown[]).length, 3);
    assert.equal(results.offset, 5);
    assert.deepEqual(results.predictions, {});
  });

  it('refuses checks that cannot be made', async () => {
    const labelled = await createDataset(user, project, { name: 'labelled', format: 'csv', labelColumn: 'label' });
    await uploadCsv(user, project, labelled, tinyCsv());
    const unlabelled = await createDataset(user, project, { name: 'plain', format: 'csv' });
    await uploadCsv(user, project, unlabelled, 'a,b\n1,2\n3,4\n');
    const cluster = await createCluster(user, project, { name: 'checker', template: DEFAULT_TEMPLATE });
    const train = await runTask(user, project, cluster, { kind: 'train', datasetId: labelled });
    const trainId = str(train.task, 'id');
    assertProblem(await user.get(`${P}/datasets/${labelled}/check?taskId=${trainId}`), 409, 'no_results');
    const request = await runTask(user, project, cluster, { kind: 'request', datasetId: labelled });
    const requestId = str(request.task, 'id');
    assertProblem(await user.get(`${P}/datasets/${unlabelled}/check?taskId=${requestId}`), 422, 'no_targets');
    const shorter = await createDataset(user, project, { name: 'shorter', format: 'csv', labelColumn: 'label' });
    await uploadCsv(user, project, shorter, tinyCsv(10));
    assertProblem(await user.get(`${P}/datasets/${shorter}/check?taskId=${requestId}`), 422, 'row_mismatch');
    assertProblem(await user.get(`${P}/datasets/${labelled}/check`), 400, 'validation');
    const ok = await user.expect(200, 'GET', `${P}/datasets/${labelled}/check?taskId=${requestId}`);
    assert.equal(ok.samples, 40);
    assert.equal(ok.output, 'output');
  });

  it('deletes a dataset and its files, but not while a task uses it', async () => {
    const id = await createDataset(user, project, { name: 'doomed', format: 'csv', labelColumn: 'label' });
    // 2,000 rows × 1,000 epochs: the task is still running when it is cancelled.
    await uploadCsv(user, project, id, tinyCsv(2000));
    const { store } = t.service.services;
    const blobId = (await store.datasets.get(project, id)).blobs[0]!.blobId;
    const cluster = await createCluster(user, project, { name: 'busy', template: DEFAULT_TEMPLATE });
    // A long task keeps the dataset in use; a second one waits in the queue behind it.
    const long = await user.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: id, epochs: 1000 } });
    const queued = await user.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'request', datasetId: id } });
    assertProblem(await user.delete(`${P}/datasets/${id}`), 409, 'dataset_in_use');
    await user.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${str(queued, 'id')}/cancel`);
    await user.expect(200, 'POST', `${P}/clusters/${cluster}/tasks/${str(long, 'id')}/cancel`);
    await user.expect(204, 'DELETE', `${P}/datasets/${id}`);
    assertProblem(await user.get(`${P}/datasets/${id}`), 404, 'not_found');
    await assert.rejects(store.blobs.stat(blobId), NotFoundError, 'the file went with it');
  });
});
