/**
 * End-to-end tests of the `hanami` command line: every test spawns the compiled CLI
 * (dist/server/cli/main.js) as a child process and checks exit code, stdout and stderr.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { webGpuUnavailable } from '../../fixtures/gpu.js';
import { fashionAvailable } from '../../../server/datasets/fashion.js';

/** The compiled CLI: this file runs as dist/test/server/cli/cli.test.js. */
const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));
const PACKAGE_JSON = fileURLToPath(new URL('../../../../package.json', import.meta.url));

const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let tmp = '';

function childEnv(): NodeJS.ProcessEnv {
  // The test runner's own variables must not leak into the CLI.
  const env: NodeJS.ProcessEnv = {};
  // HANAMI_BACKEND would change --backend's default: the tests state their backend.
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && k !== 'HANAMI_BACKEND') env[k] = v;
  return env;
}

/** Runs `hanami ...args` to completion (in the temp dir) and returns its exit code and output. */
function hanami(...args: string[]): Promise<Run> {
  return hanamiWith({}, ...args);
}

/** `hanami ...args` with extra environment variables (e.g. HANAMI_DISABLE_WEBGPU=1 to
 *  simulate a host without a WebGPU adapter). */
function hanamiWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { cwd: tmp, env: { ...childEnv(), ...env }, maxBuffer: 16 << 20, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(new Error(`hanami ${args.join(' ')} did not exit normally (${String(error.code ?? error.signal)}): ${stderr}`));
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** A run that must succeed: exit 0 and nothing unexpected on stderr. */
async function ok(...args: string[]): Promise<Run> {
  const r = await hanami(...args);
  assert.equal(r.code, 0, `hanami ${args.join(' ')} exited with ${r.code}:\n${r.stderr}`);
  return r;
}

/** Parses stdout that must be exactly one JSON object on one line. */
function oneJsonLine(stdout: string): Record<string, unknown> {
  assert.ok(stdout.endsWith('\n'), 'stdout ends with a newline');
  const lines = stdout.slice(0, -1).split('\n');
  assert.equal(lines.length, 1, `stdout must be one line, got:\n${stdout}`);
  const value: unknown = JSON.parse(lines[0]!);
  return obj(value, 'stdout');
}

function obj(x: unknown, what: string): Record<string, unknown> {
  assert.ok(typeof x === 'object' && x !== null && !Array.isArray(x), `${what} must be an object, got ${JSON.stringify(x)}`);
  return x as Record<string, unknown>;
}

function num(o: Record<string, unknown>, key: string, what: string): number {
  const v = o[key];
  assert.ok(typeof v === 'number' && Number.isFinite(v), `${what}.${key} must be a finite number, got ${JSON.stringify(v)}`);
  return v;
}

function int(o: Record<string, unknown>, key: string, what: string, min = 0): number {
  const v = num(o, key, what);
  assert.ok(Number.isInteger(v) && v >= min, `${what}.${key} must be an integer >= ${min}, got ${v}`);
  return v;
}

function str(o: Record<string, unknown>, key: string, what: string): string {
  const v = o[key];
  assert.equal(typeof v, 'string', `${what}.${key} must be a string`);
  return v as string;
}

interface TrainShape {
  dataset: string;
  threads: number;
  epochs: number;
  seed: number;
  trainSamples: number;
  testSamples: number | undefined;
  accuracy: number | undefined;
  rmse: number | undefined;
  mae: number | undefined;
  synapses: number;
}

/** Checks every key and type of a `train --json` report and returns the numbers tests compare. */
function checkTrainReport(report: Record<string, unknown>, withTest = true): TrainShape {
  const dataset = str(report, 'dataset', 'report');
  assert.equal(str(report, 'backend', 'report'), 'cpu');
  const threads = int(report, 'threads', 'report', 1);
  const epochs = int(report, 'epochs', 'report', 1);
  const seed = int(report, 'seed', 'report');
  const train = obj(report.train, 'train');
  const trainSamples = int(train, 'samples', 'train', 1);
  assert.ok(num(train, 'seconds', 'train') >= 0);
  assert.ok(num(train, 'samplesPerSecond', 'train') > 0);
  const network = obj(report.network, 'network');
  for (const k of ['neurons', 'sections', 'outputLinks', 'bytes']) int(network, k, 'network');
  const synapses = int(network, 'synapses', 'network');
  assert.ok(num(network, 'bytesPerSynapse', 'network') > 0);
  const work = obj(report.work, 'work');
  assert.ok(Object.keys(work).length > 0, 'work has counters');
  for (const k of Object.keys(work)) num(work, k, 'work');
  int(work, 'visitsPerTrainSample', 'work');
  int(report, 'peakRssBytes', 'report', 1);
  let testSamples: number | undefined;
  let accuracy: number | undefined;
  let rmse: number | undefined;
  let mae: number | undefined;
  if (withTest) {
    const test = obj(report.test, 'test');
    testSamples = int(test, 'samples', 'test', 1);
    assert.ok(num(test, 'seconds', 'test') >= 0);
    if ('accuracy' in test) {
      accuracy = num(test, 'accuracy', 'test');
      assert.ok(accuracy >= 0 && accuracy <= 1, `accuracy ${accuracy} is a fraction`);
    } else {
      rmse = num(test, 'rmse', 'test');
      mae = num(test, 'mae', 'test');
      assert.ok(rmse >= 0 && mae >= 0 && mae <= rmse + 1e-9, `rmse ${rmse} >= mae ${mae} >= 0`);
    }
    int(work, 'visitsPerTestSample', 'work');
  } else {
    assert.equal(report.test, undefined);
  }
  return { dataset, threads, epochs, seed, trainSamples, testSamples, accuracy, rmse, mae, synapses };
}

/** Asserts a bad-input failure: exit 2, nothing on stdout, one `hanami: ...` message, no stack. */
function assertBadInput(r: Run, ...mentions: RegExp[]): void {
  assert.equal(r.code, 2, `expected exit 2, got ${r.code}; stderr:\n${r.stderr}`);
  assert.equal(r.stdout, '', 'stdout stays empty on errors');
  assert.match(r.stderr, /^hanami: \S/, 'the message starts with "hanami: "');
  assert.ok(!r.stderr.includes('    at '), `no stack trace:\n${r.stderr}`);
  const firstLine = r.stderr.split('\n')[0]!;
  for (const m of mentions) assert.match(firstLine, m);
}

/** Runs one CLI command at most once per file (several tests share its result). */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => (p ??= f());
}

const mnistDir = () => join(tmp, 'mnist');
const exported = once(() => hanami('dataset', 'export', 'mnist8k', mnistDir()));
/** mnist8k, seed 1, two threads, tested and saved: the reference run several tests compare to. */
const reference = once(() => ok('train', '--train', 'mnist8k', '--test', 'mnist8k', '--seed', '1', '--threads', '2', '--save', join(tmp, 'ref.ckpt'), '--json'));

/** A small deterministic random source (mulberry32) for synthetic CSV data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface CsvRow {
  line: string;
  label: number;
  speed: number;
}

/**
 * 600 rows of sensor-like data: three inputs in wildly different units (0..1e-3, 0..50,
 * 1e5..2e5), a class label that depends on all three, and a numeric target.
 */
function syntheticCsv(): { header: string; rows: CsvRow[] } {
  const rand = random(7);
  const rows: CsvRow[] = [];
  for (let i = 0; i < 600; i++) {
    const micro = rand() * 1e-3;
    const mid = rand() * 50;
    const big = 1e5 + rand() * 1e5;
    const score = micro / 1e-3 + mid / 50 + (big - 1e5) / 1e5;
    const label = score < 1.2 ? 0 : score < 1.8 ? 1 : 2;
    const speed = Number((micro * 1000 + mid / 10 + (big - 1e5) / 2e4).toFixed(4));
    rows.push({ line: [`s${i}`, micro.toExponential(6), mid.toFixed(4), big.toFixed(2), speed, label].join(','), label, speed });
  }
  return { header: 'id,micro,mid,big,speed,label', rows };
}

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hanami-cli-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('hanami dataset export + train on IDX files', () => {
  it('dataset export mnist8k writes the four standard MNIST files', async () => {
    const r = await exported();
    assert.equal(r.code, 0, r.stderr);
    for (const f of MNIST_FILES) {
      assert.ok(existsSync(join(mnistDir(), f)), `${f} exists`);
      assert.ok(r.stdout.includes(f), `${f} is listed on stdout`);
    }
    // 8000 + 2000 28×28 images, with 16- and 8-byte IDX headers.
    assert.equal(statSync(join(mnistDir(), 'train-images-idx3-ubyte')).size, 16 + 8000 * 784);
    assert.equal(statSync(join(mnistDir(), 'train-labels-idx1-ubyte')).size, 8 + 8000);
    assert.equal(statSync(join(mnistDir(), 't10k-images-idx3-ubyte')).size, 16 + 2000 * 784);
    assert.equal(statSync(join(mnistDir(), 't10k-labels-idx1-ubyte')).size, 8 + 2000);
  });

  it('train --json on the exported files prints one complete JSON report, equal to the built-in run', async () => {
    assert.equal((await exported()).code, 0);
    const trainPath = join(mnistDir(), 'train-images-idx3-ubyte');
    const r = await ok('train', '--train', trainPath, '--test', join(mnistDir(), 't10k-images-idx3-ubyte'), '--json', '--seed', '1');
    const files = checkTrainReport(oneJsonLine(r.stdout));
    assert.equal(files.dataset, trainPath);
    assert.equal(files.epochs, 1);
    assert.equal(files.seed, 1);
    assert.equal(files.trainSamples, 8000);
    assert.equal(files.testSamples, 2000);
    assert.ok(files.accuracy !== undefined && files.accuracy > 0.85, `accuracy ${files.accuracy} > 0.85`);
    assert.ok(files.synapses > 0);

    const builtin = checkTrainReport(oneJsonLine((await reference()).stdout));
    assert.equal(builtin.dataset, 'mnist8k');
    assert.equal(builtin.threads, 2);
    assert.equal(builtin.trainSamples, 8000);
    assert.equal(builtin.testSamples, 2000);
    // Same data, same seed: the same network and the same score.
    assert.equal(builtin.accuracy, files.accuracy);
    assert.equal(builtin.synapses, files.synapses);
  });
});

describe('hanami train --save / hanami test', () => {
  it('test --checkpoint reproduces the accuracy measured right after training', async () => {
    const trained = checkTrainReport(oneJsonLine((await reference()).stdout));
    const r = await ok('test', '--checkpoint', join(tmp, 'ref.ckpt'), '--test', 'mnist8k', '--json');
    const report = oneJsonLine(r.stdout);
    assert.equal(report.checkpoint, join(tmp, 'ref.ckpt'));
    assert.equal(report.dataset, 'mnist8k');
    assert.equal(report.backend, 'cpu');
    const test = obj(report.test, 'test');
    assert.equal(test.samples, 2000);
    assert.equal(test.accuracy, trained.accuracy);
    assert.equal(obj(report.network, 'network').synapses, trained.synapses);
    int(report, 'peakRssBytes', 'report', 1);
  });

  it('the same seed gives byte-identical checkpoints, whatever the thread count; another seed does not', async () => {
    await reference(); // seed 1, 2 threads
    const again = join(tmp, 'seed1-again.ckpt');
    const oneThread = join(tmp, 'seed1-t1.ckpt');
    const seed2 = join(tmp, 'seed2.ckpt');
    await ok('train', '--train', 'mnist8k', '--seed', '1', '--threads', '2', '--save', again, '--json');
    await ok('train', '--train', 'mnist8k', '--seed', '1', '--threads', '1', '--save', oneThread, '--json');
    const r = await ok('train', '--train', 'mnist8k', '--seed', '2', '--threads', '2', '--save', seed2, '--json');
    checkTrainReport(oneJsonLine(r.stdout), false);
    const ref = readFileSync(join(tmp, 'ref.ckpt'));
    assert.ok(ref.length > 1000, 'a real checkpoint');
    assert.ok(ref.equals(readFileSync(again)), 'same seed twice → identical checkpoint bytes');
    assert.ok(ref.equals(readFileSync(oneThread)), '--threads 1 and --threads 2 → identical checkpoint bytes');
    assert.ok(!ref.equals(readFileSync(seed2)), 'another seed → another checkpoint');
  });
});

describe('hanami train on CSV data', () => {
  const { header, rows } = syntheticCsv();
  const trainRows = rows.slice(0, 450);
  const testRows = rows.slice(450);
  const trainCsv = () => join(tmp, 'sensors-train.csv');
  const testCsv = () => join(tmp, 'sensors-test.csv');
  const write = once(async () => {
    writeFileSync(trainCsv(), `${header}\n${trainRows.map((r) => r.line).join('\n')}\n`);
    writeFileSync(testCsv(), `${header}\n${testRows.map((r) => r.line).join('\n')}\n`);
  });

  it('learns a class-label column from raw values in wildly different units', async () => {
    await write();
    const r = await ok('train', '--train', trainCsv(), '--test', testCsv(), '--label', 'label', '--inputs', 'micro,mid,big', '--epochs', '3', '--json');
    const report = checkTrainReport(oneJsonLine(r.stdout));
    assert.equal(report.trainSamples, 450 * 3);
    assert.equal(report.epochs, 3);
    assert.equal(report.testSamples, 150);
    assert.ok(report.accuracy !== undefined, 'a class label gives an accuracy');
    const counts = [0, 0, 0];
    for (const row of testRows) counts[row.label]!++;
    const majority = Math.max(...counts) / testRows.length;
    assert.ok(report.accuracy > majority, `accuracy ${report.accuracy} beats always guessing the majority class (${majority})`);
  });

  it('learns a numeric --targets column and reports rmse / mae instead of accuracy', async () => {
    await write();
    const r = await ok('train', '--train', trainCsv(), '--test', testCsv(), '--targets', 'speed', '--inputs', 'micro,mid,big', '--epochs', '3', '--json');
    const report = checkTrainReport(oneJsonLine(r.stdout));
    assert.equal(report.accuracy, undefined);
    assert.ok(report.rmse !== undefined && report.mae !== undefined);
    const mean = testRows.reduce((s, row) => s + row.speed, 0) / testRows.length;
    const std = Math.sqrt(testRows.reduce((s, row) => s + (row.speed - mean) ** 2, 0) / testRows.length);
    assert.ok(report.rmse < std, `rmse ${report.rmse} beats always predicting the mean (${std})`);
  });
});

describe('hanami train --template', () => {
  const flat = `# a flat network: x,y means x,y,1
version: 1
settings:
    neuron_cooldown: 1000000000.0
    refractory_time: 1
    max_connection_distance: 2
    enable_reduction: false
hexagons:
    1,1
    2,1
    3,1
    4,1
inputs:
    picture: 1,1
outputs:
    digit: 4,1
`;
  const layered = `version: 1
settings:
    max_connection_distance: 1
hexagons:
    1,1,1
    1,1,2
    2,1,1
    2,1,2
    3,1,1
axons:
    2,1,2 -> 3,1,1
inputs:
    picture: 1,1,1
outputs:
    digit: 3,1,1
`;
  for (const [name, text] of [
    ['2-D', flat],
    ['3-D with an axon', layered],
  ] as const) {
    it(`trains mnist8k with a ${name} template`, async () => {
      const file = join(tmp, `template-${name.slice(0, 3)}.txt`);
      writeFileSync(file, text);
      const r = await ok('train', '--train', 'mnist8k', '--test', 'mnist8k', '--template', file, '--json');
      const report = checkTrainReport(oneJsonLine(r.stdout));
      assert.equal(report.trainSamples, 8000);
      assert.ok(report.synapses > 0);
      assert.ok(report.accuracy !== undefined && report.accuracy > 0.5, `accuracy ${report.accuracy}`);
    });
  }
});

describe('bad input: exit 2 with a helpful message', () => {
  it('a missing dataset file', async () => {
    const missing = join(tmp, 'no-such-images-idx3-ubyte');
    assertBadInput(await hanami('train', '--train', missing, '--json'), /not found/, new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  });

  it('a truncated IDX file names the byte offset where it ends', async () => {
    assert.equal((await exported()).code, 0);
    const dir = join(tmp, 'truncated');
    mkdirSync(dir, { recursive: true });
    const images = readFileSync(join(mnistDir(), 'train-images-idx3-ubyte'));
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), images.subarray(0, 5000));
    copyFileSync(join(mnistDir(), 'train-labels-idx1-ubyte'), join(dir, 'train-labels-idx1-ubyte'));
    assertBadInput(await hanami('train', '--train', join(dir, 'train-images-idx3-ubyte'), '--json'), /train-images-idx3-ubyte/, /byte offset 5000\b/);
  });

  it('a CSV file with a non-numeric cell names its row and column', async () => {
    const file = join(tmp, 'bad.csv');
    writeFileSync(file, 'a,b,c,label\n1,2,3,0\n4,5,6,1\n7,8,seven,0\n');
    assertBadInput(await hanami('train', '--train', file, '--label', 'label', '--json'), /seven/, /row 4, column 3/);
  });

  it('CSV data without --label / --targets: nothing to learn or score, so exit 2 naming the columns', async () => {
    await reference();
    const csv = join(tmp, 'unmarked.csv');
    writeFileSync(csv, 'a,b,y\n1,2,0\n3,4,1\n5,6,0\n');
    assertBadInput(await hanami('train', '--train', csv, '--json'), /nothing to learn/, /--label <column>/, /--targets <columns>/, /the columns are: a, b, y$/);
    assertBadInput(await hanami('train', '--train', csv, '--inputs', 'a,b'), /nothing to learn/, /the columns are: a, b, y$/);
    assertBadInput(await hanami('test', '--checkpoint', join(tmp, 'ref.ckpt'), '--test', csv), /nothing to score against/, /--label/);
    // Class labels in a column not marked as such: the hint names the option to give.
    const weather = join(tmp, 'weather.csv');
    writeFileSync(weather, 'day,temp,wind,weather\n1,20,3,calm\n2,18,9,windy\n');
    assertBadInput(await hanami('train', '--train', weather), /not a number in column "weather": "calm" at row 2, column 4/, /give --label weather/);
    assertBadInput(await hanami('train', '--train', weather, '--label', 'wind'), /"weather"/, /give --label weather/, /--inputs/);
    assertBadInput(await hanami('train', '--train', weather, '--targets', 'weather'), /--targets takes numeric columns/, /--label weather instead/);
  });

  it('IDX images without labels: exit 2 asking for the labels file', async () => {
    await reference();
    assert.equal((await exported()).code, 0);
    const dir = join(tmp, 'unlabelled');
    mkdirSync(dir, { recursive: true });
    const images = join(dir, 't10k-images-idx3-ubyte');
    copyFileSync(join(mnistDir(), 't10k-images-idx3-ubyte'), images);
    assertBadInput(await hanami('train', '--train', images, '--json'), /nothing to learn/, /no labels file/, /--train-labels <file>/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--test', images), /nothing to score against/, /--test-labels <file>/);
    assertBadInput(await hanami('test', '--checkpoint', join(tmp, 'ref.ckpt'), '--test', images), /nothing to score against/, /--test-labels <file>/);
  });

  it('a misspelled built-in dataset name: the built-in names and the likely one', async () => {
    await reference();
    assertBadInput(await hanami('train', '--train', 'mnist8K', '--json'), /not found: mnist8K/, /did you mean mnist8k\?/, /mnist8k, fashion60k/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--test', 'fashoin60k'), /did you mean fashion60k\?/);
    assertBadInput(await hanami('test', '--checkpoint', join(tmp, 'ref.ckpt'), '--test', 'MNIST8k'), /did you mean mnist8k\?/);
    assertBadInput(await hanami('train', '--train', 'cifar10'), /not found: cifar10/, /nor is it a built-in dataset: mnist8k, fashion60k/);
    assertBadInput(await hanami('dataset', 'export', 'mnist8K', join(tmp, 'x')), /unknown dataset "mnist8K"/, /did you mean mnist8k\?/);
    assertBadInput(await hanami('dataset', 'export', 'fashion60k', join(tmp, 'x')), /fashion60k cannot be exported/, /only mnist8k/);
    assertBadInput(await hanami('bench', '--only', 'mnist8K'), /unknown suite mnist8K/, /did you mean mnist8k\?/);
  });

  it('a bad template names its line and column', async () => {
    const syntax = join(tmp, 'bad-syntax.txt');
    writeFileSync(syntax, 'version: 1\nhexagons:\n    1,1,1\n    2,1,$\ninputs:\n    i: 1,1,1\noutputs:\n    o: 2,1,1\n');
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--template', syntax, '--json'), /line 4, column 9/, /"\$"/);
    const semantic = join(tmp, 'bad-setting.txt');
    writeFileSync(semantic, 'version: 1\nsettings:\n    neuron_colldown: 10\nhexagons:\n    1,1,1\n    2,1,1\ninputs:\n    i: 1,1,1\noutputs:\n    o: 2,1,1\n');
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--template', semantic, '--json'), /line 3, column 5/, /neuron_colldown/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--template', join(tmp, 'no-template.txt')), /template/, /not found/);
    const header = join(tmp, 'bad-header.txt');
    writeFileSync(header, 'version: 1\nhexagons:\n    1,1,1\n    2,1,1\ninputs:\n    i: 1,1,1\nouputs:\n    o: 2,1,1\n');
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--template', header), /line 7, column 1/, /unknown block "ouputs"/, /did you mean "outputs"\?/);
  });

  it('a corrupted or missing checkpoint for hanami test', async () => {
    await reference();
    const good = readFileSync(join(tmp, 'ref.ckpt'));
    const flipped = Buffer.from(good);
    flipped[flipped.length >> 1]! ^= 0xff;
    writeFileSync(join(tmp, 'flipped.ckpt'), flipped);
    writeFileSync(join(tmp, 'truncated.ckpt'), good.subarray(0, good.length >> 1));
    writeFileSync(join(tmp, 'text.ckpt'), 'not a checkpoint\n');
    for (const f of ['flipped.ckpt', 'truncated.ckpt', 'text.ckpt']) {
      assertBadInput(await hanami('test', '--checkpoint', join(tmp, f), '--test', 'mnist8k', '--json'), /checkpoint/);
    }
    assertBadInput(await hanami('test', '--checkpoint', join(tmp, 'missing.ckpt'), '--test', 'mnist8k'), /checkpoint/, /not found/);
  });

  it('bad option values and usage errors', async () => {
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--epochs', '0', '--json'), /--epochs/, /positive integer/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--epochs', 'two'), /--epochs/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--seed', '-1'), /--seed/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--threads', '0'), /--threads/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--backend', 'tpu', '--json'), /tpu/, /cpu/);
    assertBadInput(await hanami('train', '--json'), /--train/);
    assertBadInput(await hanami('train', '--train', 'mnist8k', '--no-such-option'), /--no-such-option/);
    assertBadInput(await hanami('bench', '--only', 'imagenet'), /imagenet/, /mnist8k/);
    assertBadInput(await hanami('dataset', 'export', 'imagenet', join(tmp, 'x')), /imagenet/, /mnist8k/);
  });

  it('a backend this host does not have, and options of the wrong dataset format', async () => {
    const noAdapter = { HANAMI_DISABLE_WEBGPU: '1' };
    assertBadInput(await hanamiWith(noAdapter, 'train', '--train', 'mnist8k', '--backend', 'webgpu', '--json'), /WebGPU backend is unavailable/, /HANAMI_DISABLE_WEBGPU/);
    assert.equal((await exported()).code, 0);
    assertBadInput(await hanami('train', '--train', join(mnistDir(), 'train-images-idx3-ubyte'), '--label', 'y'), /--label/, /IDX/);
    const csv = join(tmp, 'tiny.csv');
    writeFileSync(csv, 'a,b,y\n1,2,0\n3,4,1\n');
    assertBadInput(await hanami('train', '--train', csv, '--train-labels', join(mnistDir(), 'train-labels-idx1-ubyte')), /--train-labels/, /CSV/);
    assertBadInput(await hanami('train', '--train', csv, '--label', 'y', '--targets', 'b'), /--label/, /--targets/);
    assertBadInput(await hanami('train', '--train', csv, '--label', 'nope'), /unknown column "nope" in --label/);
    assertBadInput(await hanami('train', '--train', csv, '--label', 'Y'), /unknown column "Y" in --label/, /did you mean "y"\?/);
    assertBadInput(await hanami('train', '--train', csv, '--label', 'y', '--inputs', 'a,c'), /unknown column "c" in --inputs/);
  });
});

describe('hanami --help', () => {
  const cases: Array<[string[], string[]]> = [
    [['train'], ['--train', '--test', '--train-labels', '--test-labels', '--label', '--targets', '--inputs', '--template', '--epochs', '--seed', '--backend', '--threads', '--save', '--json']],
    [['test'], ['--checkpoint', '--test', '--test-labels', '--label', '--targets', '--backend', '--threads', '--json']],
    [['info'], ['--json']],
    [['bench'], ['--only', '--runs', '--backend', '--threads', '--out', '--contention', '--shape', '--train-rows']],
    [['dataset', 'export'], ['mnist8k', '<dir>']],
    [['admin', 'reset-passphrase'], ['<user>', '--passphrase-stdin', '--generate', 'HANAMI_DATA_DIR']],
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
      const lines = r.stdout.trim().split('\n').map((l) => obj(JSON.parse(l), 'line'));
      assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown), lines);
      // mnist8k everywhere; fashion60k where Debian's dataset is installed, a note otherwise.
      const datasets = fashionAvailable() ? ['mnist8k', 'fashion60k'] : ['mnist8k'];
      if (!fashionAvailable()) assert.ok(lines.some((l) => l.dataset === 'fashion60k' && l.available === false && typeof l.reason === 'string'));
      for (const backend of ['cpu', 'webgpu']) {
        for (const dataset of datasets) {
          const mine = lines.filter((l) => l.backend === backend && l.dataset === dataset);
          assert.deepEqual(mine.map((l) => l.phase), ['train', 'train-after-warmup', 'infer', 'infer', 'infer'], `${backend} ${dataset}`);
          assert.deepEqual(mine.filter((l) => l.phase === 'infer').map((l) => l.batch), [1, 64, 1024]);
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
