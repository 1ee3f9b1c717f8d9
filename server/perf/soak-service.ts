/**
 * The service under the soak benchmark (soak.ts forks it): the real service from the
 * environment's configuration, plus what only the process itself can measure — its RSS and
 * heap, and its event-loop delay (perf_hooks monitorEventLoopDelay, 10 ms resolution, reset
 * after every sample) — sent to the parent over IPC every SOAK_SAMPLE_MS.
 */
import { inBackground } from '../../kernels/background.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../config.js';
import { startService } from '../service.js';

export interface SoakSample {
  type: 'sample';
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** Event-loop delay over the last interval, in ms. */
  eld: { p50: number; p99: number; max: number; mean: number };
}

const sampleMs = Number(process.env.SOAK_SAMPLE_MS ?? 10_000);
const service = await startService(loadConfig());
const delay = monitorEventLoopDelay({ resolution: 10 });
delay.enable();
const send = (message: unknown): void => {
  process.send?.(message);
};
send({ type: 'ready', url: service.url });
const timer = setInterval(() => {
  const m = process.memoryUsage();
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  const sample: SoakSample = {
    type: 'sample',
    rss: m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    eld: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max), mean: ms(delay.mean) },
  };
  delay.reset();
  send(sample);
}, sampleMs);
process.on('message', (message) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  inBackground(
    service.stop().then(() => process.exit(0)),
    (error) => {
      process.stderr.write(`soak service: stop failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
});
