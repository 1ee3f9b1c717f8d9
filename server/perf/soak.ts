/**
 * The soak benchmark (`npm run bench:soak`, not a CI test): N minutes (`--minutes`, default
 * 10) of mixed load against the service in a child process (soak-service.ts), sampling the
 * service's RSS and event-loop delay every 10 s (`--sample-seconds`).
 *
 * The load, all at once for the whole run:
 * - REST readers (3 loops): project, lists of templates, datasets, clusters and tasks;
 * - a REST writer: every second a template created, read and deleted, and every few seconds
 *   a dataset created, a CSV part uploaded (parsed in the dataset worker), deleted;
 * - training: train tasks and request tasks, one after another, on a tasks-mode cluster, with
 *   their results read;
 * - Socket.IO: two sockets on a direct-mode cluster, predicting in a loop, one of them also
 *   training a sample every 100 ms.
 *
 * Writes `<out>/soak.json` (every sample and the summary), `<out>/soak.svg` and
 * `<out>/soak.png` (drawn here, server/perf/plot.ts: no browser or system tool needed). The
 * summary's `rssSlopeMiBPerHour` is the least-squares slope of RSS over the last half of the
 * run, and `rssFloorSlopeMiBPerHour` the slope of each minute's lowest sample (the GC's
 * sawtooth makes the first jump on a short run): a leak lifts the floor. `--replot
 * docs/soak.json` redraws and resummarizes recorded samples.
 */
import { ignoreFailure } from '../../kernels/background.js';
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { DEFAULT_TEMPLATE } from '../network/cluster.js';
import { chartPng, chartSvg } from './plot.js';
import type { SoakSample } from './soak-service.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PASSPHRASE = 'soak-admin-passphrase';
const MiB = 1024 * 1024;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return process.argv[i + 1] ?? fallback;
}

const MINUTES = Number(arg('minutes', '10'));
const SAMPLE_SECONDS = Number(arg('sample-seconds', '10'));
const OUT = resolve(ROOT, arg('out', 'docs'));

interface Counter {
  ok: number;
  failed: number;
}

const counters: Record<string, Counter> = {};
function count(kind: string, ok: boolean): void {
  const c = (counters[kind] ??= { ok: 0, failed: 0 });
  if (ok) c.ok++;
  else c.failed++;
}

async function call(url: string, method: string, path: string, token: string | undefined, body?: unknown, kind?: string): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  const init: RequestInit = { method, headers };
  if (typeof body === 'string') {
    headers['content-type'] = 'text/csv';
    init.body = body;
  } else if (body !== undefined) {
    headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url + path, init);
  const text = await r.text();
  if (kind) count(kind, r.ok);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${text.slice(0, 300)}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** A labelled CSV: 8 inputs, 3 classes. */
function csv(rows: number, seed: number): string {
  const lines = ['a,b,c,d,e,f,g,h,label'];
  let x = seed;
  const next = (): number => (x = (x * 1103515245 + 12345) % 2147483648) % 100;
  for (let i = 0; i < rows; i++) {
    const values = Array.from({ length: 8 }, next);
    lines.push(`${values.join(',')},${['red', 'green', 'blue'][(values[0]! + values[1]!) % 3]}`);
  }
  return `${lines.join('\n')}\n`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function connect(url: string, token: string): Promise<Socket> {
  const socket = connectSocket(`${url}/v1/io`, { auth: { token }, transports: ['websocket'], reconnection: false });
  return new Promise((resolveSocket, reject) => {
    socket.once('connect', () => resolveSocket(socket));
    socket.once('connect_error', reject);
  });
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  return fit(points).slope;
}

/** Least-squares slope of y over x and its standard error. */
function fit(points: [number, number][]): { slope: number; stderr: number } {
  const n = points.length;
  if (n < 3) return { slope: 0, stderr: Infinity };
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  if (den === 0) return { slope: 0, stderr: Infinity };
  const b = num / den;
  const residual = points.reduce((s, [x, y]) => s + (y - my - b * (x - mx)) ** 2, 0);
  return { slope: b, stderr: Math.sqrt(residual / (n - 2) / den) };
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hanami-soak-'));
  const child = fork(join(ROOT, 'dist/server/perf/soak-service.js'), [], {
    env: {
      ...process.env,
      HANAMI_PORT: '0',
      HANAMI_HOST: '127.0.0.1',
      HANAMI_DATA_DIR: dataDir,
      HANAMI_ADMIN_PASSPHRASE: PASSPHRASE,
      HANAMI_BACKEND: 'cpu',
      HANAMI_LOG_LEVEL: 'warn',
      HANAMI_LOGIN_RATE: '100000',
      SOAK_SAMPLE_MS: String(SAMPLE_SECONDS * 1000),
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const samples: (SoakSample & { t: number; counters: Record<string, Counter> })[] = [];
  let started = 0;
  const url = await new Promise<string>((resolveUrl, reject) => {
    child.on('message', (message: { type: 'ready'; url: string } | SoakSample) => {
      if (message.type === 'ready') resolveUrl(message.url);
      else if (started > 0) samples.push({ ...message, t: (Date.now() - started) / 1000, counters: structuredClone(counters) });
    });
    child.once('exit', (code) => reject(new Error(`the service exited with ${code}`)));
  });
  const stopAt = Date.now() + MINUTES * 60_000;
  const running = (): boolean => Date.now() < stopAt;
  try {
    const token = String((await call(url, 'POST', '/v1/auth/login', undefined, { name: 'admin', passphrase: PASSPHRASE })).token);
    const projectId = String((await call(url, 'POST', '/v1/projects', token, { name: 'soak' })).id);
    const P = `/v1/projects/${projectId}`;
    const datasetId = String((await call(url, 'POST', `${P}/datasets`, token, { name: 'train', format: 'csv', labelColumn: 'label' })).id);
    await call(url, 'PUT', `${P}/datasets/${datasetId}/content/csv`, token, csv(2000, 1));
    const tasksCluster = String((await call(url, 'POST', `${P}/clusters`, token, { name: 'tasks', template: DEFAULT_TEMPLATE })).id);
    const directCluster = String((await call(url, 'POST', `${P}/clusters`, token, { name: 'direct', template: DEFAULT_TEMPLATE })).id);
    await call(url, 'PATCH', `${P}/clusters/${directCluster}`, token, { mode: 'direct' });
    started = Date.now();
    process.stderr.write(`soak: ${MINUTES} min against ${url}, a sample every ${SAMPLE_SECONDS} s\n`);

    const readers = Array.from({ length: 3 }, async () => {
      const paths = [P, `${P}/templates`, `${P}/datasets`, `${P}/clusters`, `${P}/clusters/${tasksCluster}/tasks?limit=20`];
      for (let i = 0; running(); i++) {
        // call() counts failures in the report; the load goes on.
        await ignoreFailure(call(url, 'GET', paths[i % paths.length]!, token, undefined, 'rest-read'), 'counted by call()');
        await sleep(5);
      }
    });
    const writer = (async () => {
      for (let i = 0; running(); i++) {
        try {
          const template = String((await call(url, 'POST', `${P}/templates`, token, { name: `t-${i}`, template: DEFAULT_TEMPLATE }, 'rest-write')).id);
          await call(url, 'GET', `${P}/templates/${template}`, token, undefined, 'rest-read');
          await call(url, 'DELETE', `${P}/templates/${template}`, token, undefined, 'rest-write');
          if (i % 5 === 0) {
            const dataset = String((await call(url, 'POST', `${P}/datasets`, token, { name: `d-${i}`, format: 'csv', labelColumn: 'label' }, 'rest-write')).id);
            await call(url, 'PUT', `${P}/datasets/${dataset}/content/csv`, token, csv(500, i), 'upload');
            await call(url, 'DELETE', `${P}/datasets/${dataset}`, token, undefined, 'rest-write');
          }
        } catch {
          // counted
        }
        await sleep(1000);
      }
    })();
    const training = (async () => {
      for (let i = 0; running(); i++) {
        try {
          const kind = i % 2 === 0 ? 'train' : 'request';
          const task = String((await call(url, 'POST', `${P}/clusters/${tasksCluster}/tasks`, token, { kind, datasetId }, 'task-submit')).id);
          for (;;) {
            const state = String((await call(url, 'GET', `${P}/clusters/${tasksCluster}/tasks/${task}`, token)).state);
            if (['finished', 'failed', 'cancelled'].includes(state)) {
              count(`task-${kind}`, state === 'finished');
              break;
            }
            await sleep(200);
          }
          if (kind === 'request') await call(url, 'GET', `${P}/clusters/${tasksCluster}/tasks/${task}/results?format=json&limit=50`, token, undefined, 'rest-read');
        } catch {
          // counted
        }
      }
    })();
    const sockets = await Promise.all([connect(url, token), connect(url, token)]);
    for (const s of sockets) await s.emitWithAck('attach', { projectId, clusterId: directCluster });
    const direct = sockets.map(async (socket, k) => {
      let lastTrain = 0;
      for (let i = 0; running(); i++) {
        const input = Float32Array.from({ length: 8 }, (_, j) => (i * 7 + j * 13) % 100);
        try {
          if (k === 0 && Date.now() - lastTrain >= 100) {
            lastTrain = Date.now();
            const r = (await socket.emitWithAck('train', { input, label: i % 3, classes: 3 })) as { ok: boolean };
            count('io-train', r.ok);
          } else {
            const r = (await socket.emitWithAck('request', input)) as { ok: boolean };
            count('io-request', r.ok);
          }
        } catch {
          count('io-request', false);
        }
        await sleep(2);
      }
      socket.close();
    });
    await Promise.all([...readers, writer, training, ...direct]);
    // The last sample, taken at the end of the load.
    await sleep(SAMPLE_SECONDS * 1000 + 500);
  } finally {
    child.send('stop');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
  report(samples);
}

function report(samples: (SoakSample & { t: number; counters: Record<string, Counter> })[]): void {
  const minutes = (t: number): number => Math.round((t / 60) * 100) / 100;
  const rss = samples.map((s): [number, number] => [minutes(s.t), Math.round((s.rss / MiB) * 10) / 10]);
  const heap = samples.map((s): [number, number] => [minutes(s.t), Math.round((s.heapUsed / MiB) * 10) / 10]);
  const half = samples.filter((s) => s.t >= (samples.at(-1)?.t ?? 0) / 2);
  const rssFit = fit(half.map((s) => [s.t / 3600, s.rss / MiB]));
  const rssSlopeMiBPerHour = round1(rssFit.slope);
  const rssSlopeStderrMiBPerHour = round1(rssFit.stderr);
  // RSS swings with the garbage collector's sawtooth (tens of MiB within a minute), which
  // makes a fit through every sample of a short run jump; the floor (each full minute's
  // lowest sample) is what a leak lifts.
  const perMinute = Math.max(1, Math.round(60 / SAMPLE_SECONDS));
  const buckets = new Map<number, (SoakSample & { t: number })[]>();
  for (const s of half) buckets.set(Math.floor(s.t / 60), [...(buckets.get(Math.floor(s.t / 60)) ?? []), s]);
  const floors = [...buckets.values()].filter((b) => b.length >= perMinute).map((b) => b.reduce((low, s) => (s.rss < low.rss ? s : low)));
  const floorFit = fit(floors.map((s) => [s.t / 3600, s.rss / MiB]));
  const heapSlopeMiBPerHour = round1(slope(half.map((s) => [s.t / 3600, s.heapUsed / MiB])));
  const summary = {
    bench: 'soak-summary',
    minutes: MINUTES,
    sampleSeconds: SAMPLE_SECONDS,
    samples: samples.length,
    rssMiB: { first: rss[0]?.[1], last: rss.at(-1)?.[1], max: Math.max(...rss.map(([, y]) => y)) },
    rssSlopeMiBPerHour,
    rssSlopeStderrMiBPerHour,
    rssFloorSlopeMiBPerHour: round1(floorFit.slope),
    rssFloorSlopeStderrMiBPerHour: round1(floorFit.stderr),
    heapSlopeMiBPerHour,
    /** monitorEventLoopDelay counts its own 10 ms timer: an idle loop reads ~10 ms. */
    eventLoopDelayResolutionMs: 10,
    eventLoopDelayMs: {
      p50Median: median(samples.map((s) => s.eld.p50)),
      p99Median: median(samples.map((s) => s.eld.p99)),
      p99Max: Math.max(...samples.map((s) => s.eld.p99)),
      max: Math.max(...samples.map((s) => s.eld.max)),
    },
    operations: samples.at(-1)?.counters ?? counters,
  };
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, 'soak.json'), `${JSON.stringify({ summary, samples }, null, 1)}\n`);
  const chart = {
    title: `Hanami soak: ${MINUTES} min of REST, Socket.IO and training load`,
    xLabel: 'minutes',
    panels: [
      {
        title: `Memory: RSS slope over the last half ${rssSlopeMiBPerHour} +- ${rssSlopeStderrMiBPerHour} MiB/h (per-minute floor: ${round1(floorFit.slope)} +- ${round1(floorFit.stderr)})`,
        yLabel: 'MiB',
        series: [
          { label: 'RSS', color: [31, 119, 180] as [number, number, number], points: rss },
          { label: 'JS heap used', color: [255, 127, 14] as [number, number, number], points: heap },
        ],
      },
      {
        title: `Event-loop delay per ${SAMPLE_SECONDS} s interval`,
        yLabel: 'ms',
        series: [
          { label: 'p50', color: [44, 160, 44] as [number, number, number], points: samples.map((s): [number, number] => [minutes(s.t), s.eld.p50]) },
          { label: 'p99', color: [214, 39, 40] as [number, number, number], points: samples.map((s): [number, number] => [minutes(s.t), s.eld.p99]) },
          { label: 'max', color: [148, 103, 189] as [number, number, number], points: samples.map((s): [number, number] => [minutes(s.t), s.eld.max]) },
        ],
      },
    ],
  };
  writeFileSync(join(OUT, 'soak.svg'), chartSvg(chart));
  writeFileSync(join(OUT, 'soak.png'), chartPng(chart));
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  process.stderr.write(`soak: wrote ${join(OUT, 'soak.json')}, soak.svg and soak.png\n`);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

// `--replot <soak.json>`: the summary and the figure again from recorded samples.
const replot = process.argv.indexOf('--replot');
if (replot >= 0) {
  const recorded = JSON.parse(readFileSync(resolve(process.argv[replot + 1] ?? 'docs/soak.json'), 'utf8')) as {
    summary: { operations: Record<string, Counter> };
    samples: Parameters<typeof report>[0];
  };
  Object.assign(counters, recorded.summary.operations);
  report(recorded.samples);
} else {
  await main();
}
