/**
 * The SDK (`hanami/client`) against a real service started in-process: the whole workflow of
 * docs/client.md (log in, project, user, upload the mnist8k IDX files with progress, template,
 * cluster, train and test while following, checkpoint save and restore, direct I/O), and its
 * errors as HanamiError with the problem's fields.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Hanami, HanamiError, HanamiIo, type TaskEvent } from '../../client/index.js';
import { exportMnist8k } from '../../server/datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../../server/network/cluster.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, startTestService, type TestService } from '../server/api/helpers.js';

describe('SDK: the whole workflow', () => {
  let svc: TestService;
  let dir: string;
  let files: string[];

  before(async () => {
    svc = await startTestService();
    dir = mkdtempSync(join(tmpdir(), 'hanami-sdk-'));
    files = await exportMnist8k(dir);
  });
  after(async () => {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('logs in, uploads with progress, trains and tests while following, checkpoints and answers over direct I/O', async () => {
    const admin = await Hanami.login(svc.url, { user: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE });
    const project = await admin.projects.create({ name: 'digits' });
    const ada = await admin.users.create({ name: 'ada', passphrase: 'ada-passphrase' });
    await admin.members.set(project.id, ada.id, 'member');

    const hanami = await Hanami.login(svc.url, { user: 'ada', passphrase: 'ada-passphrase' });
    const file = (name: string): string => files.find((f) => f.endsWith(name))!;
    const progress: number[] = [];
    const train = await hanami.datasets.uploadIdx(
      project.id,
      'mnist8k-train',
      { images: file('train-images-idx3-ubyte'), labels: file('train-labels-idx1-ubyte') },
      { onProgress: (p) => (p.part === 'images' ? progress.push(p.sent) : undefined) },
    );
    assert.equal(train.status, 'ready');
    assert.equal(train.rows, 8000);
    const imagesSize = statSync(file('train-images-idx3-ubyte')).size;
    assert.ok(progress.length > 10, `progress was reported along the way (${progress.length} times)`);
    assert.deepEqual(
      progress,
      [...progress].sort((a, b) => a - b),
      'bytes sent only grow',
    );
    assert.equal(progress.at(-1), imagesSize, 'the last report is the whole file');
    const test = await hanami.datasets.uploadIdx(project.id, 'mnist8k-test', { images: file('t10k-images-idx3-ubyte'), labels: file('t10k-labels-idx1-ubyte') });

    const template = await hanami.templates.create(project.id, { name: 'line', template: DEFAULT_TEMPLATE });
    const cluster = await hanami.clusters.create(project.id, { name: 'reader', templateId: template.id, seed: 1 });

    const trainTask = await hanami.tasks.train(project.id, cluster.id, train.id, { epochs: 1 });
    const events: TaskEvent[] = [];
    const trained = await hanami.tasks.wait(project.id, cluster.id, trainTask.id, (e) => events.push(e));
    assert.equal(trained.state, 'finished');
    const last = events.at(-1);
    assert.ok(last?.type === 'state' && last.task.state === 'finished', 'the follow ends with the end state');
    // The metric points come as they are recorded (/v1/events), then the end state.
    const points = events.flatMap((e) => (e.type === 'metric' ? [e.point] : []));
    assert.ok(points.length >= 2, `metric points arrived while it trained (${points.length})`);
    assert.deepEqual(
      points.map((p) => p.seq),
      [...points.map((p) => p.seq)].sort((a, b) => a - b),
      'in order',
    );
    const final = points.at(-1)!;
    assert.equal(final.final, true);
    assert.equal(final.done, 8000);
    assert.ok(events.indexOf(last) > events.findIndex((e) => e.type === 'metric' && e.point.final), 'the end state comes after the final point');
    const stored = await hanami.tasks.metrics(project.id, cluster.id, trainTask.id);
    assert.deepEqual(stored.items, points, 'the pushed points are the stored series');

    const testTask = await hanami.tasks.test(project.id, cluster.id, test.id);
    const tested = await hanami.tasks.wait(project.id, cluster.id, testTask.id);
    const accuracy = tested.result?.accuracy ?? 0;
    assert.ok(accuracy >= 0.86, `accuracy ${accuracy}`);

    const checkpoint = await hanami.checkpoints.save(project.id, cluster.id, 'after-one-epoch');
    const bytes = await hanami.checkpoints.download(project.id, checkpoint.id);
    assert.equal(bytes.byteLength, checkpoint.bytes);
    const restored = await hanami.checkpoints.restore(project.id, checkpoint.id, { name: 'reader-copy' });
    assert.equal(restored.name, 'reader-copy');

    // One request over direct I/O on the restored copy: the first test image's class.
    await hanami.clusters.update(project.id, restored.id, { mode: 'direct' });
    const images = readFileSync(file('t10k-images-idx3-ubyte'));
    const labels = readFileSync(file('t10k-labels-idx1-ubyte'));
    const io = await HanamiIo.connect(svc.url, await hanami.token());
    try {
      await io.attach(project.id, restored.id);
      const answer = await io.request(Array.from(images.subarray(16, 16 + 784)));
      assert.equal(typeof answer.argmax, 'number');
      assert.ok(answer.argmax! >= 0 && answer.argmax! < 10);
      assert.ok(labels[8]! < 10);
    } finally {
      io.close();
    }
  });

  it('throws HanamiError with the problem type, status, code, detail and field', async () => {
    const hanami = await Hanami.login(svc.url, { user: ADMIN_NAME, passphrase: ADMIN_PASSPHRASE });
    await assert.rejects(hanami.projects.create({ name: '' }), (e: unknown) => {
      assert.ok(e instanceof HanamiError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'validation');
      assert.equal(e.field, '/body/name');
      assert.match(e.type, /^urn:hanami:problem:/);
      assert.ok(e.detail.length > 0);
      return true;
    });
    await assert.rejects(Hanami.login(svc.url, { user: ADMIN_NAME, passphrase: 'wrong' }), (e: unknown) => e instanceof HanamiError && e.status === 401 && e.code === 'bad_credentials');
  });
});
