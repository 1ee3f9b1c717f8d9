/**
 * The service's command-line life: what `npm start` runs (package.json), what it prints
 * (Swagger UI URL, the generated admin passphrase once), refusing a bad configuration, and a
 * graceful SIGTERM: running work is checkpointed, queued work waits for the next start.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { Client, num, obj, request, str, waitFor } from './helpers.js';
import { runChild, startChild, type ChildService } from './child.js';
import { tinyCsv, uploadCsv } from './fixtures.js';
import { createCluster, createDataset, runTask } from './workflow.js';

const PACKAGE_JSON = fileURLToPath(new URL('../../../../package.json', import.meta.url));

describe('service life cycle', () => {
  let dir: string;
  const children: ChildService[] = [];
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hanami-lifecycle-'));
  });
  after(() => {
    for (const c of children) c.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('npm start builds and runs dist/server/main.js', () => {
    const scripts = obj(obj(JSON.parse(readFileSync(PACKAGE_JSON, 'utf8'))).scripts);
    assert.equal(scripts.start, 'node dist/server/main.js');
    // The build: the TypeScript, then the WebAssembly walk compiled from its WAT source.
    assert.equal(scripts.prestart, 'tsc -p . && node scripts/build-wasm.js');
    assert.equal(scripts.prestart, scripts.build);
  });

  it('prints the Swagger UI URL and a generated admin passphrase, once', async () => {
    const dataDir = join(dir, 'banner');
    const first = await startChild({ HANAMI_DATA_DIR: dataDir });
    children.push(first);
    assert.match(first.stdout(), new RegExp(`Swagger UI: ${first.url.replace(/\./g, '\\.')}/docs\n`));
    const passphrase = /created with the passphrase: (\S+)/.exec(first.stdout())?.[1];
    assert.ok(passphrase, first.stdout());
    assert.match(first.stdout(), /if it is lost, `hanami admin reset-passphrase admin` on this host sets a new one/, 'the banner says how to recover it');
    await Client.login(first.url, 'admin', passphrase);
    // README shows this banner: the same lines, in the same order, with the same wording up to
    // the values that differ per host (what follows the first ':' or a number).
    const readme = readFileSync(fileURLToPath(new URL('../../../../README.md', import.meta.url)), 'utf8');
    const shown = /```\n(Hanami [\s\S]*?)```/.exec(readme)?.[1]?.trimEnd().split('\n');
    assert.ok(shown, 'README shows the banner');
    const shape = (line: string): string => line.replace(/:.*$/, ':').replace(/\d+(\.\d+)*/g, 'N');
    assert.deepEqual(shown.map(shape), first.stdout().trimEnd().split('\n').map(shape), 'the banner in README.md is the one npm start prints');
    const docs = await request(first.url, 'GET', '/docs/');
    assert.equal(docs.status, 200);
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = await startChild({ HANAMI_DATA_DIR: dataDir });
    children.push(second);
    assert.doesNotMatch(second.stdout(), /passphrase/);
    await Client.login(second.url, 'admin', passphrase);
    second.child.kill('SIGINT');
    assert.equal(await second.exited, 0);
  });

  it('writes the banner on stdout and the log as JSON lines on stderr, WebGPU driver output included', async () => {
    // `auto` probes the WebGPU adapter; on lavapipe the driver prints warnings from native code.
    const child = await startChild({ HANAMI_DATA_DIR: join(dir, 'streams'), HANAMI_BACKEND: 'auto', HANAMI_LOG_LEVEL: 'info' });
    children.push(child);
    const system = await request(child.url, 'GET', '/healthz');
    assert.equal(system.status, 200);
    child.child.kill('SIGTERM');
    assert.equal(await child.exited, 0);
    const outLines = child
      .stdout()
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(outLines.length >= 4, child.stdout());
    for (const line of outLines) assert.doesNotMatch(line, /^\{/, `a log line on stdout: ${line}`);
    const errLines = child
      .stderr()
      .split('\n')
      .filter((l) => l !== '');
    assert.ok(
      errLines.some((l) => /backend cpu \(requested auto\)/.test(l)),
      child.stderr(),
    );
    for (const line of errLines) {
      const entry = obj(JSON.parse(line) as unknown);
      assert.equal(typeof entry.level, 'number', line);
      if (/artificially reduced/.test(line)) assert.equal(entry.source, 'webgpu-driver', line);
    }
  });

  it('refuses a bad configuration with a message and exit code 2', async () => {
    const r = await runChild({ HANAMI_DATA_DIR: join(dir, 'bad'), HANAMI_PORT: 'eighty' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^hanami: HANAMI_PORT must be an integer between 0 and 65535, got "eighty"\n$/);
    const policy = await runChild({ HANAMI_DATA_DIR: join(dir, 'bad'), HANAMI_POLICY_FILE: join(dir, 'no-such-policy.csv') });
    assert.equal(policy.code, 2);
    assert.match(policy.stderr, /cannot read the policy file/);
  });

  it('on SIGTERM checkpoints the running task and keeps the queued one for the next start', async () => {
    const dataDir = join(dir, 'graceful');
    const env = { HANAMI_DATA_DIR: dataDir, HANAMI_ADMIN_PASSPHRASE: 'graceful-passphrase', HANAMI_SHUTDOWN_GRACE: '1' };
    const first = await startChild(env);
    children.push(first);
    let admin = await Client.login(first.url, 'admin', 'graceful-passphrase');
    const project = str(await admin.expect(201, 'POST', '/v1/projects', { json: { name: 'graceful' } }), 'id');
    const P = `/v1/projects/${project}`;
    const data = await createDataset(admin, project, { name: 'tiny', format: 'csv', labelColumn: 'label' });
    // 2,000 rows × 1,000 epochs: far more than the 1 s grace allows.
    await uploadCsv(admin, project, data, tinyCsv(2000));
    const cluster = await createCluster(admin, project, { name: 'worker', template: DEFAULT_TEMPLATE });
    const long = await admin.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: data, epochs: 1000 } });
    const queued = await admin.expect(202, 'POST', `${P}/clusters/${cluster}/tasks`, { json: { kind: 'train', datasetId: data } });
    await waitFor(
      () => admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(long, 'id')}`),
      (t) => t.state === 'running' && num(obj(t.progress), 'done') > 0,
      'training under way',
    );
    first.child.kill('SIGTERM');
    assert.equal(await first.exited, 0);

    const second = await startChild(env);
    children.push(second);
    admin = await Client.login(second.url, 'admin', 'graceful-passphrase');
    const stopped = await admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(long, 'id')}`);
    assert.equal(stopped.state, 'cancelled');
    assert.match(str(stopped, 'error'), /stopped by a service shutdown/);
    const learned = num(obj(stopped.progress), 'done');
    assert.ok(learned > 0 && learned < 2_000_000);
    const finished = await waitFor(
      () => admin.expect(200, 'GET', `${P}/clusters/${cluster}/tasks/${str(queued, 'id')}`),
      (t) => t.state === 'finished',
      'the queued task, after the restart',
    );
    // The queued task (2,000 samples) trained on top of what the stopped one had learned.
    assert.ok(num(obj(obj(finished.result).stats), 'samplesTrained') > 2000, 'the checkpointed learning survived');
    await runTask(admin, project, cluster, { kind: 'request', datasetId: data });
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  });
});
