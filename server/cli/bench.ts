/**
 * `npm run bench`: the standard suite. Each run is a separate `hanami train --json` child
 * process (so peak RSS is that run's own), with a fixed seed; the table shows medians and
 * bench-results.json holds every run's object. Two more suites measure the pool rather than
 * the walk: `contention` (one core busy: default threads ÷ one thread, ./contention.ts) and
 * `tenants` (clusters training at once on the pool against separate processes,
 * ./tenants.ts); they print JSON lines and add their objects to bench-results.json. So does
 * `scale`: the service with big inputs (../perf/scale.ts), and memory per hosted cluster
 * (../perf/cluster-memory.ts, a child process of its own with --expose-gc: RSS per cluster
 * with 100 held, and after churning 500 small clusters).
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fashionAvailable } from '../datasets/fashion.js';
import type { BackendChoice } from '../network/select-backend.js';
import type { TrainReport } from './commands.js';
import { closestName } from '../did-you-mean.js';
import { CliError } from './errors.js';
import { type ContentionRun, type ContentionSummary, runContention } from './contention.js';
import { type TenantsRun, runTenants } from './tenants.js';
import { runScale, type ScaleResult } from '../perf/scale.js';

const run = promisify(execFile);

export interface Suite {
  name: string;
  train: string;
  test: string;
  seed: number;
  available: () => boolean;
  unavailable: string;
}

export const SUITES: Suite[] = [
  { name: 'mnist8k', train: 'mnist8k', test: 'mnist8k', seed: 1, available: () => true, unavailable: '' },
  {
    name: 'fashion60k',
    train: 'fashion60k',
    test: 'fashion60k',
    seed: 1,
    available: fashionAvailable,
    unavailable: "fashion60k skipped: Debian's dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)",
  },
];

/** The suites that measure the pool (not a `hanami train` run each). */
export const POOL_SUITES = ['contention', 'tenants', 'scale'] as const;

/** Training rows per cluster in the tenants suite (fashion60k; mnist8k trains all 8,000). */
export const TENANT_ROWS = 20000;

export interface BenchArgs {
  only?: string[] | undefined;
  runs: number;
  backend: BackendChoice;
  threads: number;
  /** Whether --threads was given (else the contention suite's default run picks its own). */
  threadsGiven?: boolean;
  out: string;
}

/** A line of the scale suite's memory part (server/perf/cluster-memory.ts): `measure`
 *  'held' or 'churn'. */
export type ScaleRun = { suite: 'scale'; measure: string; run: number } & Record<string, unknown>;

export type BenchResult = (TrainReport & { suite: string; run: number }) | ContentionRun | ContentionSummary | (TenantsRun & { run: number }) | ScaleResult | ScaleRun;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function runOnce(suite: Suite, args: BenchArgs): Promise<TrainReport> {
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const argv = [cli, 'train', '--train', suite.train, '--test', suite.test, '--seed', String(suite.seed), '--backend', args.backend, '--threads', String(args.threads), '--json'];
  const { stdout } = await run(process.execPath, argv, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as TrainReport;
}

export async function runBench(args: BenchArgs): Promise<BenchResult[]> {
  const names = [...SUITES.map((s) => s.name), ...POOL_SUITES, 'scale'];
  const unknown = (args.only ?? []).filter((n) => !names.includes(n));
  if (unknown.length) {
    const guesses = unknown.map((u) => closestName(u, names)).filter((g) => g !== undefined);
    throw new CliError(`unknown suite ${unknown.join(', ')} (expected ${names.join(', ')}${guesses.length ? `; did you mean ${guesses.join(', ')}?` : ''})`);
  }
  const suites = SUITES.filter((s) => !args.only || args.only.includes(s.name));
  const results: BenchResult[] = [];
  const rows: string[][] = [['suite', 'runs', 'train s', 'samples/s', 'test acc %', 'test s', 'synapses', 'B/synapse', 'peak RSS MB']];
  for (const suite of suites) {
    if (!suite.available()) {
      process.stdout.write(`${suite.unavailable}\n`);
      continue;
    }
    const mine: TrainReport[] = [];
    for (let r = 0; r < args.runs; r++) {
      const report = await runOnce(suite, args);
      mine.push(report);
      results.push({ suite: suite.name, run: r + 1, ...report });
      process.stderr.write(`${suite.name} run ${r + 1}/${args.runs}: ${report.train.seconds.toFixed(3)} s, accuracy ${((report.test?.accuracy ?? 0) * 100).toFixed(2)} %\n`);
    }
    rows.push([
      suite.name,
      String(mine.length),
      median(mine.map((m) => m.train.seconds)).toFixed(3),
      String(Math.round(median(mine.map((m) => m.train.samplesPerSecond)))),
      (median(mine.map((m) => m.test?.accuracy ?? 0)) * 100).toFixed(2),
      median(mine.map((m) => m.test?.seconds ?? 0)).toFixed(3),
      String(median(mine.map((m) => m.network.synapses))),
      median(mine.map((m) => m.network.bytesPerSynapse)).toFixed(2),
      (median(mine.map((m) => m.peakRssBytes)) / 1e6).toFixed(0),
    ]);
  }
  if (rows.length > 1) {
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padStart(widths[i]!)).join('  ')}\n`);
  }
  const wanted = (name: string): boolean => !args.only || args.only.includes(name);
  // The pool suites measure the CPU backend; fashion60k where installed (a team pays there).
  const poolDataset = fashionAvailable() ? 'fashion60k' : 'mnist8k';
  if (wanted('contention') && args.backend !== 'webgpu') {
    const { runs, summary } = await runContention({ dataset: poolDataset, runs: args.runs, threads: args.threadsGiven ? args.threads : undefined }, (line) => process.stdout.write(`${line}\n`));
    results.push(...runs, summary);
  }
  if (wanted('tenants') && args.backend !== 'webgpu') {
    const rowsPerCluster = poolDataset === 'fashion60k' ? TENANT_ROWS : 0;
    // 2 clusters; and as many as the pool has threads where that is more.
    const counts = args.threads > 2 ? [2, args.threads] : [2];
    for (let r = 0; r < args.runs; r++) {
      for (const clusters of counts) {
        const t = await runTenants({ dataset: poolDataset, rows: rowsPerCluster, clusters, threads: args.threads, processesFirst: r % 2 === 1 });
        results.push({ ...t, run: r + 1 });
        process.stdout.write(`${JSON.stringify({ ...t, run: r + 1 })}\n`);
      }
    }
  }
  // The service at scale (server/perf/scale.ts): CSV uploads, restarts.
  if (wanted('scale')) results.push(...(await runScale(args)));
  // Memory per hosted cluster (server/perf/cluster-memory.ts), on the CPU pool.
  if (wanted('scale') && args.backend !== 'webgpu') {
    const script = fileURLToPath(new URL('../perf/cluster-memory.js', import.meta.url));
    for (let r = 0; r < args.runs; r++) {
      const { stdout } = await run(process.execPath, ['--expose-gc', script, '--threads', String(args.threads)], { maxBuffer: 1 << 20 });
      for (const line of stdout.split('\n').filter((l) => l.trim() !== '')) {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const measured: ScaleRun = { ...parsed, suite: 'scale', measure: String(parsed.measure), run: r + 1 };
        results.push(measured);
        process.stdout.write(`${JSON.stringify(measured)}\n`);
      }
    }
  }
  await writeFile(args.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`wrote ${args.out} (${results.length} runs, backend ${args.backend}, ${args.threads} threads)\n`);
  return results;
}
