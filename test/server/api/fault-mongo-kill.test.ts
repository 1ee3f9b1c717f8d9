/**
 * Fault suite (issue 13): the MongoDB server (FerretDB, started here as its own process) is
 * killed with SIGKILL while a training task runs, then started again on the same data. The
 * task must end (finished, or failed with a reason) rather than hang, the dataset must come
 * back byte for byte, and the service must take new work.
 *
 * Needs a FerretDB binary: HANAMI_TEST_FERRETDB, `ferretdb` on the PATH, or ~/go/bin/ferretdb
 * (what .ci/steps/30-ferretdb.sh builds). Skipped without one, unless HANAMI_REQUIRE_MONGO=1.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportMnist8k } from '../../../server/datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { num, obj, startTestService, str, type TestService, waitFor } from './helpers.js';
import { createCluster, runTask, uploadIdx } from './workflow.js';

function findFerret(): string | undefined {
  const candidates = [process.env.HANAMI_TEST_FERRETDB, join(homedir(), 'go', 'bin', 'ferretdb')];
  const onPath = spawnSync('sh', ['-c', 'command -v ferretdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) candidates.push(onPath);
  return candidates.find((c): c is string => c !== undefined && c !== '' && existsSync(c));
}

const ferretBinary = findFerret();
const required = process.env.HANAMI_REQUIRE_MONGO === '1';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

let dir: string;
let port: number;
let ferret: ChildProcess | undefined;
let svc: TestService | undefined;

async function startFerret(): Promise<void> {
  const child = spawn(
    ferretBinary!,
    [
      `--handler=sqlite`,
      `--sqlite-url=file:${join(dir, 'ferret')}/`,
      `--state-dir=${join(dir, 'state')}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=error',
    ],
    {
      stdio: 'ignore',
    },
  );
  ferret = child;
  // Up when the port answers.
  const { connect } = await import('node:net');
  await waitFor(
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      }),
    (up) => up,
    'FerretDB to listen',
    30_000,
    100,
  );
}

function killFerret(): Promise<void> {
  const child = ferret;
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

before(async () => {
  if (!ferretBinary) return;
  dir = mkdtempSync(join(tmpdir(), 'hanami-ferret-kill-'));
  mkdirSync(join(dir, 'ferret'));
  mkdirSync(join(dir, 'state'));
  port = await freePort();
  await startFerret();
  svc = await startTestService({ mongoUrl: `mongodb://127.0.0.1:${port}/`, mongoDatabase: 'hanami_fault' });
});

after(async () => {
  await svc?.close();
  await killFerret();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('MongoDB killed mid-task and started again: the task ends, the dataset is intact, new work runs', { skip: !ferretBinary && !required ? 'no FerretDB binary' : false }, async () => {
  assert.ok(ferretBinary, 'HANAMI_REQUIRE_MONGO=1 but no FerretDB binary was found');
  const admin = svc!.admin;
  const project = str(await admin.expect(201, 'POST', '/v1/projects', { json: { name: 'fault' } }), 'id');
  const P = `/v1/projects/${project}`;
  const files = await exportMnist8k(join(dir, 'mnist8k'));
  const [trainImages, trainLabels] = files as [string, string, string, string];
  const train = await uploadIdx(admin, project, 'train', trainImages, trainLabels);
  const cluster = await createCluster(admin, project, { name: 'faulty', template: DEFAULT_TEMPLATE, seed: 3 });
  const task = str(await admin.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: train, epochs: 3 } }), 'id');
  await waitFor(
    () => admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${task}`),
    (t) => t.state === 'running' && num(obj(t.progress), 'done') > 0,
    'training under way',
    60_000,
    20,
  );

  await killFerret();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  await startFerret();

  // The task ends one way or the other (the driver reconnects; a write that failed fails it).
  const ended = await waitFor(
    async () => (await admin.send('GET', `${P}/clusters/${cluster}/tasks/${task}`)).body as Record<string, unknown> | undefined,
    (t) => t !== undefined && ['finished', 'failed', 'cancelled'].includes(String(t.state)),
    'the interrupted task to end',
    180_000,
    200,
  );
  if (ended!.state === 'failed') assert.ok(String(ended!.error ?? '').length > 0, 'a failed task says why');
  console.log(JSON.stringify({ test: 'mongo-killed-mid-task', state: ended!.state, error: ended!.error ?? null }));

  // The dataset is byte for byte what was uploaded.
  for (const [part, file] of [
    ['images', trainImages],
    ['labels', trainLabels],
  ] as const) {
    const r = await fetch(`${admin.url}${P}/datasets/${train}/content/${part}`, { headers: { authorization: `Bearer ${admin.token ?? ''}` } });
    assert.equal(r.status, 200, `GET ${part}`);
    const got = createHash('sha256')
      .update(Buffer.from(await r.arrayBuffer()))
      .digest('hex');
    assert.equal(got, createHash('sha256').update(readFileSync(file)).digest('hex'), `${part} intact`);
  }
  // And the service takes new work on the same cluster.
  await runTask(admin, project, cluster, { kind: 'train', datasetId: train });
});
