/**
 * Dataset arguments of the CLI: a file path (IDX, possibly gzipped, or CSV) or the name of a
 * built-in benchmark set (`mnist8k`, `fashion60k`).
 */
import { access } from 'node:fs/promises';
import { fashionAvailable, FASHION_MNIST_DIR, loadFashion60k } from '../datasets/fashion.js';
import { loadDatasetFile } from '../datasets/load.js';
import { loadMnist8k } from '../datasets/mnist8k.js';
import type { Dataset } from '../datasets/types.js';
import { CliError } from './errors.js';

export const BUILTIN_DATASETS = ['mnist8k', 'fashion60k'] as const;

export interface DatasetArgs {
  labels?: string | undefined;
  label?: string | undefined;
  targets?: string[] | undefined;
  inputs?: string[] | undefined;
}

const builtinCache = new Map<string, Promise<{ train: Dataset; test: Dataset }>>();

function builtin(name: string): Promise<{ train: Dataset; test: Dataset }> {
  let p = builtinCache.get(name);
  if (!p) {
    if (name === 'mnist8k') p = loadMnist8k();
    else {
      if (!fashionAvailable()) throw new CliError(`fashion60k needs Debian's dataset-fashion-mnist package (${FASHION_MNIST_DIR} is missing)`);
      p = loadFashion60k();
    }
    builtinCache.set(name, p);
  }
  return p;
}

/** Loads a dataset argument; built-in names give their train or test part. */
export async function loadDatasetArg(spec: string, part: 'train' | 'test', args: DatasetArgs): Promise<Dataset> {
  if ((BUILTIN_DATASETS as readonly string[]).includes(spec)) return (await builtin(spec))[part];
  if (args.label !== undefined && args.targets !== undefined) throw new CliError('give --label or --targets, not both');
  try {
    await access(spec);
  } catch {
    throw new CliError(`dataset file not found: ${spec}`);
  }
  try {
    return await loadDatasetFile(spec, {
      ...(args.labels !== undefined ? { labelsPath: args.labels } : {}),
      ...(args.label !== undefined ? { labelColumn: args.label } : {}),
      ...(args.targets !== undefined ? { targetColumns: args.targets } : {}),
      ...(args.inputs !== undefined ? { inputColumns: args.inputs } : {}),
    });
  } catch (e) {
    // The loader refuses options of the other format (--label for an IDX file, ...) with a
    // TypeError naming its own option names; that is bad input, so say it in CLI terms.
    if (e instanceof TypeError && / not apply to (IDX|CSV) files$/.test(e.message)) {
      throw new CliError(`${spec}: ${cliOptionNames(e.message, part)}`);
    }
    throw e;
  }
}

function cliOptionNames(message: string, part: 'train' | 'test'): string {
  return message
    .replace(/\blabelsPath\b/, `--${part}-labels`)
    .replace(/\blabelColumn\b/, '--label')
    .replace(/\btargetColumns\b/, '--targets')
    .replace(/\binputColumns\b/, '--inputs');
}
