/**
 * The `scale` suite's CSV part (`npm run bench -- --only scale`), through the real HTTP
 * service (dist/server/main.js as a child process, on loopback):
 *
 *  1. CSV upload throughput: a 1M rows × 5 columns file (4 raw inputs 0–255 and a class label,
 *     ~18 MB) PUT as one part; MB/s from the first byte sent to the 200 (stored, parsed, ready);
 *  2. other requests during that upload: 4 clients looping on an authenticated GET, their p99
 *     while the upload runs ÷ their p99 idle, measured just before;
 *  3. the first train task after a restart (empty dataset cache) ÷ the second one (a first
 *     task before the restart builds the cluster, so neither of them does).
 *
 * Each run starts its own service in a fresh data folder. Rows: SCALE_CSV_ROWS (default 1M).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_TEMPLATE } from '../network/cluster.js';
import { callJson as call, startChild, type Started } from './children.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/server/main.js');
const PASSPHRASE = 'bench-admin-passphrase';
const PROBE_CLIENTS = 4;

export interface CsvScaleResult {
  bench: 'scale';
  part: 'csv-upload';
  run: number;
  rows: number;
  columns: number;
  bytes: number;
  uploadSeconds: number;
  uploadMegabytesPerSecond: number;
  rowsPerSecond: number;
  /** CPU the service process used during the upload (all its threads), and MB per CPU second:
   *  steadier than wall time on a shared machine. */
  serviceCpuSeconds: number;
  megabytesPerCpuSecond: number;
  /** 1-minute load average of the host when the upload ended. */
  loadAverage: number;
  /** Latency (ms) of the other clients' GETs, idle and during the upload. */
  idle: { p50: number; p99: number; requests: number };
  duringUpload: { p50: number; p99: number; requests: number };
  p99DuringUploadOverIdle: number;
  /** Train task seconds (task startedAt → finishedAt): one before the restart (it builds the
   *  cluster), then the first and the second after it. */
  trainAfterRestartSeconds: { before: number; first: number; second: number };
  firstOverSecondTrain: number;
}

/** A CSV of `rows` rows: four raw inputs 0–255 (sums decide the label) and a label 0–9.
 *  Written as bytes (no strings), so making it leaves no garbage for a later GC pause. */
export function scaleCsv(rows: number, seed = 1): Buffer {
  let state = seed >>> 0 || 1;
  const next = (): number => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % 256;
  };
  const header = Buffer.from('a,b,c,d,label\n', 'latin1');
  const out = Buffer.allocUnsafe(header.length + rows * 18);
  header.copy(out);
  let at = header.length;
  const put = (value: number, end: number): void => {
    if (value >= 100) out[at++] = 48 + Math.floor(value / 100);
    if (value >= 10) out[at++] = 48 + (Math.floor(value / 10) % 10);
    out[at++] = 48 + (value % 10);
    out[at++] = end;
  };
  for (let r = 0; r < rows; r++) {
    const a = next();
    const b = next();
    put(a, 44);
    put(b, 44);
    put(next(), 44);
    put(next(), 44);
    put(Math.floor(((a + b) * 10) / 512), 10);
  }
  return out.subarray(0, at);
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function summary(latencies: number[]): { p50: number; p99: number; requests: number } {
  const s = [...latencies].sort((a, b) => a - b);
  const round = (x: number): number => Math.round(x * 100) / 100;
  return { p50: round(quantile(s, 0.5)), p99: round(quantile(s, 0.99)), requests: s.length };
}

/** PROBE_CLIENTS loops on GET `url` until stopped; the latencies of all their requests. */
function probe(url: string, token: string): { stop: () => Promise<number[]> } {
  let running = true;
  const latencies: number[] = [];
  const loop = async (): Promise<void> => {
    while (running) {
      const started = performance.now();
      const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
      await r.arrayBuffer();
      if (!r.ok) throw new Error(`probe GET: ${r.status}`);
      latencies.push(performance.now() - started);
    }
  };
  const loops = Array.from({ length: PROBE_CLIENTS }, loop);
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return latencies;
    },
  };
}

/** utime + stime of a process (all threads), from /proc/<pid>/stat (clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function startService(dataDir: string, threads: number): Promise<Started> {
  return startChild(
    MAIN,
    {
      HANAMI_DATA_DIR: dataDir,
      HANAMI_PORT: '0',
      HANAMI_ADMIN_PASSPHRASE: PASSPHRASE,
      HANAMI_LOG_LEVEL: 'warn',
      HANAMI_BACKEND: 'cpu',
      HANAMI_THREADS: String(threads),
    },
    process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [],
  );
}

async function login(url: string, name: string, passphrase: string): Promise<string> {
  return String((await call(url, 'POST', '/v1/auth/login', undefined, { name, passphrase })).token);
}

async function trainSeconds(url: string, token: string, project: string, cluster: string, datasetId: string): Promise<number> {
  const path = `/v1/projects/${project}/clusters/${cluster}/tasks`;
  const created = await call(url, 'POST', path, token, { kind: 'train', datasetId, epochs: 1 });
  for (;;) {
    const task = await call(url, 'GET', `${path}/${String(created.id)}`, token);
    if (task.state === 'finished') return (Date.parse(String(task.finishedAt)) - Date.parse(String(task.startedAt))) / 1000;
    if (task.state === 'failed' || task.state === 'cancelled') throw new Error(`train task ${String(task.state)}: ${String(task.error)}`);
    await sleep(20);
  }
}

/** One run: a fresh service, the upload with the probe around it, a restart, two train tasks. */
export async function csvScaleRun(run: number, csv: Buffer, rows: number, threads: number): Promise<CsvScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), 'hanami-scale-'));
  const dataDir = join(dir, 'data');
  let service = await startService(dataDir, threads);
  try {
    const admin = await login(service.url, 'admin', PASSPHRASE);
    const project = String((await call(service.url, 'POST', '/v1/projects', admin, { name: 'scale' })).id);
    const member = String((await call(service.url, 'POST', '/v1/users', admin, { name: 'member', passphrase: 'member-passphrase' })).id);
    await call(service.url, 'PUT', `/v1/projects/${project}/members/${member}`, admin, { role: 'member' });
    let token = await login(service.url, 'member', 'member-passphrase');
    const dataset = String((await call(service.url, 'POST', `/v1/projects/${project}/datasets`, token, { name: 'scale', format: 'csv', labelColumn: 'label' })).id);
    const probeUrl = `${service.url}/v1/projects/${project}`;

    // Warm the probe path, then the idle figure over about as long as an upload takes.
    await probe(probeUrl, token).stop();
    const idleProbe = probe(probeUrl, token);
    await sleep(1500);
    const idle = summary(await idleProbe.stop());

    const busyProbe = probe(probeUrl, token);
    const cpuBefore = cpuSeconds(service.child.pid!);
    const started = performance.now();
    const r = await fetch(`${service.url}/v1/projects/${project}/datasets/${dataset}/content/csv`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/csv', 'content-length': String(csv.length) },
      body: csv,
    });
    const body = await r.text();
    const uploadSeconds = (performance.now() - started) / 1000;
    const cpu = cpuSeconds(service.child.pid!) - cpuBefore;
    const during = summary(await busyProbe.stop());
    if (!r.ok) throw new Error(`upload: ${r.status} ${body}`);

    const cluster = String((await call(service.url, 'POST', `/v1/projects/${project}/clusters`, token, { name: 'scale', template: DEFAULT_TEMPLATE, seed: 1 })).id);
    // One task before the restart: the cluster is built and saved, so the tasks after it
    // differ only in what the restart emptied (the dataset cache, the hosted cluster).
    const beforeRestart = await trainSeconds(service.url, token, project, cluster, dataset);
    await stopChild(service.child);
    service = await startService(dataDir, threads);
    token = await login(service.url, 'member', 'member-passphrase');
    const first = await trainSeconds(service.url, token, project, cluster, dataset);
    const second = await trainSeconds(service.url, token, project, cluster, dataset);
    const round = (x: number, digits = 3): number => Math.round(x * 10 ** digits) / 10 ** digits;
    return {
      bench: 'scale',
      part: 'csv-upload',
      run,
      rows,
      columns: 5,
      bytes: csv.length,
      uploadSeconds: round(uploadSeconds),
      uploadMegabytesPerSecond: round(csv.length / uploadSeconds / 1e6, 1),
      rowsPerSecond: Math.round(rows / uploadSeconds),
      serviceCpuSeconds: round(cpu, 2),
      megabytesPerCpuSecond: round(csv.length / cpu / 1e6, 1),
      loadAverage: round(loadavg()[0] ?? 0, 1),
      idle,
      duringUpload: during,
      p99DuringUploadOverIdle: round(during.p99 / Math.max(idle.p99, 0.01), 2),
      trainAfterRestartSeconds: { before: round(beforeRestart), first: round(first), second: round(second) },
      firstOverSecondTrain: round(first / second, 2),
    };
  } finally {
    await stopChild(service.child);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `runs` runs of the CSV part; one JSON line per run on stderr as it ends. */
export async function csvScale(runs: number, threads: number): Promise<CsvScaleResult[]> {
  const rows = Number(process.env.SCALE_CSV_ROWS ?? 1_000_000);
  const csv = scaleCsv(rows);
  const results: CsvScaleResult[] = [];
  for (let run = 1; run <= runs; run++) {
    const result = await csvScaleRun(run, csv, rows, threads);
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
  }
  return results;
}

/** Medians over runs, for the table and docs/performance.md. */
export function csvScaleMedians(results: CsvScaleResult[]): Record<string, number> {
  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return {
    uploadMegabytesPerSecond: median(results.map((r) => r.uploadMegabytesPerSecond)),
    megabytesPerCpuSecond: median(results.map((r) => r.megabytesPerCpuSecond)),
    idleP99: median(results.map((r) => r.idle.p99)),
    duringUploadP99: median(results.map((r) => r.duringUpload.p99)),
    p99DuringUploadOverIdle: median(results.map((r) => r.p99DuringUploadOverIdle)),
    firstOverSecondTrain: median(results.map((r) => r.firstOverSecondTrain)),
  };
}

// Run directly: `node dist/server/perf/scale-csv.js` (RUNS, default 1).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = await csvScale(Number(process.env.RUNS ?? 1), Number(process.env.HANAMI_THREADS ?? 2));
  process.stdout.write(`${JSON.stringify({ medians: csvScaleMedians(results) })}\n`);
}
