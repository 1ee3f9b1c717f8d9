/**
 * Durability: the service runs as a child process; datasets are uploaded, tasks finish, a
 * checkpoint is saved, then a long training task is killed with SIGKILL mid-training. After a
 * restart on the same data folder every dataset, checkpoint and finished result is intact
 * (same SHA-256, same predictions), the interrupted task is failed with a reason, the task
 * queued behind it runs, and clusters resume from their state after their last finished task.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { exportMnist8k } from '../../../server/datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { Client, num, obj, str, waitFor } from './helpers.js';
import { startChild, type ChildService } from './child.js';
import { createCluster, jsonResults, runTask, uploadIdx } from './workflow.js';

const PASSPHRASE = 'durable-admin-passphrase';

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

async function download(client: Client, path: string): Promise<Buffer> {
  const r = await fetch(client.url + path, { headers: { authorization: `Bearer ${client.token ?? ''}` } });
  assert.equal(r.status, 200, `GET ${path}`);
  return Buffer.from(await r.arrayBuffer());
}

describe('durability across SIGKILL', () => {
  let dir: string;
  let dataDir: string;
  let files: string[];
  const children: ChildService[] = [];
  const env = (): Record<string, string> => ({ HANAMI_DATA_DIR: dataDir, HANAMI_ADMIN_PASSPHRASE: PASSPHRASE, HANAMI_SHUTDOWN_GRACE: '2' });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hanami-durability-'));
    dataDir = join(dir, 'data');
    files = await exportMnist8k(join(dir, 'mnist8k'));
  });
  after(() => {
    for (const c of children) c.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every dataset, checkpoint and finished result, and fails the interrupted task with a reason', async () => {
    const first = await startChild(env());
    children.push(first);
    let admin = await Client.login(first.url, 'admin', PASSPHRASE);
    const project = str(await admin.expect(201, 'POST', '/v1/projects', { json: { name: 'durable' } }), 'id');
    const P = `/v1/projects/${project}`;
    const [trainImages, trainLabels, testImages, testLabels] = files as [string, string, string, string];
    const train = await uploadIdx(admin, project, 'train', trainImages, trainLabels);
    const test = await uploadIdx(admin, project, 'test', testImages, testLabels);

    const stable = await createCluster(admin, project, { name: 'stable', template: DEFAULT_TEMPLATE, seed: 3 });
    await runTask(admin, project, stable, { kind: 'train', datasetId: train });
    const request = await runTask(admin, project, stable, { kind: 'request', datasetId: test });
    const requestId = str(request.task, 'id');
    const resultsBefore = await jsonResults(admin, project, stable, requestId);
    const checkpoint = await admin.expect(201, 'POST', `${P}/checkpoints`, { json: { clusterId: stable, name: 'kept' } });
    const checkpointBytes = await download(admin, `${P}/checkpoints/${str(checkpoint, 'id')}/content`);
    assert.equal(sha256(checkpointBytes), checkpoint.sha256);

    const busy = await createCluster(admin, project, { name: 'busy', template: DEFAULT_TEMPLATE, seed: 4 });
    await runTask(admin, project, busy, { kind: 'train', datasetId: train });
    const busyBefore = await runTask(admin, project, busy, { kind: 'request', datasetId: test });
    const busyResultsBefore = await jsonResults(admin, project, busy, str(busyBefore.task, 'id'));
    const long = await admin.expect(202, 'POST', `${P}/clusters/${busy}/tasks`, { json: { kind: 'train', datasetId: train, epochs: 500 } });
    const queued = await admin.expect(202, 'POST', `${P}/clusters/${busy}/tasks`, { json: { kind: 'request', datasetId: test } });
    await waitFor(
      () => admin.expect(200, 'GET', `${P}/clusters/${busy}/tasks/${str(long, 'id')}`),
      (t) => t.state === 'running' && num(obj(t.progress), 'done') > 0,
      'training under way',
    );

    // An upload in flight when the process dies.
    const halfway = str(await admin.expect(201, 'POST', `${P}/datasets`, { json: { name: 'halfway', format: 'idx' } }), 'id');
    const image = readFileSync(testImages);
    const upload = httpRequest(`${first.url}${P}/datasets/${halfway}/content/images`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin.token ?? ''}`, 'content-type': 'application/octet-stream', 'content-length': String(image.length) },
    });
    upload.on('error', () => undefined);
    upload.write(image.subarray(0, 200_000));
    await waitFor(
      () => admin.expect(200, 'GET', `${P}/datasets/${halfway}`),
      (d) => num(d, 'receivedBytes') > 0,
      'the upload under way',
    );

    first.child.kill('SIGKILL');
    assert.equal(await first.exited, 'SIGKILL');

    const second = await startChild(env());
    children.push(second);
    assert.match(second.stdout(), /1 task\(s\) interrupted by the last stop were marked failed/);
    assert.match(second.stdout(), /1 queued task\(s\) queued again/);
    assert.doesNotMatch(second.stdout(), /Initial admin/, 'the admin was not created again');
    admin = await Client.login(second.url, 'admin', PASSPHRASE);

    // Datasets: ready, and every part byte for byte what was uploaded.
    for (const [id, images, labels] of [
      [train, trainImages, trainLabels],
      [test, testImages, testLabels],
    ] as const) {
      const d = await admin.expect(200, 'GET', `${P}/datasets/${id}`);
      assert.equal(d.status, 'ready');
      assert.equal(sha256(await download(admin, `${P}/datasets/${id}/content/images`)), sha256(readFileSync(images)));
      assert.equal(sha256(await download(admin, `${P}/datasets/${id}/content/labels`)), sha256(readFileSync(labels)));
    }
    const broken = await admin.expect(200, 'GET', `${P}/datasets/${halfway}`);
    assert.equal(broken.status, 'failed');
    assert.match(str(broken, 'error'), /interrupted by a restart/);
    assert.deepEqual(broken.parts, []);
    upload.destroy();
    // The checkpoint and the finished results.
    assert.equal(sha256(await download(admin, `${P}/checkpoints/${str(checkpoint, 'id')}/content`)), sha256(checkpointBytes));
    assert.deepEqual(await jsonResults(admin, project, stable, requestId), resultsBefore);

    // The interrupted task says what happened.
    const interrupted = await admin.expect(200, 'GET', `${P}/clusters/${busy}/tasks/${str(long, 'id')}`);
    assert.equal(interrupted.state, 'failed');
    assert.match(str(interrupted, 'error'), /interrupted: the service stopped while this task ran/);
    assert.equal(typeof interrupted.finishedAt, 'string');

    // The queued task ran after the restart, on the state after the last finished task.
    const requeued = await waitFor(
      () => admin.expect(200, 'GET', `${P}/clusters/${busy}/tasks/${str(queued, 'id')}`),
      (t) => t.state === 'finished' || t.state === 'failed',
      'the requeued task',
    );
    assert.equal(requeued.state, 'finished', String(requeued.error));
    assert.deepEqual((await jsonResults(admin, project, busy, str(queued, 'id'))).values, busyResultsBefore.values);

    // The restored cluster predicts as before the crash.
    const again = await runTask(admin, project, stable, { kind: 'request', datasetId: test });
    assert.deepEqual((await jsonResults(admin, project, stable, str(again.task, 'id'))).values, resultsBefore.values);

    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, 'a graceful stop exits 0');
  });
});
