/**
 * Service figures for docs/performance.md, on loopback:
 *  1. requests/s and p50/p99 latency of an authenticated, validated, policy-checked GET
 *     (GET /v1/projects/{projectId} as a project member) beside the same GET on bare
 *     Express, measured in the same run, alternating, with autocannon (10 connections);
 *  2. upload throughput of the 47 MB Fashion-MNIST training images (decompressed);
 *  3. the service's idle RSS.
 * Both servers run as child processes, autocannon as a third. Run: `npm run bench:service`
 * (ROUNDS, SECONDS to change the defaults). Prints one JSON object.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { FASHION_MNIST_DIR } from '../datasets/fashion.js';
import { callJson as call, startChild as start } from './children.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = join(ROOT, 'dist/server/main.js');
const BARE = join(ROOT, 'dist/server/perf/bare-express.js');
const AUTOCANNON = join(ROOT, 'node_modules/autocannon/autocannon.js');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 5);
const PASSPHRASE = 'bench-admin-passphrase';

interface LoadResult {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  errors: number;
  /** Server CPU (user + system) per request: steadier than req/s on a shared machine. */
  cpuMicrosPerRequest: number;
}

/** utime + stime of a process, in microseconds (/proc/<pid>/stat, clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

async function load(url: string, pid: number, token?: string): Promise<LoadResult> {
  const before = cpuMicros(pid);
  const r = await autocannon(url, token);
  return { ...r, cpuMicrosPerRequest: Math.round((cpuMicros(pid) - before) / Math.max(1, r.total)) };
}

function autocannon(url: string, token?: string): Promise<Omit<LoadResult, 'cpuMicrosPerRequest'> & { total: number }> {
  const args = [AUTOCANNON, '-c', '10', '-d', String(SECONDS), '-j'];
  if (token) args.push('-H', `authorization=Bearer ${token}`);
  args.push(url);
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 64 << 20, timeout: (SECONDS + 30) * 1000 }, (error, stdout) => {
      if (error) {
        reject(error);
        return;
      }
      const r = JSON.parse(stdout) as { requests: { average: number; total: number }; latency: { p50: number; p99: number }; errors: number; non2xx: number };
      resolve({ requestsPerSecond: r.requests.average, total: r.requests.total, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx });
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hanami-bench-'));
  // PROFILE_DIR=... profiles the service (node --cpu-prof) to see where a request's time goes.
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [];
  const service = await start(MAIN, { HANAMI_DATA_DIR: join(dir, 'data'), HANAMI_PORT: '0', HANAMI_ADMIN_PASSPHRASE: PASSPHRASE, HANAMI_LOG_LEVEL: 'warn', HANAMI_BACKEND: 'cpu' }, profile);
  const bare = await start(BARE, {});
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idleRss = rssBytes(service.child.pid!);
    const admin = String((await call(service.url, 'POST', '/v1/auth/login', undefined, { name: 'admin', passphrase: PASSPHRASE })).token);
    const project = String((await call(service.url, 'POST', '/v1/projects', admin, { name: 'bench' })).id);
    const member = (await call(service.url, 'POST', '/v1/users', admin, { name: 'member', passphrase: 'member-passphrase' })).id;
    await call(service.url, 'PUT', `/v1/projects/${project}/members/${String(member)}`, admin, { role: 'member' });
    const token = String((await call(service.url, 'POST', '/v1/auth/login', undefined, { name: 'member', passphrase: 'member-passphrase' })).token);
    const path = `/v1/projects/${project}`;

    // Warm both up, then alternate so background noise hits both alike.
    await load(bare.url + path, bare.child.pid!);
    await load(service.url + path, service.child.pid!, token);
    const rounds: { bare: LoadResult; service: LoadResult }[] = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push({ bare: await load(bare.url + path, bare.child.pid!), service: await load(service.url + path, service.child.pid!, token) });
    const summary = (pick: (r: { bare: LoadResult; service: LoadResult }) => LoadResult): LoadResult => ({
      requestsPerSecond: Math.round(median(rounds.map((r) => pick(r).requestsPerSecond))),
      p50: median(rounds.map((r) => pick(r).p50)),
      p99: median(rounds.map((r) => pick(r).p99)),
      errors: rounds.reduce((n, r) => n + pick(r).errors, 0),
      cpuMicrosPerRequest: median(rounds.map((r) => pick(r).cpuMicrosPerRequest)),
    });
    const get = { bare: summary((r) => r.bare), service: summary((r) => r.service), rounds };
    // Rounds alternate, so the ratio within a round compares servers under the same noise.
    const ratio = median(rounds.map((r) => r.service.requestsPerSecond / r.bare.requestsPerSecond));
    const loadedRss = rssBytes(service.child.pid!);

    if (process.env.SKIP_UPLOAD) {
      process.stdout.write(`${JSON.stringify({ get: { bare: get.bare, service: get.service, serviceShareOfBare: Math.round(ratio * 1000) / 1000 } })}\n`);
      return;
    }
    const images = gunzipSync(readFileSync(join(FASHION_MNIST_DIR, 'train-images-idx3-ubyte.gz')));
    const uploads: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const dataset = String((await call(service.url, 'POST', `/v1/projects/${project}/datasets`, token, { name: `fashion-${i}`, format: 'idx' })).id);
      const started = performance.now();
      const r = await fetch(`${service.url}/v1/projects/${project}/datasets/${dataset}/content/images`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
        body: images,
      });
      const seconds = (performance.now() - started) / 1000;
      if (!r.ok) throw new Error(`upload: ${r.status} ${await r.text()}`);
      uploads.push(images.length / seconds / 1e6);
    }
    process.stdout.write(
      `${JSON.stringify({
        get: { bare: get.bare, service: get.service, serviceShareOfBare: Math.round(ratio * 1000) / 1000, rounds: get.rounds },
        upload: { bytes: images.length, megabytesPerSecond: Math.round(median(uploads) * 10) / 10, rounds: uploads.map((u) => Math.round(u * 10) / 10) },
        rss: { idleBytes: idleRss, afterLoadBytes: loadedRss, afterUploadsBytes: rssBytes(service.child.pid!) },
        settings: { connections: 10, seconds: SECONDS, rounds: ROUNDS },
      })}\n`,
    );
  } finally {
    service.child.kill('SIGTERM');
    bare.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
