/**
 * Interop: the official Python Socket.IO client (python-socketio, installed by .ci/run into
 * a virtualenv, path in HANAMI_PYTHON) talks to the service — the protocol is plain
 * Socket.IO, not tied to our JS helper.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { HanamiIo } from '../../../client/io.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { createProject, memberOf, startTestService, type TestService } from '../api/helpers.js';
import { createCluster } from '../api/workflow.js';

const SCRIPT = fileURLToPath(new URL('../../../../test/server/io/python/check_client.py', import.meta.url));
const python = process.env.HANAMI_PYTHON ?? 'python3';

function pythonClientAvailable(): boolean {
  const probe = spawnSync(python, ['-c', 'import socketio, requests'], { encoding: 'utf8' });
  return probe.status === 0;
}

function runPython(input: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(python, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

const available = pythonClientAvailable();
const required = Boolean(process.env.CI || process.env.HANAMI_PYTHON);

let svc: TestService;
before(async () => {
  if (available) svc = await startTestService();
});
after(async () => {
  await svc?.close();
});

test(
  'the official python-socketio client logs in, attaches, requests and trains',
  { skip: !available && !required ? `python-socketio is not installed for ${python} (CI installs it; see .ci/steps/60-python-client.sh)` : false },
  async () => {
    assert.ok(available, `python-socketio must be importable by ${python} (HANAMI_PYTHON) in CI`);
    const data = await loadMnist8k();
    const projectId = await createProject(svc.admin, 'python');
    const member = await memberOf(svc.admin, projectId, 'pythonista', 'member', 'pythonista-passphrase');
    const clusterId = await createCluster(member, projectId, { name: 'py', template: DEFAULT_TEMPLATE, seed: 5 });
    await member.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, { json: { mode: 'direct' } });
    // Teach it a little through our own client, and note its answers for three images.
    const io = await HanamiIo.connect(svc.url, member.token!);
    const image = (row: number): number[] => Array.from(data.train.inputs.subarray(row * 784, row * 784 + 784));
    const labels = data.train.targets!.kind === 'class' ? data.train.targets!.labels : new Uint16Array(0);
    await io.attach(projectId, clusterId);
    for (let row = 0; row < 200; row++) await io.train(image(row), { label: labels[row]!, classes: 10 });
    const inputs = [image(1000), image(1001), image(1002)];
    const expected = [];
    for (const x of inputs) {
      const a = await io.request(x);
      expected.push({ argmax: a.argmax, outputs: Array.from(a.outputs) });
    }
    await io.detach();
    io.close();
    // Asynchronously: the service runs in this process and must keep answering.
    const run = await runPython(JSON.stringify({ url: svc.url, user: 'pythonista', passphrase: 'pythonista-passphrase', projectId, clusterId, inputs, expected }));
    assert.equal(run.status, 0, `python client failed:\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
    const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as { ok: boolean; answers: number; argmax: number[] };
    assert.equal(report.ok, true);
    assert.equal(report.answers, 3);
    assert.deepEqual(
      report.argmax,
      expected.map((e) => e.argmax),
    );
  },
);
