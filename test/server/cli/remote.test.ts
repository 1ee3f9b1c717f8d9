/**
 * The remote `hanami` commands end to end: a real service in this process, the compiled CLI
 * in child processes with --json, logged in through the environment (HANAMI_URL, HANAMI_USER,
 * HANAMI_PASSPHRASE) as CI would: project, user, member, upload of the mnist8k IDX files
 * written by `hanami dataset export`, cluster, `task train --follow`, `task test --follow`
 * (accuracy ≥ 0.86), checkpoint save and restore, and one `io request`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Hanami } from '../../../client/index.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, startTestService, type TestService } from '../api/helpers.js';
import { baseEnv, jsonLines, jsonOne, runCli } from './remote-helpers.js';

describe('remote commands: the whole workflow with --json', () => {
  let svc: TestService;
  let tmp: string;
  let admin: NodeJS.ProcessEnv;
  let ada: NodeJS.ProcessEnv;

  before(async () => {
    svc = await startTestService();
    tmp = mkdtempSync(join(tmpdir(), 'hanami-remote-'));
    const config = join(tmp, 'config');
    admin = { ...baseEnv(config), HANAMI_URL: svc.url, HANAMI_USER: ADMIN_NAME, HANAMI_PASSPHRASE: ADMIN_PASSPHRASE };
    ada = { ...baseEnv(config), HANAMI_URL: svc.url, HANAMI_USER: 'ada', HANAMI_PASSPHRASE: 'ada-passphrase' };
  });
  after(async () => {
    await svc.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs project → user → upload → cluster → train → test → checkpoint → io request', async () => {
    const project = await jsonOne(admin, ['project', 'create', 'digits']);
    assert.equal(project.name, 'digits');
    const user = await jsonOne(admin, ['user', 'create', 'ada', '--passphrase-stdin'], 'ada-passphrase\n');
    assert.equal(user.name, 'ada');
    const member = await jsonOne(admin, ['member', 'add', 'ada', '--project', 'digits', '--role', 'member']);
    assert.equal(member.role, 'member');

    // From here on as ada, with "digits" as the current project.
    const used = await jsonOne(ada, ['project', 'use', 'digits']);
    assert.deepEqual(used.project, { id: project.id, name: 'digits' });

    const data = join(tmp, 'mnist8k');
    const exported = await runCli(ada, ['dataset', 'export', 'mnist8k', data]);
    assert.equal(exported.code, 0, exported.stderr);
    const train = await jsonOne(ada, ['dataset', 'upload', 'mnist8k-train', join(data, 'train-images-idx3-ubyte')]);
    assert.equal(train.status, 'ready');
    assert.equal(train.rows, 8000);
    assert.deepEqual(
      (train.parts as { part: string }[]).map((p) => p.part),
      ['images', 'labels'],
      'the labels were found beside the images',
    );
    const test = await jsonOne(ada, ['dataset', 'upload', 'mnist8k-test', join(data, 't10k-images-idx3-ubyte')]);
    assert.equal(test.rows, 2000);
    const listed = await jsonLines(ada, ['dataset', 'ls']);
    assert.deepEqual(listed.map((d) => d.name).sort(), ['mnist8k-test', 'mnist8k-train']);

    const templateFile = join(tmp, 'line.tpl');
    writeFileSync(templateFile, DEFAULT_TEMPLATE);
    const cluster = await jsonOne(ada, ['cluster', 'create', 'reader', '--template', templateFile, '--seed', '1']);
    assert.equal(cluster.name, 'reader');

    const trained = await jsonLines(ada, ['task', 'train', '--cluster', 'reader', '--dataset', 'mnist8k-train', '--epochs', '1', '--follow']);
    const end = trained.at(-1)!;
    assert.equal(end.type, 'state');
    assert.equal((end.task as { state: string }).state, 'finished', 'the last line is the end state');
    assert.ok(trained.length >= 2, 'a state before the end');
    // The follow shows the metric points as they come; `task metrics` lists the same ones.
    const points = trained.filter((l) => l.type === 'metric').map((l) => l.point as { seq: number; final: boolean });
    assert.ok(points.length >= 2, 'points while it trained');
    assert.equal(points.at(-1)!.final, true);
    const taskId = (end.task as { id: string }).id;
    assert.deepEqual(await jsonLines(ada, ['task', 'metrics', taskId]), points);

    const tested = await jsonLines(ada, ['task', 'test', '--cluster', 'reader', '--dataset', 'mnist8k-test', '--follow']);
    const testEnd = tested.at(-1)!.task as { state: string; result: { accuracy: number } };
    assert.equal(testEnd.state, 'finished');
    assert.ok(testEnd.result.accuracy >= 0.86, `accuracy ${testEnd.result.accuracy}`);

    const tasks = await jsonLines(ada, ['task', 'ls', '--cluster', 'reader']);
    assert.deepEqual(
      tasks.map((t) => t.kind),
      ['train', 'request'],
    );

    const saved = await jsonOne(ada, ['checkpoint', 'save', 'after-one-epoch', '--cluster', 'reader']);
    assert.equal(saved.name, 'after-one-epoch');
    const restored = await jsonOne(ada, ['checkpoint', 'restore', 'after-one-epoch', '--name', 'reader-copy']);
    assert.equal(restored.name, 'reader-copy');
    const file = join(tmp, 'reader.ckpt');
    const downloaded = await jsonOne(ada, ['checkpoint', 'download', 'after-one-epoch', '--out', file]);
    assert.equal(downloaded.bytes, saved.bytes);
    assert.equal(readFileSync(file).length, saved.bytes);

    const direct = await jsonOne(ada, ['cluster', 'mode', 'reader-copy', 'direct']);
    assert.equal(direct.mode, 'direct');
    const images = readFileSync(join(data, 't10k-images-idx3-ubyte'));
    const first = Array.from(images.subarray(16, 16 + 784)).join(',');
    const answer = await jsonOne(ada, ['io', 'request', '--cluster', 'reader-copy', first]);
    assert.equal(typeof answer.argmax, 'number');
    const output = (answer.outputs as Record<string, { mode: string; values: number[]; label: string }>).output!;
    assert.equal(output.mode, 'class');
    assert.equal(output.values.length, 10);
    assert.match(output.label, /^[0-9]$/);
  });

  it('task train --follow exits with code 1 when the task is cancelled', async () => {
    const sdk = await Hanami.login(svc.url, { user: 'ada', passphrase: 'ada-passphrase' });
    const project = (await sdk.projects.all()).find((p) => p.name === 'digits')!;
    const cluster = (await sdk.clusters.all(project.id)).find((c) => c.name === 'reader')!;
    const dataset = (await sdk.datasets.all(project.id)).find((d) => d.name === 'mnist8k-train')!;
    // A long task first, so that the followed one waits in the queue until it is cancelled.
    const ahead = await sdk.tasks.train(project.id, cluster.id, dataset.id, { epochs: 20 });
    const following = runCli(ada, ['task', 'train', '--cluster', 'reader', '--dataset', 'mnist8k-train', '--name', 'to-cancel', '--follow', '--json']);
    let queued: { id: string } | undefined;
    for (let i = 0; i < 600 && !queued; i++) {
      queued = (await sdk.tasks.all(project.id, cluster.id)).find((t) => t.name === 'to-cancel');
      if (!queued) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(queued, 'the followed task was created');
    await sdk.tasks.cancel(project.id, cluster.id, queued.id);
    await sdk.tasks.cancel(project.id, cluster.id, ahead.id);
    const r = await following;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^hanami: task [0-9a-f-]{36} cancelled/);
    const last = JSON.parse(r.stdout.trimEnd().split('\n').at(-1)!) as { type: string; task: { state: string } };
    assert.deepEqual([last.type, last.task.state], ['state', 'cancelled'], 'the last line is the end state');
  });
});
