/**
 * Fashion-MNIST from the Debian package `dataset-fashion-mnist`, when installed: the same IDX
 * layout as MNIST (60,000 train and 10,000 test 28×28 u8 images, gzipped), pixels kept raw.
 */

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadIdxDataset } from './idx.js';
import type { Dataset } from './types.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

const FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

/** What label k means; the datasets keep classes "0".."9" like every IDX label file. */
export const FASHION_CLASS_NAMES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

function fashionPath(file: string): string {
  return join(FASHION_MNIST_DIR, file);
}

/** True when all four Fashion-MNIST files are installed. */
export function fashionAvailable(): boolean {
  return Object.values(FILES).every((file) => existsSync(fashionPath(file)));
}

/** Loads the full 60k/10k split (about 55 MB of raw pixels). */
export async function loadFashion60k(): Promise<{ train: Dataset; test: Dataset }> {
  const [train, test] = await Promise.all([
    loadIdxDataset(fashionPath(FILES.trainImages), fashionPath(FILES.trainLabels), { name: 'fashion-mnist-train', numClasses: 10 }),
    loadIdxDataset(fashionPath(FILES.testImages), fashionPath(FILES.testLabels), { name: 'fashion-mnist-test', numClasses: 10 }),
  ]);
  return { train, test };
}
