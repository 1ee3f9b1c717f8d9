/**
 * `hanami bench --shape`: the shape of the work on the CPU and the WebGPU backend, side by
 * side in one run, as JSON lines: for training on mnist8k and fashion60k (when Debian's
 * dataset is installed) the dispatches per sample, submits and readbacks per 1,000 samples,
 * bytes read back per sample and samples/s (over the whole epoch and over its second half,
 * after the warm-up batches), and for inference samples/s at batch 1, 64 and 1024. On a
 * software adapter (lavapipe) the timings say nothing about a GPU; the counts do.
 *
 * A WebGPU training job reads the whole network back once, with its last batch, so that the
 * host copy is current when the job ends. That copy is a cost per job, not per sample: the
 * whole-epoch line counts it, the after-warm-up line counts what the batches themselves read
 * back (growth logs, events, second readbacks), and both say how many bytes the copy took
 * (`networkBytesReadBack`).
 */
import { writeFile } from 'node:fs/promises';
import { type Backend, type TransferCounters, outputWidth } from '../../kernels/contract.js';
import { countersSince } from '../../kernels/webgpu/counters.js';
import { Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';
import { score } from '../network/evaluate.js';
import { BackendUnavailableError, selectBackend } from '../network/select-backend.js';
import { loadMnist8k } from '../datasets/mnist8k.js';
import { FASHION_MNIST_DIR, fashionAvailable, loadFashion60k } from '../datasets/fashion.js';
import type { Dataset } from '../datasets/types.js';

/** The datasets measured: mnist8k everywhere, fashion60k where Debian's package is. */
const DATASETS: { name: string; available: () => boolean; missing: string; load: () => Promise<{ train: Dataset; test: Dataset }> }[] = [
  { name: 'mnist8k', available: () => true, missing: '', load: loadMnist8k },
  { name: 'fashion60k', available: fashionAvailable, missing: `fashion60k skipped: Debian's dataset-fashion-mnist is not installed (${FASHION_MNIST_DIR})`, load: loadFashion60k },
];

export interface ShapeArgs {
  threads: number;
  /** Training samples per dataset (default: all of its training part). */
  trainRows?: number | undefined;
  /** Inference batch sizes (default 1, 64, 1024). */
  batches?: number[] | undefined;
  out?: string | undefined;
  /** Where lines go as they are measured (default stdout). */
  print?: ((line: string) => void) | undefined;
}

export type ShapeLine = Record<string, unknown>;

interface TransferShape {
  dispatchesPerSample: number | null;
  submitsPer1000: number | null;
  readbacksPer1000: number | null;
  bytesReadBackPerSample: number | null;
  bytesUploadedPerSample: number | null;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** `withoutNetwork`: bytes read back exclude copies of the whole network (the job-end copy). */
function shapeOf(t: TransferCounters | undefined, samples: number, withoutNetwork = false): TransferShape {
  if (!t || samples === 0) return { dispatchesPerSample: null, submitsPer1000: null, readbacksPer1000: null, bytesReadBackPerSample: null, bytesUploadedPerSample: null };
  return {
    dispatchesPerSample: round(t.dispatches / samples, 5),
    submitsPer1000: round((t.submits * 1000) / samples, 3),
    readbacksPer1000: round((t.readbacks * 1000) / samples, 3),
    bytesReadBackPerSample: Math.round((t.bytesReadBack - (withoutNetwork ? t.networkBytesReadBack : 0)) / samples),
    bytesUploadedPerSample: Math.round(t.bytesUploaded / samples),
  };
}

async function measure(backend: Backend, dataset: string, data: { train: Dataset; test: Dataset }, args: ShapeArgs, emit: (line: ShapeLine) => void): Promise<void> {
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 1);
  const bound = cluster.bind(data.train);
  const rows = Math.min(args.trainRows ?? bound.rows, bound.rows);
  const half = Math.floor(rows / 2);
  const base = { bench: 'gpu-shape', backend: backend.name, device: backend.description, dataset };
  const start = backend.transfers?.();
  let middle: { counters: TransferCounters | undefined; time: number; done: number } | undefined;
  const t0 = performance.now();
  await backend.train(cluster, bound, {
    to: rows,
    onProgress: (done) => {
      if (!middle && done >= half) middle = { counters: backend.transfers?.(), time: performance.now(), done };
    },
  });
  const t1 = performance.now();
  const end = backend.transfers?.();
  const test = cluster.bind(data.test, { readOnly: true });
  const predicted = await backend.predict(cluster, test);
  const accuracy = score(cluster.state, test, predicted.outputs, outputWidth(cluster.state)).accuracy ?? 0;
  const stats = cluster.stats();
  const whole = start && end ? countersSince(start, end) : undefined;
  emit({
    ...base,
    phase: 'train',
    samples: rows,
    seconds: round((t1 - t0) / 1000, 3),
    samplesPerSecond: Math.round(rows / ((t1 - t0) / 1000)),
    ...shapeOf(whole, rows),
    networkBytesReadBack: whole ? whole.networkBytesReadBack : null,
    testAccuracy: round(accuracy, 4),
    synapses: stats.synapses,
  });
  if (middle && middle.done < rows) {
    const steadySamples = rows - middle.done;
    const steady = middle.counters && end ? countersSince(middle.counters, end) : undefined;
    emit({
      ...base,
      phase: 'train-after-warmup',
      samples: steadySamples,
      seconds: round((t1 - middle.time) / 1000, 3),
      samplesPerSecond: Math.round(steadySamples / ((t1 - middle.time) / 1000)),
      ...shapeOf(steady, steadySamples, true),
      networkBytesReadBack: steady ? steady.networkBytesReadBack : null,
    });
  }
  for (const batch of args.batches ?? [1, 64, 1024]) {
    const size = Math.min(batch, test.rows);
    // At least 256 samples and 4 calls per batch size, windows walking over the test set.
    const calls = Math.max(4, Math.ceil(256 / size));
    const before = backend.transfers?.();
    const s0 = performance.now();
    for (let c = 0; c < calls; c++) {
      const from = (c * size) % (test.rows - size + 1);
      await backend.predict(cluster, test, { from, to: from + size, batch: size });
    }
    const seconds = (performance.now() - s0) / 1000;
    const after = backend.transfers?.();
    emit({
      ...base,
      phase: 'infer',
      batch: size,
      samples: calls * size,
      seconds: round(seconds, 3),
      samplesPerSecond: Math.round((calls * size) / seconds),
      ...shapeOf(before && after ? countersSince(before, after) : undefined, calls * size),
    });
  }
}

/** Runs the shape benchmark on the CPU and the WebGPU backend (forced, software adapters
 *  included); a host without WebGPU reports why in a line of its own. */
export async function runGpuShape(args: ShapeArgs): Promise<ShapeLine[]> {
  const lines: ShapeLine[] = [];
  const print = args.print ?? ((line: string) => process.stdout.write(`${line}\n`));
  const emit = (line: ShapeLine): void => {
    lines.push(line);
    print(JSON.stringify(line));
  };
  const datasets: { name: string; data: { train: Dataset; test: Dataset } }[] = [];
  for (const d of DATASETS) {
    if (d.available()) datasets.push({ name: d.name, data: await d.load() });
    else emit({ bench: 'gpu-shape', dataset: d.name, available: false, reason: d.missing });
  }
  for (const choice of ['cpu', 'webgpu'] as const) {
    let backend: Backend;
    try {
      ({ backend } = await selectBackend(choice, { threads: args.threads, strict: true, log: (l) => process.stderr.write(`${l}\n`) }));
    } catch (e) {
      if (!(e instanceof BackendUnavailableError)) throw e;
      emit({ bench: 'gpu-shape', backend: choice, available: false, reason: e.message });
      continue;
    }
    try {
      for (const d of datasets) await measure(backend, d.name, d.data, args, emit);
    } finally {
      await backend.close();
    }
  }
  if (args.out) await writeFile(args.out, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return lines;
}
