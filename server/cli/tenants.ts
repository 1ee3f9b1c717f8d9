/**
 * The `tenants` suite of `npm run bench`: several clusters training at once on the shared
 * pool, against one cluster alone and against the same clusters trained by separate
 * processes started at the same moment (the machine's own way of running them side by side,
 * measured in the same run). Each variant gets fresh worker threads (cold, like a new
 * process), the data is loaded before the clock starts, and the clusters differ by seed.
 * Reports aggregate samples/s; the target is pool ÷ processes ≥ 0.9 (issue 12).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../../cpu-fallback/backend.js';
import { Cluster, DEFAULT_TEMPLATE } from '../network/cluster.js';
import { loadDatasetArg } from './datasets.js';

export interface TenantsArgs {
  dataset: string;
  /** Training rows per cluster (0: all). */
  rows: number;
  /** Clusters trained at once. */
  clusters: number;
  /** Worker threads of the shared pool. */
  threads: number;
  /** Measure the separate processes before the pool (alternate between runs, so a drift in
   *  the background load hits both). */
  processesFirst?: boolean;
}

export interface TenantsRun {
  suite: 'tenants';
  dataset: string;
  rowsPerCluster: number;
  clusters: number;
  poolThreads: number;
  /** One cluster alone on the pool (teams where they pay). */
  aloneSamplesPerSecond: number;
  /** All clusters at once on the pool: total samples ÷ wall time. */
  poolSamplesPerSecond: number;
  /** The same clusters, one process each (one worker thread each), started together:
   *  total samples ÷ (last end − first start). */
  processesSamplesPerSecond: number;
  poolOverAlone: number;
  poolOverProcesses: number;
  target: 0.9;
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

async function onPool(args: TenantsArgs, count: number, rows: number): Promise<number> {
  const data = await loadDatasetArg(args.dataset, 'train', {});
  const backend = new CpuBackend(args.threads);
  try {
    const clusters = Array.from({ length: count }, (_, i) => Cluster.create(DEFAULT_TEMPLATE, i + 1));
    const bound = clusters.map((c) => c.bind(data));
    const started = performance.now();
    await Promise.all(clusters.map((c, i) => backend.train(c, bound[i]!, { to: rows })));
    return (count * rows) / ((performance.now() - started) / 1000);
  } finally {
    await backend.close();
  }
}

interface ChildResult {
  samples: number;
  startedAt: number;
  endedAt: number;
}

function firstLine(child: ChildProcess): Promise<string> {
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.once('line', (l) => {
      lines.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`tenant process exited with code ${code}`)));
  });
}

async function inProcesses(args: TenantsArgs, rows: number): Promise<number> {
  const script = fileURLToPath(new URL('./tenant-child.js', import.meta.url));
  const children = Array.from({ length: args.clusters }, (_, i) => spawn(process.execPath, [script, args.dataset, String(i + 1), String(rows), '1', '1'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  try {
    const ready = await Promise.all(children.map((c) => firstLine(c)));
    if (ready.some((l) => l !== 'ready')) throw new Error(`tenant processes did not get ready: ${ready.join(', ')}`);
    const results = children.map((c) => firstLine(c));
    for (const c of children) c.stdin.write('go\n');
    const done = (await Promise.all(results)).map((l) => JSON.parse(l) as ChildResult);
    const start = Math.min(...done.map((d) => d.startedAt));
    const end = Math.max(...done.map((d) => d.endedAt));
    return done.reduce((n, d) => n + d.samples, 0) / ((end - start) / 1000);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill();
  }
}

export async function runTenants(args: TenantsArgs): Promise<TenantsRun> {
  const data = await loadDatasetArg(args.dataset, 'train', {});
  const rows = args.rows > 0 ? Math.min(args.rows, data.rows) : data.rows;
  const alone = await onPool(args, 1, rows);
  let pool: number;
  let processes: number;
  if (args.processesFirst) {
    processes = await inProcesses(args, rows);
    pool = await onPool(args, args.clusters, rows);
  } else {
    pool = await onPool(args, args.clusters, rows);
    processes = await inProcesses(args, rows);
  }
  return {
    suite: 'tenants',
    dataset: args.dataset,
    rowsPerCluster: rows,
    clusters: args.clusters,
    poolThreads: args.threads,
    aloneSamplesPerSecond: Math.round(alone),
    poolSamplesPerSecond: Math.round(pool),
    processesSamplesPerSecond: Math.round(processes),
    poolOverAlone: round(pool / alone),
    poolOverProcesses: round(pool / processes),
    target: 0.9,
  };
}
