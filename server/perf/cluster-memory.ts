/**
 * Memory per hosted cluster (issue 16, "scale: memory per cluster" in docs/performance.md):
 * small clusters trained on the shared CPU pool: (1) 100 held in memory at once on a warmed-up
 * host: RSS and counted synapse-page bytes per cluster; then, those released, (2) 500 more
 * hosted and released in 8 waves: RSS after each wave (the plateau is the largest of the
 * last four). Prints JSON lines.
 *
 *   node --expose-gc dist/server/perf/cluster-memory.js [--held 100] [--churn 500] [--waves 8] [--rows 200]
 *
 * A "small" cluster: the default template trained on 16 input columns, 4 classes (a few
 * hundred synapses). Uses only what every version of the engine has, so the same script
 * measures the engine before pages grew.
 */
import { parseArgs } from 'node:util';
import { CpuBackend } from '../../cpu-fallback/backend.js';
import type { NetworkState } from '../../kernels/state.js';
import type { Dataset } from '../datasets/types.js';
import { Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';

const { values } = parseArgs({
  options: {
    held: { type: 'string', default: '100' },
    churn: { type: 'string', default: '500' },
    waves: { type: 'string', default: '8' },
    rows: { type: 'string', default: '200' },
    threads: { type: 'string', default: '2' },
  },
});
const held = Number(values.held);
const churn = Number(values.churn);
const waves = Number(values.waves);
const rows = Number(values.rows);
const threads = Number(values.threads);

/** Bytes the host holds for synapse pages (kernels/state.ts synapsePageBytes). */
function pageBytesOf(state: NetworkState): number {
  let bytes = 0;
  for (const page of state.pages) bytes += page.weight.byteLength + page.border.byteLength + page.meta.byteLength;
  return bytes;
}

/** 16 columns of 0–255; the class is the quarter of the columns with the largest sum. */
function smallDataset(): Dataset {
  const width = 16;
  const inputs = new Uint8Array(new SharedArrayBuffer(rows * width));
  const labels = new Uint16Array(new SharedArrayBuffer(rows * 2));
  let x = 12345;
  for (let r = 0; r < rows; r++) {
    const sums = [0, 0, 0, 0];
    for (let c = 0; c < width; c++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const v = x >>> 24;
      inputs[r * width + c] = v;
      sums[c >> 2]! += v;
    }
    labels[r] = sums.indexOf(Math.max(...sums));
  }
  return { name: 'small', rows, inputWidth: width, inputColumns: Array.from({ length: width }, (_, i) => `x${i}`), inputs, targets: { kind: 'class', classes: ['a', 'b', 'c', 'd'], labels } };
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}
const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;
function rss(): number {
  collect();
  return process.memoryUsage().rss;
}

const data = smallDataset();
const backend = new CpuBackend(threads);
let seed = 1;
async function trainedClusters(count: number): Promise<Cluster[]> {
  const clusters = Array.from({ length: count }, () => Cluster.create(DEFAULT_TEMPLATE, seed++));
  // A few at a time, as tasks would run on the pool.
  for (let i = 0; i < clusters.length; i += threads * 2) {
    await Promise.all(clusters.slice(i, i + threads * 2).map((c) => backend.train(c, c.bind(data), { to: rows })));
  }
  return clusters;
}

try {
  // Warm-up: the pool's threads, the walk and the allocator's first arenas.
  await trainedClusters(threads * 2);
  // Held first, on a warmed-up host: what each costs while it is hosted.
  const before = rss();
  const usageBefore = process.memoryUsage();
  let clusters = await trainedClusters(held);
  const after = rss();
  const usageAfter = process.memoryUsage();
  const pageBytes = clusters.reduce((sum, c) => sum + pageBytesOf(c.state), 0) / held;
  const stats = clusters[0]!.stats();
  process.stdout.write(
    `${JSON.stringify({
      suite: 'scale',
      measure: 'held',
      clusters: held,
      rowsPerCluster: rows,
      synapsesPerCluster: stats.synapses,
      liveBytesPerCluster: stats.bytes,
      pageBytesPerCluster: Math.round(pageBytes),
      heapPerClusterKB: Math.round((usageAfter.heapUsed - usageBefore.heapUsed) / held / 1024),
      arrayBuffersPerClusterKB: Math.round((usageAfter.arrayBuffers - usageBefore.arrayBuffers) / held / 1024),
      rssBeforeMB: mb(before),
      rssAfterMB: mb(after),
      rssPerClusterKB: Math.round((after - before) / held / 1024),
      target: { mustKB: 200, goalKB: 50 },
    })}\n`,
  );
  clusters = [];
  // Then released, and 500 more come and go: on a long-running host what the allocator does
  // with released memory decides whether RSS plateaus.
  const perWave = Math.ceil(churn / waves);
  const rssByWave: number[] = [];
  let done = 0;
  for (let w = 0; w < waves; w++) {
    const count = Math.min(perWave, churn - done);
    let wave = await trainedClusters(count);
    done += count;
    wave = [];
    void wave;
    rssByWave.push(mb(rss()));
  }
  process.stdout.write(
    `${JSON.stringify({
      suite: 'scale',
      measure: 'churn',
      clusters: churn,
      waves,
      rowsPerCluster: rows,
      rssMBByWave: rssByWave,
      plateauMB: Math.max(...rssByWave.slice(-4)),
      heapUsedMB: mb(process.memoryUsage().heapUsed),
      target: { mustMB: 350, goalMB: 260 },
    })}\n`,
  );
} finally {
  await backend.close();
}
