import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closestName } from '../../server/did-you-mean.js';

describe('closestName', () => {
  const blocks = ['settings', 'hexagons', 'axons', 'inputs', 'outputs'];

  it('finds the name a slip was meant to be: case, a missing, extra, wrong or swapped letter', () => {
    assert.equal(closestName('mnist8K', ['mnist8k', 'fashion60k']), 'mnist8k');
    assert.equal(closestName('ouputs', blocks), 'outputs');
    assert.equal(closestName('outputss', blocks), 'outputs');
    assert.equal(closestName('hexagnos', blocks), 'hexagons');
    assert.equal(closestName('minst8k', ['mnist8k', 'fashion60k']), 'mnist8k');
    assert.equal(closestName('Y', ['a', 'b', 'y']), 'y');
  });

  it('offers nothing for another word, a short name that is not a case slip, or an exact match', () => {
    assert.equal(closestName('layers', blocks), undefined);
    assert.equal(closestName('z', ['a', 'b']), undefined);
    assert.equal(closestName('cifar10', ['mnist8k', 'fashion60k']), undefined);
    assert.equal(closestName('outputs', blocks), undefined);
    assert.equal(closestName('x'.repeat(10_000), blocks), undefined);
  });
});
