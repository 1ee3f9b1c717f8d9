/**
 * `hanami bench --shape`: the shape of the work on the CPU and the WebGPU backend, side by
 * side in one run, as JSON lines: for training on mnist8k the dispatches per sample, submits
 * and readbacks per 1,000 samples, bytes read back per sample and samples/s (over the whole
 * epoch and over its second half, after the warm-up batches), and for inference samples/s at
 * batch 1, 64 and 1024. On a software adapter (lavapipe) the timings say nothing about a GPU;
 * the counts do.
 */
import { writeFile } from 'node:fs/promises';
import { type Backend, type TransferCounters, outputWidth } from '../../kernels/contract.js';
import { countersSince } from '../../kernels/webgpu/counters.js';
import { Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';
import { score } from '../network/evaluate.js';
import { BackendUnavailableError, selectBackend } from '../network/select-backend.js';
import { loadMnist8k } from '../datasets/mnist8k.js';

export interface ShapeArgs {
  threads: number;
  /** Training samples (default: all 8,000 of mnist8k). */
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

function shapeOf(t: TransferCounters | undefined, samples: number): TransferShape {
  if (!t || samples === 0) return { dispatchesPerSample: null, submitsPer1000: null, readbacksPer1000: null, bytesReadBackPerSample: null, bytesUploadedPerSample: null };
  return {
    dispatchesPerSample: round(t.dispatches / samples, 5),
    submitsPer1000: round((t.submits * 1000) / samples, 3),
    readbacksPer1000: round((t.readbacks * 1000) / samples, 3),
    bytesReadBackPerSample: Math.round(t.bytesReadBack / samples),
    bytesUploadedPerSample: Math.round(t.bytesUploaded / samples),
  };
}

async function measure(backend: Backend, args: ShapeArgs, emit: (line: ShapeLine) => void): Promise<void> {
  const data = await loadMnist8k();
  const cluster = Cluster.create(DEFAULT_TEMPLATE, 1);
  const bound = cluster.bind(data.train);
  const rows = Math.min(args.trainRows ?? bound.rows, bound.rows);
  const half = Math.floor(rows / 2);
  const base = { bench: 'gpu-shape', backend: backend.name, device: backend.description, dataset: 'mnist8k' };
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
  emit({
    ...base,
    phase: 'train',
    samples: rows,
    seconds: round((t1 - t0) / 1000, 3),
    samplesPerSecond: Math.round(rows / ((t1 - t0) / 1000)),
    ...shapeOf(start && end ? countersSince(start, end) : undefined, rows),
    testAccuracy: round(accuracy, 4),
    synapses: stats.synapses,
  });
  if (middle && middle.done < rows) {
    const steadySamples = rows - middle.done;
    emit({
      ...base,
      phase: 'train-after-warmup',
      samples: steadySamples,
      seconds: round((t1 - middle.time) / 1000, 3),
      samplesPerSecond: Math.round(steadySamples / ((t1 - middle.time) / 1000)),
      ...shapeOf(middle.counters && end ? countersSince(middle.counters, end) : undefined, steadySamples),
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
      await measure(backend, args, emit);
    } finally {
      await backend.close();
    }
  }
  if (args.out) await writeFile(args.out, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return lines;
}
