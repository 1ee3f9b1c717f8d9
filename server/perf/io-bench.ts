/**
 * Direct-I/O figures for docs/performance.md, on loopback: round trips per second and
 * p50/p99 latency of `request` with one 784-pixel image (3,136 bytes of float32) against an
 * mnist8k-trained cluster, for 1 sequential client and for 8 concurrent clients — beside a
 * plain Socket.IO echo of the same payload, measured in the same run, alternating. Server
 * and echo run as child processes; the clients run here. Run: `npm run bench:io`
 * (ROUNDS, SECONDS to change the defaults). Prints JSON lines and a summary object.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { loadMnist8k } from '../datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../network/cluster.js';
import { callJson as call, startChild } from './children.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 4);
const PASSPHRASE = 'io-bench-admin-passphrase';

function connect(url: string, token: string): Promise<Socket> {
  const socket = connectSocket(`${url}/v1/io`, { auth: { token }, transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

interface Measure {
  target: 'echo' | 'hanami';
  clients: number;
  roundTripsPerSecond: number;
  p50Micros: number;
  p99Micros: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** `clients` sockets, each sending requests one after another for SECONDS. */
async function measure(target: Measure['target'], sockets: Socket[], payloads: Float32Array[]): Promise<Measure> {
  const latencies: number[] = [];
  const end = performance.now() + SECONDS * 1000;
  let errors = 0;
  await Promise.all(
    sockets.map(async (socket, k) => {
      let i = k;
      while (performance.now() < end) {
        const payload = payloads[i++ % payloads.length]!;
        const t0 = performance.now();
        const reply = (await socket.emitWithAck('request', payload)) as { ok: boolean };
        latencies.push(performance.now() - t0);
        if (!reply.ok) errors++;
      }
    }),
  );
  if (errors > 0) throw new Error(`${errors} ${target} calls failed`);
  latencies.sort((a, b) => a - b);
  return {
    target,
    clients: sockets.length,
    roundTripsPerSecond: Math.round(latencies.length / SECONDS),
    p50Micros: Math.round(percentile(latencies, 0.5) * 1000),
    p99Micros: Math.round(percentile(latencies, 0.99) * 1000),
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

/** /metrics on the API's port needs a token (HANAMI_METRICS_TOKEN). */
const METRICS_TOKEN = 'io-bench-metrics-token';

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hanami-io-bench-'));
  // PROFILE_DIR=... profiles the service (node --cpu-prof) to see where a call's time goes.
  const profile = process.env.PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PROFILE_DIR}`] : [];
  const service = await startChild(
    join(ROOT, 'dist/server/main.js'),
    {
      HANAMI_PORT: '0',
      HANAMI_HOST: '127.0.0.1',
      HANAMI_DATA_DIR: dataDir,
      HANAMI_ADMIN_PASSPHRASE: PASSPHRASE,
      HANAMI_BACKEND: 'cpu',
      HANAMI_LOG_LEVEL: 'warn',
      HANAMI_METRICS_TOKEN: METRICS_TOKEN,
    },
    profile,
  );
  const echo = await startChild(join(ROOT, 'dist/server/perf/echo-io.js'), {});
  try {
    const token = String((await call(service.url, 'POST', '/v1/auth/login', undefined, { name: 'admin', passphrase: PASSPHRASE })).token);
    const projectId = String((await call(service.url, 'POST', '/v1/projects', token, { name: 'io-bench' })).id);
    const clusterId = String((await call(service.url, 'POST', `/v1/projects/${projectId}/clusters`, token, { name: 'mnist8k', template: DEFAULT_TEMPLATE, seed: 1 })).id);
    await call(service.url, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, token, { mode: 'direct' });
    const data = await loadMnist8k();
    const trainer = await connect(service.url, token);
    await trainer.emitWithAck('attach', { projectId, clusterId });
    const labels = data.train.targets!.kind === 'class' ? data.train.targets!.labels : new Uint16Array(0);
    const trainStart = performance.now();
    for (let row = 0; row < data.train.rows; row++) {
      const input = Float32Array.from(data.train.inputs.subarray(row * 784, row * 784 + 784));
      const r = (await trainer.emitWithAck('train', { input, label: labels[row], classes: 10 })) as { ok: boolean };
      if (!r.ok) throw new Error('training failed');
    }
    const trainSeconds = (performance.now() - trainStart) / 1000;
    trainer.close();
    const payloads = Array.from({ length: 256 }, (_, row) => Float32Array.from(data.test.inputs.subarray(row * 784, row * 784 + 784)));
    const results: Measure[] = [];
    const phases = (process.env.CLIENTS ?? '1,8').split(',').map(Number);
    for (const clients of phases) {
      const hanami = await Promise.all(Array.from({ length: clients }, () => connect(service.url, token)));
      await Promise.all(hanami.map((s) => s.emitWithAck('attach', { projectId, clusterId })));
      const echoes = await Promise.all(Array.from({ length: clients }, () => connect(echo.url, token)));
      // Warm-up.
      for (const s of [...hanami, ...echoes]) for (let i = 0; i < 200; i++) await s.emitWithAck('request', payloads[i % 256]);
      for (let round = 0; round < ROUNDS; round++) {
        for (const [target, sockets] of [
          ['echo', echoes],
          ['hanami', hanami],
        ] as const) {
          const m = await measure(target, sockets, payloads);
          results.push(m);
          process.stdout.write(`${JSON.stringify({ bench: 'io', round: round + 1, ...m })}\n`);
        }
      }
      for (const s of [...hanami, ...echoes]) s.close();
    }
    // Server-side time per request call (arrival to acknowledgement), from /metrics.
    const metrics = await (await fetch(`${service.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    const metric = (name: string): number => Number(new RegExp(`^hanami_io_call_duration_seconds_${name}\\{event="request",outcome="ok"\\} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN);
    const serverMicrosPerRequest = Math.round((metric('sum') / metric('count')) * 1e6);
    const summary = (target: Measure['target'], clients: number): Omit<Measure, 'target' | 'clients'> => {
      const mine = results.filter((r) => r.target === target && r.clients === clients);
      return {
        roundTripsPerSecond: median(mine.map((r) => r.roundTripsPerSecond)),
        p50Micros: median(mine.map((r) => r.p50Micros)),
        p99Micros: median(mine.map((r) => r.p99Micros)),
      };
    };
    const one = summary('hanami', 1);
    const eight = summary('hanami', 8);
    const echoOne = summary('echo', 1);
    process.stdout.write(
      `${JSON.stringify({
        bench: 'io-summary',
        rounds: ROUNDS,
        seconds: SECONDS,
        directTrainingSamplesPerSecond: Math.round(data.train.rows / trainSeconds),
        serverMicrosPerRequest,
        oneClient: one,
        eightClients: eight,
        echoOneClient: echoOne,
        echoEightClients: summary('echo', 8),
        oneClientShareOfEcho: Math.round((one.roundTripsPerSecond / echoOne.roundTripsPerSecond) * 100) / 100,
        eightOverOne: Math.round((eight.roundTripsPerSecond / one.roundTripsPerSecond) * 100) / 100,
      })}\n`,
    );
  } finally {
    service.child.kill('SIGTERM');
    echo.child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
