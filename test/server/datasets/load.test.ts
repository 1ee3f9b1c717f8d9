import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { IDX_U8 } from '../../../server/datasets/idx.js';
import { loadDatasetFile } from '../../../server/datasets/load.js';
import { idxBytes, makeTempDir, rejectsWithFormatError } from './helpers.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ dir, cleanup } = await makeTempDir()));
after(() => cleanup());

const images = idxBytes(IDX_U8, [2, 2, 2], Buffer.from([0, 1, 2, 3, 4, 5, 6, 255]));
const labels = idxBytes(IDX_U8, [2], Buffer.from([4, 1]));

async function folderWith(name: string, files: Record<string, Uint8Array | string>): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder);
  for (const [file, bytes] of Object.entries(files)) await writeFile(join(folder, file), bytes);
  return folder;
}

describe('loadDatasetFile', () => {
  it('recognizes IDX by content and finds the labels file beside it', async () => {
    const folder = await folderWith('plain', { 'train-images-idx3-ubyte': images, 'train-labels-idx1-ubyte': labels });
    const dataset = await loadDatasetFile(join(folder, 'train-images-idx3-ubyte'));
    assert.equal(dataset.rows, 2);
    assert.deepEqual(dataset.imageShape, [2, 2]);
    assert.ok(dataset.targets?.kind === 'class');
    assert.deepEqual(Array.from(dataset.targets.labels), [4, 1]);
  });

  it('recognizes gzipped IDX, even under a name that says nothing', async () => {
    const folder = await folderWith('gz', { 'train-images-idx3-ubyte.gz': gzipSync(images), 'train-labels-idx1-ubyte.gz': gzipSync(labels), blob: gzipSync(images) });
    const dataset = await loadDatasetFile(join(folder, 'train-images-idx3-ubyte.gz'));
    assert.ok(dataset.targets?.kind === 'class');
    const blob = await loadDatasetFile(join(folder, 'blob'));
    assert.equal(blob.rows, 2);
    assert.equal(blob.targets, undefined);
  });

  it('uses an explicit labelsPath', async () => {
    const folder = await folderWith('explicit', { pics: images, tags: labels });
    const dataset = await loadDatasetFile(join(folder, 'pics'), { labelsPath: join(folder, 'tags') });
    assert.ok(dataset.targets?.kind === 'class');
  });

  it('loads IDX without targets when no labels file is found', async () => {
    const folder = await folderWith('alone', { 't10k-images-idx3-ubyte': images });
    const dataset = await loadDatasetFile(join(folder, 't10k-images-idx3-ubyte'));
    assert.equal(dataset.targets, undefined);
  });

  it('reads .csv and .csv.gz files with the CSV options', async () => {
    const folder = await folderWith('csv', { 'data.csv': 'a,b,y\n1,2,0\n3,4,1\n', 'data.csv.gz': gzipSync('a,t\n1,-2\n') });
    const classes = await loadDatasetFile(join(folder, 'data.csv'), { labelColumn: 'y' });
    assert.ok(classes.targets?.kind === 'class');
    assert.deepEqual(classes.inputColumns, ['a', 'b']);
    const values = await loadDatasetFile(join(folder, 'data.csv.gz'), { targetColumns: ['t'] });
    assert.ok(values.targets?.kind === 'values');
    assert.deepEqual(Array.from(values.targets.values), [-2]);
  });

  it('rejects options of the other format', async () => {
    const folder = await folderWith('mixed', { 'train-images-idx3-ubyte': images, 'data.csv': 'a\n1\n' });
    await assert.rejects(loadDatasetFile(join(folder, 'train-images-idx3-ubyte'), { labelColumn: 'y' }), /labelColumn does not apply to IDX files/);
    await assert.rejects(loadDatasetFile(join(folder, 'data.csv'), { labelsPath: 'x' }), /labelsPath does not apply to CSV files/);
  });

  it('rejects a file that is neither IDX nor .csv, and reports IDX errors precisely', async () => {
    const folder = await folderWith('unknown', { 'notes.txt': 'a,b\n1,2\n', 'broken-idx3-ubyte': Buffer.from([0, 0, 0x42, 1]) });
    await rejectsWithFormatError(loadDatasetFile(join(folder, 'notes.txt')), { message: /^notes\.txt: not a dataset file/, byteOffset: 0 });
    await rejectsWithFormatError(loadDatasetFile(join(folder, 'broken-idx3-ubyte')), { message: /unknown type byte 0x42/, byteOffset: 2 });
  });
});
