import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FASHION_MNIST_DIR, fashionAvailable, loadFashion60k } from '../../../server/datasets/fashion.js';

const skip = fashionAvailable() ? false : `Fashion-MNIST is not installed at ${FASHION_MNIST_DIR} (Debian package dataset-fashion-mnist)`;

describe('loadFashion60k', () => {
  it('loads 60000 train and 10000 test rows of 784 raw pixels', { skip }, async () => {
    const { train, test } = await loadFashion60k();
    assert.equal(train.rows, 60_000);
    assert.equal(test.rows, 10_000);
    for (const dataset of [train, test]) {
      assert.equal(dataset.inputWidth, 784);
      assert.deepEqual(dataset.imageShape, [28, 28]);
      assert.ok(dataset.inputs instanceof Uint8Array);
      assert.equal(dataset.inputs.length, dataset.rows * 784);
      assert.ok(dataset.targets?.kind === 'class');
      assert.equal(dataset.targets.classes.length, 10);
    }
    let max = 0;
    for (const pixel of train.inputs) max = Math.max(max, pixel);
    assert.equal(max, 255, 'raw pixels, not normalized');
  });
});
