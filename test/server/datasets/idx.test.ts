import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { findLabelsFile, IDX_F32, IDX_F64, IDX_I16, IDX_I32, IDX_I8, IDX_U8, loadIdxDataset, readIdx, writeIdx } from '../../../server/datasets/idx.js';
import { bigEndian, chunkedStream, idxBytes, isShared, makeTempDir, rejectsWithFormatError } from './helpers.js';

let dir = '';
let cleanup: () => Promise<void> = async () => undefined;
before(async () => ({ dir, cleanup } = await makeTempDir()));
after(() => cleanup());

async function fixture(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}

const f32 = (values: number[]): Buffer => bigEndian(values, 4, (b, v, at) => b.writeFloatBE(v, at));
const f64 = (values: number[]): Buffer => bigEndian(values, 8, (b, v, at) => b.writeDoubleBE(v, at));
const i16 = (values: number[]): Buffer => bigEndian(values, 2, (b, v, at) => b.writeInt16BE(v, at));
const i32 = (values: number[]): Buffer => bigEndian(values, 4, (b, v, at) => b.writeInt32BE(v, at));

describe('readIdx', () => {
  it('round-trips writeIdx into a SharedArrayBuffer-backed Uint8Array', async () => {
    const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => (i * 37) % 256);
    const path = join(dir, 'roundtrip-idx3-ubyte');
    await writeIdx(path, IDX_U8, [2, 3, 4], data);
    const file = await readIdx(path);
    assert.equal(file.type, IDX_U8);
    assert.deepEqual(file.dims, [2, 3, 4]);
    assert.equal(file.dataOffset, 16);
    assert.ok(file.data instanceof Uint8Array);
    assert.ok(isShared(file.data));
    assert.deepEqual(Array.from(file.data), Array.from(data));
    assert.deepEqual((await readFile(path)).subarray(0, 4), Buffer.from([0, 0, 8, 3]));
  });

  it('detects gzip by its magic bytes, whatever the file name', async () => {
    const bytes = idxBytes(IDX_U8, [2, 2], Uint8Array.from([0, 128, 255, 7]));
    const path = await fixture('no-extension', gzipSync(bytes));
    const file = await readIdx(path);
    assert.deepEqual(Array.from(file.data), [0, 128, 255, 7]);
    const gz = await fixture('named.gz', gzipSync(bytes));
    assert.deepEqual(Array.from((await readIdx(gz)).data), [0, 128, 255, 7]);
  });

  it('parses the header incrementally from 1-byte chunks of a stream', async () => {
    const bytes = idxBytes(IDX_U8, [3, 1, 2], Uint8Array.from([1, 2, 3, 4, 5, 6]));
    const file = await readIdx(chunkedStream(bytes, 1));
    assert.deepEqual(file.dims, [3, 1, 2]);
    assert.deepEqual(Array.from(file.data), [1, 2, 3, 4, 5, 6]);
  });

  it('decodes multi-byte elements that straddle chunk boundaries', async () => {
    const values = [0.5, 1, 255, 3.25, 1e6];
    const bytes = gzipSync(idxBytes(IDX_F64, [5], f64(values)));
    for (const chunkSize of [1, 3, 7]) {
      const file = await readIdx(chunkedStream(bytes, chunkSize));
      assert.deepEqual(Array.from(file.data), values, `chunk size ${chunkSize}`);
    }
  });

  it('turns every non-u8 type into a shared Float32Array of the raw values', async () => {
    const cases: Array<[number, Buffer, number[]]> = [
      [IDX_I8, Buffer.from([0, 5, 127]), [0, 5, 127]],
      [IDX_I16, i16([0, 300, 32767]), [0, 300, 32767]],
      [IDX_I32, i32([0, 70000, 16777216]), [0, 70000, 16777216]],
      [IDX_F32, f32([0, 0.25, 1023.5]), [0, 0.25, 1023.5]],
      [IDX_F64, f64([0, 0.125, 4096]), [0, 0.125, 4096]],
    ];
    for (const [type, payload, expected] of cases) {
      const file = await readIdx(chunkedStream(idxBytes(type, [3], payload), 5));
      assert.equal(file.type, type);
      assert.ok(file.data instanceof Float32Array);
      assert.ok(isShared(file.data));
      assert.deepEqual(Array.from(file.data), expected);
    }
  });

  it('accepts negative values when requireNonNegative is false', async () => {
    const file = await readIdx(chunkedStream(idxBytes(IDX_I16, [2], i16([-3, 4])), 64), { requireNonNegative: false });
    assert.deepEqual(Array.from(file.data), [-3, 4]);
  });
});

describe('readIdx errors (byte offsets in the decompressed stream)', () => {
  const reject = (bytes: Uint8Array, expected: { message: RegExp; byteOffset: number }, options = {}): Promise<void> => rejectsWithFormatError(readIdx(chunkedStream(bytes, 3), options), expected);

  it('rejects a non-zero first or second byte', async () => {
    await reject(Buffer.from([1, 0, 8, 1, 0, 0, 0, 1, 0]), { message: /bad IDX magic: expected the file to start with two zero bytes, got 0x01/, byteOffset: 0 });
    await reject(Buffer.from([0, 0x50, 8, 1]), { message: /bad IDX magic.*got 0x50/, byteOffset: 1 });
  });

  it('rejects an unknown type byte', async () => {
    await reject(Buffer.from([0, 0, 0x0a, 1, 0, 0, 0, 1, 0]), { message: /bad IDX magic: unknown type byte 0x0a/, byteOffset: 2 });
  });

  it('rejects 0 dimensions', async () => {
    await reject(Buffer.from([0, 0, 8, 0, 1, 2]), { message: /bad IDX magic: the file declares 0 dimensions/, byteOffset: 3 });
  });

  it('rejects a dimension of size 0', async () => {
    await reject(idxBytes(IDX_U8, [3, 0, 2]), { message: /dimension 1 has size 0/, byteOffset: 8 });
  });

  it('rejects data over the maxBytes cap before allocating, at the dimension that crosses it', async () => {
    await reject(idxBytes(IDX_U8, [10, 11]), { message: /data too large: .*110 bytes, over the limit of 100/, byteOffset: 8 }, { maxBytes: 100 });
    // Decoded f32 takes 4 bytes an element: 30 × 4 = 120.
    await reject(idxBytes(IDX_F32, [30]), { message: /data too large: .*120 bytes/, byteOffset: 4 }, { maxBytes: 100 });
    // The 2 GiB default: 65536 × 65536 bytes is 4 GiB.
    await reject(idxBytes(IDX_U8, [65536, 65536, 1]), { message: /over the limit of 2147483648/, byteOffset: 8 });
  });

  it('rejects a file that ends inside the header', async () => {
    await reject(idxBytes(IDX_U8, [4, 4]).subarray(0, 10), { message: /file ends inside the header: expected 12 header bytes, got 10/, byteOffset: 10 });
    await reject(new Uint8Array(0), { message: /expected 4 header bytes, got 0/, byteOffset: 0 });
  });

  it('rejects truncated data', async () => {
    await reject(idxBytes(IDX_U8, [4], Buffer.from([1, 2, 3])), { message: /expected 4 bytes of data, got 3/, byteOffset: 11 });
    await reject(idxBytes(IDX_F32, [2], f32([1]).subarray(0, 3)), { message: /expected 8 bytes of data, got 3/, byteOffset: 11 });
  });

  it('rejects trailing bytes after the data', async () => {
    await reject(idxBytes(IDX_U8, [2], Buffer.from([1, 2, 3, 4])), { message: /trailing bytes after the data \(the header declares 2 bytes/, byteOffset: 10 });
  });

  it('rejects negative values in signed types, at the element', async () => {
    await reject(idxBytes(IDX_I16, [3], i16([5, -2, 7])), { message: /negative value -2 at element 1: the network takes positive raw values/, byteOffset: 10 });
    await reject(idxBytes(IDX_I8, [2], Buffer.from([0, 0xff])), { message: /negative value -1 at element 1/, byteOffset: 9 });
    await reject(idxBytes(IDX_F32, [2], f32([-0.5, 1])), { message: /negative value -0.5 at element 0/, byteOffset: 8 });
  });

  it('rejects NaN and Infinity in float types', async () => {
    await reject(idxBytes(IDX_F32, [3], f32([1, 2, NaN])), { message: /value NaN at element 2 \(NaN and Infinity are not allowed\)/, byteOffset: 16 });
    await reject(idxBytes(IDX_F64, [2], f64([1, Infinity])), { message: /value Infinity at element 1/, byteOffset: 16 });
    await reject(idxBytes(IDX_F64, [2], f64([1e300, 1])), { message: /value 1e\+300 at element 0 does not fit a 32-bit float/, byteOffset: 8 });
  });

  it('measures offsets after decompression', async () => {
    const bytes = gzipSync(idxBytes(IDX_U8, [2], Buffer.from([1, 2, 3])));
    await reject(bytes, { message: /trailing bytes/, byteOffset: 10 });
  });

  it('maps a corrupt gzip stream to a format error', async () => {
    const corrupt = gzipSync(idxBytes(IDX_U8, [2], Buffer.from([1, 2])));
    corrupt[2] = 7; // compression method: only 8 (deflate) exists
    await reject(corrupt, { message: /corrupt gzip stream \(unknown compression method\)/, byteOffset: 0 });
  });

  it('maps a truncated gzip stream to a format error within the decompressed data', async () => {
    const data = Uint8Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251);
    const gz = gzipSync(idxBytes(IDX_U8, [200_000], data));
    await assert.rejects(readIdx(chunkedStream(gz.subarray(0, gz.length - 1000), 4096)), (error: unknown) => {
      assert.ok(error instanceof Error && error.name === 'DatasetFormatError');
      assert.match(error.message, /corrupt gzip stream \(unexpected end of file\) at byte offset \d+/);
      const offset = (error as { byteOffset?: number }).byteOffset ?? -1;
      assert.ok(offset >= 0 && offset <= 200_008, `offset ${offset}`);
      return true;
    });
  });

  it('names the file in errors when reading a path', async () => {
    const path = await fixture('broken-idx1-ubyte', Buffer.from([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]));
    await rejectsWithFormatError(readIdx(path), { message: /^broken-idx1-ubyte: expected 5 bytes of data, got 2 at byte offset 10$/, byteOffset: 10 });
  });
});

describe('loadIdxDataset', () => {
  const images = idxBytes(IDX_U8, [3, 2, 2], Uint8Array.from([0, 1, 2, 3, 10, 11, 12, 13, 255, 254, 253, 252]));

  it('loads images with their labels as raw pixels and classes "0".."9"', async () => {
    const imagesPath = await fixture('a-images-idx3-ubyte', images);
    const labelsPath = await fixture('a-labels-idx1-ubyte', idxBytes(IDX_U8, [3], Buffer.from([7, 0, 9])));
    const dataset = await loadIdxDataset(imagesPath, labelsPath);
    assert.equal(dataset.name, 'a-images-idx3-ubyte');
    assert.equal(dataset.rows, 3);
    assert.equal(dataset.inputWidth, 4);
    assert.deepEqual(dataset.imageShape, [2, 2]);
    assert.deepEqual(dataset.inputColumns, []);
    assert.deepEqual(Array.from(dataset.inputs), [0, 1, 2, 3, 10, 11, 12, 13, 255, 254, 253, 252]);
    assert.ok(dataset.targets?.kind === 'class');
    assert.deepEqual(dataset.targets.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    assert.deepEqual(Array.from(dataset.targets.labels), [7, 0, 9]);
    assert.ok(isShared(dataset.targets.labels));
  });

  it('has as many classes as the largest label + 1 when that is over 10', async () => {
    const imagesPath = await fixture('b-images-idx3-ubyte', images);
    const labelsPath = await fixture('b-labels-idx1-ubyte', idxBytes(IDX_U8, [3], Buffer.from([12, 0, 3])));
    const dataset = await loadIdxDataset(imagesPath, labelsPath, { name: 'b' });
    assert.equal(dataset.name, 'b');
    assert.ok(dataset.targets?.kind === 'class');
    assert.equal(dataset.targets.classes.length, 13);
    assert.equal(dataset.targets.classes[12], '12');
  });

  it('has no targets without a labels file, and no imageShape for 2-dim data', async () => {
    const path = await fixture('table-idx2-ubyte', idxBytes(IDX_U8, [2, 3], Buffer.from([1, 2, 3, 4, 5, 6])));
    const dataset = await loadIdxDataset(path);
    assert.equal(dataset.targets, undefined);
    assert.equal(dataset.imageShape, undefined);
    assert.equal(dataset.inputWidth, 3);
  });

  it('rejects labels out of range, at the label', async () => {
    const imagesPath = await fixture('c-images-idx3-ubyte', images);
    const tooBig = await fixture('c-labels-idx1-ubyte', idxBytes(IDX_U8, [3], Buffer.from([1, 10, 2])));
    await rejectsWithFormatError(loadIdxDataset(imagesPath, tooBig, { numClasses: 10 }), {
      message: /^c-labels-idx1-ubyte: label 10 out of range 0\.\.9/,
      byteOffset: 9,
    });
    const negative = await fixture('d-labels-idx1-ubyte', idxBytes(IDX_I8, [3], Buffer.from([1, 2, 0xfe])));
    await rejectsWithFormatError(loadIdxDataset(imagesPath, negative), { message: /label -2 out of range 0\.\.65535/, byteOffset: 10 });
  });

  it('rejects float labels, multi-dimensional labels, and a count mismatch', async () => {
    const imagesPath = await fixture('e-images-idx3-ubyte', images);
    const floats = await fixture('e1-labels', idxBytes(IDX_F32, [3], f32([1, 2, 3])));
    await rejectsWithFormatError(loadIdxDataset(imagesPath, floats), { message: /labels must be an integer type, got f32/, byteOffset: 2 });
    const square = await fixture('e2-labels', idxBytes(IDX_U8, [3, 1], Buffer.from([1, 2, 3])));
    await rejectsWithFormatError(loadIdxDataset(imagesPath, square), { message: /a labels file has 1 dimension, got 2/, byteOffset: 3 });
    const short = await fixture('e3-labels', idxBytes(IDX_U8, [2], Buffer.from([1, 2])));
    await rejectsWithFormatError(loadIdxDataset(imagesPath, short), {
      message: /^e3-labels: 2 labels but the images file has 3 images at byte offset 4$/,
      byteOffset: 4,
    });
  });

  it('rejects 1-dimensional images', async () => {
    const path = await fixture('f-images', idxBytes(IDX_U8, [3], Buffer.from([1, 2, 3])));
    await rejectsWithFormatError(loadIdxDataset(path), { message: /images need at least 2 dimensions/, byteOffset: 3 });
  });
});

describe('findLabelsFile', () => {
  async function touch(...names: string[]): Promise<string> {
    const folder = await mkdtemp(join(dir, 'labels-'));
    for (const name of names) await writeFile(join(folder, name), '');
    return folder;
  }

  it('finds the standard MNIST label names, plain, gzipped and dotted', async () => {
    const folder = await touch('train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte.gz', 'train-labels.idx1-ubyte.gz', 'emnist-letters-test-labels-idx1-ubyte');
    assert.equal(findLabelsFile(join(folder, 'train-images-idx3-ubyte')), join(folder, 'train-labels-idx1-ubyte'));
    assert.equal(findLabelsFile(join(folder, 't10k-images-idx3-ubyte.gz')), join(folder, 't10k-labels-idx1-ubyte.gz'));
    // Compression need not match: the other variant is the fallback.
    assert.equal(findLabelsFile(join(folder, 't10k-images-idx3-ubyte')), join(folder, 't10k-labels-idx1-ubyte.gz'));
    assert.equal(findLabelsFile(join(folder, 'train-images.idx3-ubyte')), join(folder, 'train-labels.idx1-ubyte.gz'));
    assert.equal(findLabelsFile(join(folder, 'emnist-letters-test-images-idx3-ubyte')), join(folder, 'emnist-letters-test-labels-idx1-ubyte'));
  });

  it('prefers the labels file with the same compression as the images', async () => {
    const folder = await touch('train-labels-idx1-ubyte', 'train-labels-idx1-ubyte.gz');
    assert.equal(findLabelsFile(join(folder, 'train-images-idx3-ubyte.gz')), join(folder, 'train-labels-idx1-ubyte.gz'));
    assert.equal(findLabelsFile(join(folder, 'train-images-idx3-ubyte')), join(folder, 'train-labels-idx1-ubyte'));
  });

  it('returns undefined when there is no labels file or the name is not standard', async () => {
    const folder = await touch('other.bin');
    assert.equal(findLabelsFile(join(folder, 'train-images-idx3-ubyte')), undefined);
    assert.equal(findLabelsFile(join(folder, 'pictures.bin')), undefined);
  });
});

describe('streaming', () => {
  it('reads a 20 MB IDX file with peak memory close to the data size', async () => {
    const rows = 20_000;
    const width = 1_000;
    const path = join(dir, 'big-idx2-ubyte');
    const file = await open(path, 'w');
    await file.write(idxBytes(IDX_U8, [rows, width]));
    const block = Buffer.alloc(1_000_000, 0x2a);
    for (let written = 0; written < rows * width; written += block.length) await file.write(block);
    await file.close();
    // A fresh process, so the peak (maxRSS) belongs to this read alone; a warm-up read loads the code first.
    const idxModule = new URL('../../../server/datasets/idx.js', import.meta.url).href;
    const measure = `
      const { readIdx } = await import(${JSON.stringify(idxModule)});
      const path = ${JSON.stringify(path)};
      const small = path + '.small';
      const { writeFile } = await import('node:fs/promises');
      await writeFile(small, Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7]));
      await readIdx(small);
      const before = process.resourceUsage().maxRSS;
      const { data } = await readIdx(path);
      const growth = (process.resourceUsage().maxRSS - before) * 1024;
      console.log(JSON.stringify({ growth, length: data.length, last: data[data.length - 1] }));
    `;
    const run = promisify(execFile);
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', measure]);
    const result = JSON.parse(stdout) as { growth: number; length: number; last: number };
    assert.equal(result.length, rows * width);
    assert.equal(result.last, 0x2a);
    const data = rows * width;
    // Reading the whole file before decoding would need about twice the data size.
    assert.ok(result.growth < data + 8 * 1024 * 1024, `peak grew by ${(result.growth / 2 ** 20).toFixed(1)} MiB for ${(data / 2 ** 20).toFixed(1)} MiB of data`);
  });
});
