import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadIdxDataset } from '../../../server/datasets/idx.js';
import { exportMnist8k, loadMnist8k, MersenneTwister, pythonShuffle } from '../../../server/datasets/mnist8k.js';
import type { Dataset } from '../../../server/datasets/types.js';
import { isShared, makeTempDir } from './helpers.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
let mnist: { train: Dataset; test: Dataset };
before(async () => {
  ({ dir, cleanup } = await makeTempDir());
  mnist = await loadMnist8k();
});
after(() => cleanup());

function labelsOf(dataset: Dataset): Uint16Array {
  assert.ok(dataset.targets?.kind === 'class');
  return dataset.targets.labels;
}

function histogram(dataset: Dataset): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of labelsOf(dataset)) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

describe('MersenneTwister (CPython random.Random)', () => {
  it('matches Python: Random(42).getrandbits(32) then .random()', () => {
    const rng = new MersenneTwister(42);
    assert.equal(rng.nextUint32(), 2746317213);
    assert.equal(rng.random(), 0.11133106816568039);
    assert.equal(new MersenneTwister(42).random(), 0.6394267984578837);
  });

  it('shuffles like Python: Random(42).shuffle(list(range(10000)))', () => {
    const order = pythonShuffle(
      Array.from({ length: 10_000 }, (_, i) => i),
      new MersenneTwister(42),
    );
    assert.deepEqual(order.slice(0, 10), [3771, 6672, 7261, 760, 3779, 1772, 7509, 2679, 2305, 9215]);
    assert.deepEqual(order.slice(-5), [3657, 4012, 4506, 409, 1824]);
  });
});

describe('loadMnist8k', () => {
  it('reproduces the reference split: label histograms of train and test', () => {
    assert.equal(mnist.train.rows, 8000);
    assert.equal(mnist.test.rows, 2000);
    assert.deepEqual(histogram(mnist.train), [820, 886, 794, 821, 772, 692, 822, 846, 766, 781]);
    assert.deepEqual(histogram(mnist.test), [181, 241, 197, 211, 208, 171, 192, 224, 178, 197]);
  });

  it('puts the shuffled pool in order: first train label 3, first test labels 9 8 8 9 6', () => {
    assert.equal(labelsOf(mnist.train)[0], 3);
    assert.deepEqual(Array.from(labelsOf(mnist.test).subarray(0, 5)), [9, 8, 8, 9, 6]);
  });

  it('has raw integer pixels 0..255 (max 255) in shared Uint8Arrays, 28×28, classes "0".."9"', () => {
    for (const [dataset, name] of [
      [mnist.train, 'mnist8k-train'],
      [mnist.test, 'mnist8k-test'],
    ] as const) {
      assert.equal(dataset.name, name);
      assert.ok(dataset.inputs instanceof Uint8Array);
      assert.ok(isShared(dataset.inputs));
      assert.ok(isShared(labelsOf(dataset)));
      assert.equal(dataset.inputWidth, 784);
      assert.deepEqual(dataset.imageShape, [28, 28]);
      assert.equal(dataset.inputs.length, dataset.rows * 784);
      assert.equal(
        dataset.inputs.reduce((max, v) => Math.max(max, v), 0),
        255,
      );
      assert.ok(dataset.targets?.kind === 'class');
      assert.deepEqual(dataset.targets.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    }
    // Pixels are real strokes, not a 0/1 mask: many distinct grey levels appear.
    assert.ok(new Set(mnist.train.inputs).size > 200);
  });
});

describe('exportMnist8k', () => {
  it('writes the four standard IDX files that load back identically', async () => {
    const paths = await exportMnist8k(join(dir, 'mnist8k'));
    assert.deepEqual(
      paths.map((path) => basename(path)),
      ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
    );
    const [trainImages = '', trainLabels = '', testImages = '', testLabels = ''] = paths;
    assert.equal((await readFile(trainImages)).readUInt32BE(0), 2051);
    assert.equal((await readFile(trainLabels)).readUInt32BE(0), 2049);
    for (const [images, labels, original] of [
      [trainImages, trainLabels, mnist.train],
      [testImages, testLabels, mnist.test],
    ] as const) {
      const loaded = await loadIdxDataset(images, labels);
      assert.equal(loaded.rows, original.rows);
      assert.deepEqual(loaded.imageShape, [28, 28]);
      assert.deepEqual(Buffer.from(loaded.inputs), Buffer.from(original.inputs));
      assert.deepEqual(Array.from(labelsOf(loaded)), Array.from(labelsOf(original)));
    }
  });
});
