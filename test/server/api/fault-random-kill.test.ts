/**
 * Fault suite (issue 13): SIGKILL at random points of a mixed workload, then restart and verify
 * checksums. Each round starts the service on the same data folder, sets a mix going (dataset
 * uploads, training and request tasks, checkpoints, new clusters), kills the process after a
 * pseudo-random delay (seeded: a failure can be replayed with HANAMI_TEST_SEED), and checks
 * after the next start that everything the store lists is whole:
 *
 * - every `ready` dataset's parts download with the SHA-256 the dataset lists (and the bytes of
 *   the file that was uploaded);
 * - every checkpoint downloads with its listed SHA-256;
 * - no task is left `running`, and every failed one says why.
 */
import { ignoreFailure } from '../../../kernels/background.js';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportMnist8k } from '../../../server/datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { startChild, type ChildService } from './child.js';
import { Client, items, str } from './helpers.js';
import { uploadIdx } from './workflow.js';

const PASSPHRASE = 'random-kill-admin-passphrase';
const ROUNDS = 4;
const seed = Number(process.env.HANAMI_TEST_SEED ?? 20261202);

/** A small seeded generator (mulberry32): the same seed kills at the same moments. */
function random(s: number): () => number {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function download(client: Client, path: string): Promise<Buffer> {
  const r = await fetch(client.url + path, { headers: { authorization: `Bearer ${client.token ?? ''}` } });
  assert.equal(r.status, 200, `GET ${path}`);
  return Buffer.from(await r.arrayBuffer());
}

let dir: string;
let dataDir: string;
let files: string[];
const children: ChildService[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hanami-random-kill-'));
  dataDir = join(dir, 'data');
  files = await exportMnist8k(join(dir, 'mnist8k'));
});

after(() => {
  for (const c of children) c.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the workload and never waits for it: the process is killed under it. */
function mixedWorkload(admin: Client, project: string, round: number, train: string): void {
  const P = `/v1/projects/${project}`;
  const [trainImages, trainLabels] = files as [string, string];
  const steps = async (): Promise<void> => {
    const cluster = str(await admin.expect(201, 'POST', `${P}/clusters`, { json: { name: `round-${round}`, template: DEFAULT_TEMPLATE, seed: round } }), 'id');
    await admin.post(`${P}/clusters/${cluster}/tasks`, { kind: 'train', datasetId: train, epochs: 20 });
    await admin.post(`${P}/clusters/${cluster}/tasks`, { kind: 'request', datasetId: train });
    await uploadIdx(admin, project, `upload-${round}`, trainImages, trainLabels);
    for (let i = 0; i < 20; i++) await admin.post(`${P}/checkpoints`, { clusterId: cluster, name: `cp-${round}-${i}` });
  };
  // Failures are expected: the process dies under these requests.
  ignoreFailure(steps(), 'the service is killed under the workload');
}

async function verify(admin: Client, project: string): Promise<{ datasets: number; checkpoints: number; tasks: number }> {
  const P = `/v1/projects/${project}`;
  const [trainImages, trainLabels] = files as [string, string];
  const expected: Record<string, string> = { images: sha256(readFileSync(trainImages)), labels: sha256(readFileSync(trainLabels)) };
  const datasets = items(await admin.expect(200, 'GET', `${P}/datasets?limit=1000`));
  let ready = 0;
  for (const d of datasets) {
    if (d.status !== 'ready') continue;
    ready++;
    for (const part of d.parts as { part: string; sha256: string }[]) {
      const got = sha256(await download(admin, `${P}/datasets/${str(d, 'id')}/content/${part.part}`));
      assert.equal(got, part.sha256, `dataset ${String(d.name)} part ${part.part}: bytes match the listed SHA-256`);
      assert.equal(got, expected[part.part], `dataset ${String(d.name)} part ${part.part}: bytes are the uploaded file's`);
    }
  }
  const checkpoints = items(await admin.expect(200, 'GET', `${P}/checkpoints?limit=1000`));
  for (const c of checkpoints) {
    assert.equal(sha256(await download(admin, `${P}/checkpoints/${str(c, 'id')}/content`)), c.sha256, `checkpoint ${String(c.name)} intact`);
  }
  let tasks = 0;
  for (const c of items(await admin.expect(200, 'GET', `${P}/clusters?limit=1000`))) {
    for (const t of items(await admin.expect(200, 'GET', `${P}/clusters/${str(c, 'id')}/tasks?limit=1000`))) {
      tasks++;
      assert.notEqual(t.state, 'running', 'no task is left running by a dead process');
      if (t.state === 'failed') assert.ok(String(t.error ?? '').length > 0, 'a failed task says why');
    }
  }
  return { datasets: ready, checkpoints: checkpoints.length, tasks };
}

test(`SIGKILL at ${ROUNDS} random points of a mixed workload: after each restart every listed dataset and checkpoint is whole (seed ${seed})`, async () => {
  const env = { HANAMI_DATA_DIR: dataDir, HANAMI_ADMIN_PASSPHRASE: PASSPHRASE, HANAMI_SHUTDOWN_GRACE: '2' };
  const next = random(seed);
  let child = await startChild(env);
  children.push(child);
  let admin = await Client.login(child.url, 'admin', PASSPHRASE);
  const project = str(await admin.expect(201, 'POST', '/v1/projects', { json: { name: 'random-kill' } }), 'id');
  const [trainImages, trainLabels] = files as [string, string];
  const train = await uploadIdx(admin, project, 'train', trainImages, trainLabels);
  const kills: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    mixedWorkload(admin, project, round, train);
    const delay = Math.round(200 + next() * 2800);
    kills.push(delay);
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.child.kill('SIGKILL');
    assert.equal(await child.exited, 'SIGKILL');
    child = await startChild(env);
    children.push(child);
    admin = await Client.login(child.url, 'admin', PASSPHRASE);
    const seen = await verify(admin, project);
    console.log(JSON.stringify({ test: 'random-kill', seed, round, killedAfterMs: delay, ...seen }));
  }
  child.child.kill('SIGTERM');
  assert.equal(await child.exited, 0, 'a graceful stop exits 0');
});
