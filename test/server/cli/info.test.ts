/**
 * End-to-end tests of `hanami --help`, `--version`, `info` and `bench`, and of the backend
 * choice (`--backend auto` without an adapter, `--backend webgpu`, `bench --shape`). Every
 * test spawns the compiled CLI (dist/server/cli/main.js) as a child process and checks exit
 * code, stdout and stderr (test/fixtures/cli.ts).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { webGpuUnavailable } from '../../fixtures/gpu.js';
import { fashionAvailable } from '../../../server/datasets/fashion.js';
import { PACKAGE_JSON, checkTrainReport, cliRunner, int, num, obj, once, oneJsonLine, str, syntheticCsv } from '../../fixtures/cli.js';

let tmp = '';
const { hanamiWith, ok } = cliRunner(() => tmp);

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hanami-cli-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('hanami --help', () => {
  const cases: Array<[string[], string[]]> = [
    [['train'], ['--train', '--test', '--train-labels', '--test-labels', '--label', '--targets', '--inputs', '--template', '--epochs', '--seed', '--backend', '--threads', '--save', '--json']],
    [['test'], ['--checkpoint', '--test', '--test-labels', '--label', '--targets', '--backend', '--threads', '--json']],
    [['info'], ['--json']],
    [['bench'], ['--only', '--runs', '--backend', '--threads', '--out', '--contention', '--shape', '--train-rows']],
    [
      ['dataset', 'export'],
      ['mnist8k', '<dir>'],
    ],
    [
      ['admin', 'reset-passphrase'],
      ['<user>', '--passphrase-stdin', '--generate', 'HANAMI_DATA_DIR'],
    ],
  ];
  for (const [command, options] of cases) {
    it(`hanami ${command.join(' ')} --help`, async () => {
      const r = await ok(...command, '--help');
      assert.match(r.stdout, new RegExp(`Usage: hanami ${command.join(' ')}`));
      for (const o of options) assert.ok(r.stdout.includes(o), `help of ${command.join(' ')} mentions ${o}`);
    });
  }

  it('hanami --version prints the package version', async () => {
    const pkg = obj(JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')), 'package.json');
    const r = await ok('--version');
    assert.equal(r.stdout.trim(), pkg.version);
  });
});

describe('hanami info / bench', () => {
  it('info --json: version, backends, threads', async () => {
    const pkg = obj(JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')), 'package.json');
    const info = oneJsonLine((await ok('info', '--json')).stdout);
    assert.equal(info.version, pkg.version);
    const list: unknown = info.backends;
    assert.ok(Array.isArray(list), 'backends is an array');
    const backends = (list as unknown[]).map((b, i) => obj(b, `backends[${i}]`));
    const cpu = backends.find((b) => b.name === 'cpu');
    assert.ok(cpu, 'the cpu backend is listed');
    assert.equal(cpu.available, true);
    const webgpu = backends.find((b) => b.name === 'webgpu');
    assert.ok(webgpu, 'the webgpu backend is listed');
    assert.equal(typeof webgpu.available, 'boolean');
    str(webgpu, 'description', 'webgpu');
    const backend = obj(info.backend, 'backend');
    assert.equal(backend.configured, 'auto');
    assert.ok(backend.selected === 'cpu' || backend.selected === 'webgpu');
    if (webgpu.available && webgpu.hardware === false) assert.equal(backend.selected, 'cpu', 'auto does not take a software adapter');
    str(backend, 'reason', 'backend');
    int(info, 'threads', 'info', 1);
    assert.match(str(info, 'threadsReason', 'info'), /CPU affinity|cgroup|HANAMI_THREADS/);
  });

  it('info --json on a host without a WebGPU adapter: webgpu unavailable, auto selects the CPU', async () => {
    const info = oneJsonLine((await hanamiWith({ HANAMI_DISABLE_WEBGPU: '1' }, 'info', '--json')).stdout);
    const webgpu = (info.backends as Record<string, unknown>[]).find((b) => b.name === 'webgpu')!;
    assert.equal(webgpu.available, false);
    assert.match(String(webgpu.description), /HANAMI_DISABLE_WEBGPU/);
    assert.deepEqual(obj(info.backend, 'backend').selected, 'cpu');
    const forced = oneJsonLine((await hanamiWith({ HANAMI_DISABLE_WEBGPU: '1', HANAMI_BACKEND: 'webgpu' }, 'info', '--json')).stdout);
    assert.equal(obj(forced.backend, 'backend').configured, 'webgpu');
    assert.equal(obj(forced.backend, 'backend').selected, 'cpu');
  });

  it('bench --only mnist8k --runs 1 --out writes one result with the train report keys', async () => {
    const out = join(tmp, 'b.json');
    const r = await ok('bench', '--only', 'mnist8k', '--runs', '1', '--out', out);
    assert.match(r.stdout, /mnist8k/);
    const results: unknown = JSON.parse(readFileSync(out, 'utf8'));
    assert.ok(Array.isArray(results), 'bench writes an array');
    const runs = results as unknown[];
    assert.equal(runs.length, 1, 'one run');
    const run = obj(runs[0], 'results[0]');
    assert.equal(run.suite, 'mnist8k');
    assert.equal(run.run, 1);
    const report = checkTrainReport(run);
    assert.equal(report.dataset, 'mnist8k');
    assert.equal(report.trainSamples, 8000);
    assert.equal(report.testSamples, 2000);
    assert.ok(report.accuracy !== undefined && report.accuracy > 0.85);
  });
});

const noWebGpu = (await webGpuUnavailable()) ?? false;

describe('hanami and the WebGPU backend', () => {
  const csv = () => join(tmp, 'gpu-sensors.csv');
  const write = once(async () => {
    const { header, rows } = syntheticCsv();
    writeFileSync(csv(), `${header}\n${rows.map((r) => r.line).join('\n')}\n`);
  });

  it('train --backend auto on a host without an adapter runs on the CPU and says so on stderr', async () => {
    await write();
    const r = await hanamiWith({ HANAMI_DISABLE_WEBGPU: '1' }, 'train', '--train', csv(), '--label', 'label', '--inputs', 'micro,mid,big', '--backend', 'auto', '--json');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(oneJsonLine(r.stdout).backend, 'cpu');
    assert.match(r.stderr, /hanami: backend cpu \(requested auto\): WebGPU is disabled on this host/);
  });

  describe('with an adapter', () => {
    it('train --backend webgpu reports the adapter and the transfers', { skip: noWebGpu }, async () => {
      await write();
      const r = await ok('train', '--train', csv(), '--test', csv(), '--label', 'label', '--inputs', 'micro,mid,big', '--epochs', '2', '--backend', 'webgpu', '--json');
      const report = oneJsonLine(r.stdout);
      assert.equal(report.backend, 'webgpu');
      assert.equal(obj(report.train, 'train').samples, 1200);
      const gpu = obj(report.gpu, 'gpu');
      assert.match(str(gpu, 'adapter', 'gpu'), /WebGPU on /);
      const submits = int(gpu, 'submits', 'gpu', 1);
      assert.equal(int(gpu, 'readbacks', 'gpu', 1), submits);
      assert.ok(int(gpu, 'dispatches', 'gpu', 1) <= submits);
      assert.ok(num(obj(report.test, 'test'), 'accuracy', 'test') > 0.5, 'it learned (three classes)');
      assert.match(r.stderr, /hanami: backend webgpu \(requested webgpu\)/);
    });

    it('bench --shape prints the CPU and WebGPU figures side by side as JSON lines', { skip: noWebGpu }, async () => {
      const out = join(tmp, 'shape.jsonl');
      const r = await ok('bench', '--shape', '--train-rows', '600', '--threads', '2', '--out', out);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map((l) => obj(JSON.parse(l), 'line'));
      assert.deepEqual(
        readFileSync(out, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown),
        lines,
      );
      // mnist8k everywhere; fashion60k where Debian's dataset is installed, a note otherwise.
      const datasets = fashionAvailable() ? ['mnist8k', 'fashion60k'] : ['mnist8k'];
      if (!fashionAvailable()) assert.ok(lines.some((l) => l.dataset === 'fashion60k' && l.available === false && typeof l.reason === 'string'));
      for (const backend of ['cpu', 'webgpu']) {
        for (const dataset of datasets) {
          const mine = lines.filter((l) => l.backend === backend && l.dataset === dataset);
          assert.deepEqual(
            mine.map((l) => l.phase),
            ['train', 'train-after-warmup', 'infer', 'infer', 'infer'],
            `${backend} ${dataset}`,
          );
          assert.deepEqual(
            mine.filter((l) => l.phase === 'infer').map((l) => l.batch),
            [1, 64, 1024],
          );
          for (const l of mine) assert.ok(num(l, 'samplesPerSecond', backend) > 0);
        }
      }
      const train = lines.find((l) => l.backend === 'webgpu' && l.dataset === 'mnist8k' && l.phase === 'train')!;
      assert.ok(num(train, 'dispatchesPerSample', 'webgpu train') < 1, 'a dispatch trains many samples');
      assert.ok(num(train, 'bytesReadBackPerSample', 'webgpu train') > 0);
      // The job's one copy of the network (with its last batch) is reported apart, and the
      // batches after warm-up read back less per sample than the whole epoch with that copy.
      const steady = lines.find((l) => l.backend === 'webgpu' && l.dataset === 'mnist8k' && l.phase === 'train-after-warmup')!;
      assert.ok(num(train, 'networkBytesReadBack', 'webgpu train') > 0);
      assert.equal(steady.networkBytesReadBack, train.networkBytesReadBack);
      assert.ok(num(steady, 'bytesReadBackPerSample', 'webgpu after warm-up') < num(train, 'bytesReadBackPerSample', 'webgpu train'));
      const big = lines.find((l) => l.backend === 'webgpu' && l.dataset === 'mnist8k' && l.phase === 'infer' && l.batch === 1024)!;
      assert.ok(num(big, 'submitsPer1000', 'webgpu infer 1024') < 1.01, 'one submit per 1,024 samples');
      const cpuTrain = lines.find((l) => l.backend === 'cpu' && l.dataset === 'mnist8k' && l.phase === 'train')!;
      assert.equal(cpuTrain.dispatchesPerSample, null);
    });
  });
});
