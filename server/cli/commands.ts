/**
 * What the CLI commands do, separate from argument parsing so the benchmark and tests can
 * call them directly.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { type Backend, outputWidth } from '../../kernels/contract.js';
import { BackendUnavailableError, createBackend, type BackendChoice } from '../network/select-backend.js';
import { BindError, Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';
import { CheckpointError } from '../network/checkpoint.js';
import { score, type Score } from '../network/evaluate.js';
import { TemplateError } from '../network/template-types.js';
import { DatasetFormatError } from '../datasets/types.js';
import { CliError } from './errors.js';
import { CpuBackend } from '../../cpu-fallback/backend.js';
import type { TeamStats } from '../../cpu-fallback/pool.js';
import { defaultThreads as detectedThreads } from '../../cpu-fallback/threads.js';
import { loadDatasetArg, type DatasetArgs } from './datasets.js';

export interface TrainArgs extends DatasetArgs {
  train: string;
  test?: string | undefined;
  trainLabels?: string | undefined;
  testLabels?: string | undefined;
  template?: string | undefined;
  epochs: number;
  seed: number;
  backend: BackendChoice;
  threads?: number | undefined;
  save?: string | undefined;
  onProgress?: ((phase: 'train' | 'test', done: number, total: number) => void) | undefined;
}

/** What a GPU backend moved for a command (absent on the CPU backend). */
export interface GpuReport {
  adapter: string;
  dispatches: number;
  submits: number;
  readbacks: number;
  bytesReadBack: number;
  bytesUploaded: number;
}

export interface TrainReport {
  dataset: string;
  backend: string;
  threads: number;
  /** WebGPU runs: the adapter and the transfers of the whole command. */
  gpu?: GpuReport;
  epochs: number;
  seed: number;
  train: { samples: number; seconds: number; samplesPerSecond: number };
  test?: { samples: number; seconds: number; accuracy?: number; rmse?: number; mae?: number };
  network: { neurons: number; synapses: number; sections: number; outputLinks: number; bytes: number; bytesPerSynapse: number };
  work: { visitsPerTrainSample: number; visitsPerTestSample?: number };
  /** CPU backend, when a two-thread training team ran: what the teams did (cpu-fallback/pool.ts TeamStats). */
  teams?: TeamStats;
  peakRssBytes: number;
}

/** Turns the errors bad input can cause into CLI errors with the library's message. */
export function asCliError(e: unknown): unknown {
  if (e instanceof TemplateError || e instanceof DatasetFormatError || e instanceof CheckpointError || e instanceof BindError || e instanceof BackendUnavailableError) {
    return new CliError(e.message);
  }
  return e;
}

/** The backend for a command: exactly the one asked for (an unavailable `webgpu` is bad
 *  input, exit code 2), the choice logged on stderr when WebGPU was involved. */
function openBackend(choice: BackendChoice, threads: number | undefined): Promise<Backend> {
  return createBackend(choice, threads, { strict: true, log: (line) => process.stderr.write(`${line}\n`) });
}

function gpuPart(backend: Backend): GpuReport | undefined {
  const t = backend.transfers?.();
  if (!t) return undefined;
  return { adapter: backend.description, dispatches: t.dispatches, submits: t.submits, readbacks: t.readbacks, bytesReadBack: t.bytesReadBack, bytesUploaded: t.bytesUploaded };
}

async function readTemplate(path: string | undefined): Promise<string> {
  if (!path) return DEFAULT_TEMPLATE;
  try {
    return await readFile(path, 'utf8');
  } catch {
    throw new CliError(`template file not found: ${path}`);
  }
}

function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function testPart(s: Score, seconds: number): NonNullable<TrainReport['test']> {
  return {
    samples: s.samples,
    seconds: roundTo(seconds, 4),
    ...(s.accuracy !== undefined ? { accuracy: roundTo(s.accuracy, 6) } : {}),
    ...(s.rmse !== undefined ? { rmse: s.rmse, mae: s.mae! } : {}),
  };
}

/** `hanami train`: builds a cluster, trains it, optionally tests and saves it. */
export async function runTrain(args: TrainArgs): Promise<TrainReport> {
  const templateText = await readTemplate(args.template);
  const trainData = await loadDatasetArg(args.train, 'train', { ...args, labels: args.trainLabels });
  const testData = args.test ? await loadDatasetArg(args.test, 'test', { ...args, labels: args.testLabels }) : undefined;
  const cluster = Cluster.create(templateText, args.seed);
  const bound = cluster.bind(trainData);
  const backend = await openBackend(args.backend, args.threads);
  try {
    const started = performance.now();
    const trained = await backend.train(cluster, bound, {
      epochs: args.epochs,
      onProgress: (d, t) => args.onProgress?.('train', d, t),
    });
    const trainSeconds = (performance.now() - started) / 1000;
    const samples = bound.rows * args.epochs;
    const report: TrainReport = {
      dataset: args.train,
      backend: backend.name,
      threads: backend.threads,
      epochs: args.epochs,
      seed: args.seed,
      train: { samples, seconds: roundTo(trainSeconds, 4), samplesPerSecond: Math.round(samples / trainSeconds) },
      network: networkPart(cluster),
      work: { visitsPerTrainSample: Math.round(trained.visits / Math.max(1, samples)) },
      ...(backend instanceof CpuBackend && backend.pool.teams.slices > 0 ? { teams: { ...backend.pool.teams } } : {}),
      peakRssBytes: 0,
    };
    if (testData) {
      const tested = await testCluster(backend, cluster, testData, (d, t) => args.onProgress?.('test', d, t));
      report.test = testPart(tested.score, tested.seconds);
      report.work.visitsPerTestSample = Math.round(tested.visits / Math.max(1, testData.rows));
    }
    if (args.save) await writeFile(args.save, cluster.checkpoint());
    const gpu = gpuPart(backend);
    if (gpu) report.gpu = gpu;
    report.peakRssBytes = peakRss();
    return report;
  } finally {
    await backend.close();
  }
}

function networkPart(cluster: Cluster): TrainReport['network'] {
  const s = cluster.stats();
  return { neurons: s.neurons, synapses: s.synapses, sections: s.sections, outputLinks: s.outputLinks, bytes: s.bytes, bytesPerSynapse: roundTo(s.bytesPerSynapse, 3) };
}

async function testCluster(
  backend: Backend,
  cluster: Cluster,
  data: Awaited<ReturnType<typeof loadDatasetArg>>,
  onProgress?: (done: number, total: number) => void,
): Promise<{ score: Score; seconds: number; visits: number }> {
  const bound = cluster.bind(data, { readOnly: true });
  const started = performance.now();
  const { outputs, visits } = await backend.predict(cluster, bound, onProgress ? { onProgress } : {});
  const seconds = (performance.now() - started) / 1000;
  return { score: score(cluster.state, bound, outputs, outputWidth(cluster.state)), seconds, visits };
}

export interface TestArgs extends DatasetArgs {
  checkpoint: string;
  test: string;
  backend: BackendChoice;
  threads?: number | undefined;
}

/** `hanami test`: restores a checkpoint and scores it on a dataset. */
export async function runTest(args: TestArgs): Promise<Omit<TrainReport, 'train' | 'epochs' | 'seed' | 'work'> & { checkpoint: string }> {
  let bytes: Buffer;
  try {
    bytes = await readFile(args.checkpoint);
  } catch {
    throw new CliError(`checkpoint file not found: ${args.checkpoint}`);
  }
  const { cluster } = Cluster.fromCheckpoint(bytes);
  const data = await loadDatasetArg(args.test, 'test', args);
  const backend = await openBackend(args.backend, args.threads);
  try {
    const tested = await testCluster(backend, cluster, data);
    const gpu = gpuPart(backend);
    return {
      checkpoint: args.checkpoint,
      dataset: args.test,
      backend: backend.name,
      threads: backend.threads,
      test: testPart(tested.score, tested.seconds),
      network: networkPart(cluster),
      ...(gpu ? { gpu } : {}),
      peakRssBytes: peakRss(),
    };
  } finally {
    await backend.close();
  }
}

export function defaultThreads(): number {
  return detectedThreads().threads;
}
