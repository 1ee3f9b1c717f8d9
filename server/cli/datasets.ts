/**
 * Dataset arguments of the CLI: a file path (IDX, possibly gzipped, or CSV) or the name of a
 * built-in benchmark set (`mnist8k`, `fashion60k`).
 */
import { access } from 'node:fs/promises';
import { fashionAvailable, FASHION_MNIST_DIR, loadFashion60k } from '../datasets/fashion.js';
import { listColumns, readCsvHeader } from '../datasets/csv.js';
import { loadDatasetFile } from '../datasets/load.js';
import { loadMnist8k } from '../datasets/mnist8k.js';
import { DatasetFormatError, type Dataset } from '../datasets/types.js';
import { closestName } from '../did-you-mean.js';
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

/**
 * Loads a dataset argument; built-in names give their train or test part. The data must
 * have targets: the CLI trains and scores networks, and data without labels or target
 * columns would train a network that learned nothing, or score nothing, with exit code 0.
 */
export async function loadDatasetArg(spec: string, part: 'train' | 'test', args: DatasetArgs): Promise<Dataset> {
  if ((BUILTIN_DATASETS as readonly string[]).includes(spec)) return (await builtin(spec))[part];
  if (args.label !== undefined && args.targets !== undefined) throw new CliError('give --label or --targets, not both');
  try {
    await access(spec);
  } catch {
    throw new CliError(`dataset file not found: ${spec}${builtinHint(spec)}`);
  }
  let dataset: Dataset;
  try {
    dataset = await loadDatasetFile(spec, {
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
    if (e instanceof DatasetFormatError && e.message.startsWith('not a number in column ') && e.columnName !== undefined) {
      throw new CliError(`${e.message} ${notANumberHint(e.columnName, args)}`);
    }
    if (e instanceof DatasetFormatError && e.message.startsWith('unknown column ')) throw new CliError(cliOptionNames(e.message, part));
    throw e;
  }
  if (dataset.targets === undefined) throw await nothingToLearn(spec, part, dataset);
  return dataset;
}

/** For a name that is no file: the built-in name it resembles, or the list of them when
 *  the name does not look like a path. */
function builtinHint(spec: string): string {
  const names = BUILTIN_DATASETS.join(', ');
  const guess = closestName(spec, BUILTIN_DATASETS);
  if (guess !== undefined) return ` (did you mean ${guess}? the built-in datasets are ${names})`;
  return /[/\\.]/.test(spec) ? '' : ` (nor is it a built-in dataset: ${names})`;
}

/** A word cell in a numeric column is most often an unmarked class-label column. */
function notANumberHint(column: string, args: DatasetArgs): string {
  const option = /^[A-Za-z0-9_.-]+$/.test(column) ? column : JSON.stringify(column);
  if (args.targets?.includes(column)) return `(--targets takes numeric columns; if "${column}" holds class labels, give --label ${option} instead)`;
  return `(if "${column}" holds class labels to predict, give --label ${option}; to leave it out, list the input columns with --inputs)`;
}

/** The error for data without targets, saying how to mark them. */
async function nothingToLearn(spec: string, part: 'train' | 'test', dataset: Dataset): Promise<CliError> {
  const what = part === 'train' ? 'nothing to learn' : 'nothing to score against';
  if (dataset.inputColumns.length === 0) {
    return new CliError(`${spec}: ${what}: no labels file was found beside the images (by the standard MNIST names); give it with --${part}-labels <file>`);
  }
  const header = await readCsvHeader(spec);
  return new CliError(`${spec}: ${what}: say which column holds the answers, with --label <column> (class labels) or --targets <columns> (numbers); the columns are: ${listColumns(header)}`);
}

function cliOptionNames(message: string, part: 'train' | 'test'): string {
  return message
    .replace(/\blabelsPath\b/, `--${part}-labels`)
    .replace(/\blabelColumn\b/, '--label')
    .replace(/\btargetColumns\b/, '--targets')
    .replace(/\binputColumns\b/, '--inputs');
}
