/**
 * End-to-end tests of `hanami dataset export`, `train` and `test`: data in IDX and CSV files,
 * checkpoints, templates, and bad input (exit 2 with a helpful message). Every test spawns
 * the compiled CLI (dist/server/cli/main.js) as a child process and checks exit code, stdout
 * and stderr (test/fixtures/cli.ts).
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertBadInput, checkTrainReport, cliRunner, int, obj, once, oneJsonLine, syntheticCsv } from '../../fixtures/cli.js';

const MNIST_FILES = ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'];

let tmp = '';
const { hanami, hanamiWith, ok } = cliRunner(() => tmp);

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'hanami-cli-'));
});

after(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const mnistDir = () => join(tmp, 'mnist');
const exported = once(() => hanami('dataset', 'export', 'mnist8k', mnistDir()));
/** mnist8k, seed 1, two threads, tested and saved: the reference run several tests compare to. */
const reference = once(() => ok('train', '--train', 'mnist8k', '--test', 'mnist8k', '--seed', '1', '--threads', '2', '--save', join(tmp, 'ref.ckpt'), '--json'));

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
