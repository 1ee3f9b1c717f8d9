/** `hanami info`: what this host offers, and which backend `auto` (or HANAMI_BACKEND) picks. */
import { cpus, totalmem } from 'node:os';
import { defaultThreads } from '../../cpu-fallback/threads.js';
import { BACKEND_CHOICES, type BackendAvailability, type BackendChoice, availableBackends, probeWebGpuIsolated } from '../network/select-backend.js';

export interface HostInfo {
  version: string;
  node: string;
  backends: BackendAvailability[];
  /** The backend this host's configuration selects: HANAMI_BACKEND (default auto), what it
   *  resolves to, and why (probed without opening a device). */
  backend: { configured: BackendChoice; selected: 'cpu' | 'webgpu'; reason: string };
  /** CPU worker threads a service or command started here uses by default. */
  threads: number;
  /** Why that many: HANAMI_THREADS, the CPU affinity, or a cgroup CPU quota
   *  (cpu-fallback/threads.ts), e.g. "cgroup cpu.max 200000/100000 in /sys/fs/cgroup". */
  threadsReason: string;
  cpu: string;
  memoryBytes: number;
}

export async function hostInfo(version: string, env: NodeJS.ProcessEnv = process.env): Promise<HostInfo> {
  const detected = defaultThreads();
  const fromEnv = Number(env.HANAMI_THREADS);
  const threadsSet = Number.isInteger(fromEnv) && fromEnv >= 1;
  const threads = threadsSet ? fromEnv : detected.threads;
  const threadsReason = threadsSet ? `HANAMI_THREADS (detected: ${detected.threads}, ${detected.reason})` : detected.reason;
  const configured = (BACKEND_CHOICES as readonly string[]).includes(env.HANAMI_BACKEND ?? '') ? (env.HANAMI_BACKEND as BackendChoice) : 'auto';
  // Probed in a child process: the driver's own warnings come out prefixed, not interleaved.
  const probeInChild = () => probeWebGpuIsolated({ env, warn: (line) => process.stderr.write(`hanami: WebGPU driver: ${line}\n`) });
  const { backends, auto, probe } = await availableBackends({ threads, env, probe: probeInChild });
  const webgpuUsable = probe.status === 'hardware' || probe.status === 'software';
  const selected = configured === 'cpu' ? 'cpu' : configured === 'auto' ? auto : webgpuUsable ? 'webgpu' : 'cpu';
  const reason =
    configured === 'cpu'
      ? 'configured'
      : configured === 'auto' && probe.status === 'software'
        ? `${probe.reason}; auto uses WebGPU on hardware adapters only`
        : selected === 'cpu' && configured === 'webgpu'
          ? `${probe.reason}; falling back to the CPU`
          : probe.reason;
  return {
    version,
    node: process.version,
    backends,
    backend: { configured, selected, reason },
    threads,
    threadsReason,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
  };
}
