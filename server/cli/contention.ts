/**
 * `hanami bench --contention` (and the `contention` suite of `npm run bench`): how training
 * holds up when one core is busy with another process. Starts its own busy loop (a child
 * process spinning one thread, with a deadline so it ends even if this process dies), trains
 * the same dataset with the default thread count and with one thread, alternating, stops the
 * loop, and reports default ÷ one thread (issue 12: at most 1.15, goal 1.0).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TrainReport } from './commands.js';

const run = promisify(execFile);

export interface ContentionArgs {
  /** The dataset trained and tested (fashion60k where installed, else mnist8k). */
  dataset: string;
  runs: number;
  /** Threads of the default run: what `hanami train` picks without --threads when undefined. */
  threads?: number | undefined;
  /** The busy loop's own deadline in seconds (default: generous for the runs asked for). */
  busySeconds?: number | undefined;
}

export interface ContentionRun {
  suite: 'contention';
  run: number;
  dataset: string;
  /** One busy process spinning one thread during both trainings. */
  busyLoops: 1;
  defaultThreads: number;
  defaultSeconds: number;
  oneThreadSeconds: number;
  /** defaultSeconds ÷ oneThreadSeconds of this run. */
  ratio: number;
  defaultAccuracy: number | null;
  oneThreadAccuracy: number | null;
  /** The default run's teams (cpu-fallback/pool.ts TeamStats). */
  teams: TrainReport['teams'] | null;
}

export interface ContentionSummary {
  bench: 'contention';
  dataset: string;
  runs: number;
  defaultThreads: number;
  medianDefaultSeconds: number;
  medianOneThreadSeconds: number;
  /** Median of default ÷ one thread. */
  ratio: number;
  ratios: number[];
  target: 1.15;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A child process spinning one thread until `seconds` pass or it is killed. */
export function startBusyLoop(seconds: number): ChildProcess {
  const code = `const end = Date.now() + ${Math.ceil(seconds * 1000)}; let x = 0; while (Date.now() < end) { for (let i = 0; i < 1e6; i++) x += i; } process.exit(x === -1 ? 1 : 0);`;
  const child = spawn(process.execPath, ['-e', code], { stdio: 'ignore' });
  child.unref();
  return child;
}

async function train(dataset: string, threads: number | undefined): Promise<TrainReport> {
  const cli = fileURLToPath(new URL('./main.js', import.meta.url));
  const argv = [cli, 'train', '--train', dataset, '--test', dataset, '--seed', '1', '--backend', 'cpu', '--json', ...(threads ? ['--threads', String(threads)] : [])];
  const { stdout } = await run(process.execPath, argv, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as TrainReport;
}

export async function runContention(args: ContentionArgs, emit: (line: string) => void): Promise<{ runs: ContentionRun[]; summary: ContentionSummary; busyPid: number | undefined }> {
  const busy = startBusyLoop(args.busySeconds ?? 120 + args.runs * 120);
  const runs: ContentionRun[] = [];
  try {
    for (let r = 0; r < args.runs; r++) {
      // Alternate which setting goes first, so a drift in the background load hits both.
      const oneFirst = r % 2 === 1;
      const first = await train(args.dataset, oneFirst ? 1 : args.threads);
      const second = await train(args.dataset, oneFirst ? args.threads : 1);
      const [def, one] = oneFirst ? [second, first] : [first, second];
      const line: ContentionRun = {
        suite: 'contention',
        run: r + 1,
        dataset: args.dataset,
        busyLoops: 1,
        defaultThreads: def.threads,
        defaultSeconds: def.train.seconds,
        oneThreadSeconds: one.train.seconds,
        ratio: Math.round((def.train.seconds / one.train.seconds) * 1000) / 1000,
        defaultAccuracy: def.test?.accuracy ?? null,
        oneThreadAccuracy: one.test?.accuracy ?? null,
        teams: def.teams ?? null,
      };
      runs.push(line);
      emit(JSON.stringify(line));
    }
  } finally {
    busy.kill('SIGKILL');
  }
  const ratios = runs.map((x) => x.ratio);
  const summary: ContentionSummary = {
    bench: 'contention',
    dataset: args.dataset,
    runs: runs.length,
    defaultThreads: runs[0]?.defaultThreads ?? 0,
    medianDefaultSeconds: median(runs.map((x) => x.defaultSeconds)),
    medianOneThreadSeconds: median(runs.map((x) => x.oneThreadSeconds)),
    ratio: median(ratios),
    ratios,
    target: 1.15,
  };
  emit(JSON.stringify(summary));
  return { runs, summary, busyPid: busy.pid };
}
