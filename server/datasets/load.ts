/**
 * One entry point for dataset files: IDX is recognized by its content (gzipped or not, since
 * downloaded files are often renamed), CSV by its `.csv` / `.csv.gz` extension.
 */

import { basename } from 'node:path';
import { readCsvDataset } from './csv.js';
import { findLabelsFile, loadIdxDataset } from './idx.js';
import { readPrefix } from './source.js';
import { DatasetFormatError, type Dataset } from './types.js';

export interface LoadDatasetOptions {
  /** IDX only: the labels file (default: the standard MNIST name beside the images). */
  labelsPath?: string;
  /** CSV only: see readCsvDataset. */
  labelColumn?: string;
  targetColumns?: string[];
  inputColumns?: string[];
}

/** Every IDX file starts with two zero bytes; no text file does. */
function looksLikeIdx(prefix: Buffer): boolean {
  return prefix.length >= 2 && prefix[0] === 0 && prefix[1] === 0;
}

function isCsvPath(path: string): boolean {
  return /\.csv(\.gz)?$/i.test(path);
}

function rejectOptions(options: LoadDatasetOptions, names: Array<keyof LoadDatasetOptions>, format: string): void {
  const given = names.filter((name) => options[name] !== undefined);
  if (given.length > 0) throw new TypeError(`${given.join(', ')} ${given.length === 1 ? 'does' : 'do'} not apply to ${format} files`);
}

async function loadIdxFile(path: string, options: LoadDatasetOptions): Promise<Dataset> {
  rejectOptions(options, ['labelColumn', 'targetColumns', 'inputColumns'], 'IDX');
  return loadIdxDataset(path, options.labelsPath ?? findLabelsFile(path));
}

async function loadCsvFile(path: string, options: LoadDatasetOptions): Promise<Dataset> {
  rejectOptions(options, ['labelsPath'], 'CSV');
  const { labelColumn, targetColumns, inputColumns } = options;
  return readCsvDataset(path, {
    ...(labelColumn === undefined ? {} : { labelColumn }),
    ...(targetColumns === undefined ? {} : { targetColumns }),
    ...(inputColumns === undefined ? {} : { inputColumns }),
  });
}

/** Loads an IDX file (with its labels when found) or a CSV file; see docs/datasets.md. */
export async function loadDatasetFile(path: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const prefix = await readPrefix(path, 2);
  if (looksLikeIdx(prefix)) return loadIdxFile(path, options);
  if (isCsvPath(path)) return loadCsvFile(path, options);
  throw new DatasetFormatError(`${basename(path)}: not a dataset file (expected IDX content, starting with two zero bytes, or a .csv file)`, { byteOffset: 0 });
}
