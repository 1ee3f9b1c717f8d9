/**
 * Backend selection per host: `cpu` always works; `webgpu` uses a WebGPU adapter, software
 * ones (lavapipe, SwiftShader) included; `auto` uses WebGPU only on a hardware adapter and the
 * CPU otherwise. Probing never crashes the host: no adapter, a driver that fails to open a
 * device, computes wrongly, or does not answer in time, all end in the CPU backend and one log
 * line (or, with `strict`, in a BackendUnavailableError for the CLI's explicit
 * `--backend webgpu`).
 *
 * HANAMI_DISABLE_WEBGPU=1 skips WebGPU altogether (a host whose driver misbehaves; tests use it
 * to simulate a host without an adapter).
 */
import { DomainError } from '../errors.js';
import { execFile } from 'node:child_process';
import { defaultThreads } from '../../cpu-fallback/threads.js';
import { type AdapterDescription, describeAdapter, findAdapter } from '../../kernels/webgpu/gpu.js';
import { CpuBackend } from '../../cpu-fallback/backend.js';
import type { Backend, BackendName } from '../../kernels/contract.js';
import { WebGpuBackend } from '../../kernels/webgpu/backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'cpu', 'webgpu'];

export class BackendUnavailableError extends DomainError {
  constructor(message: string) {
    super('backend_unavailable', message);
    this.name = 'BackendUnavailableError';
  }
}

/** What probing found. */
export interface WebGpuProbe {
  status: 'hardware' | 'software' | 'none' | 'failed' | 'disabled';
  adapter?: AdapterDescription | undefined;
  /** Why WebGPU is or is not usable, in words. */
  reason: string;
  /** The adapter found, so a device can be opened without asking again. */
  found?: { gpu: GPU; adapter: GPUAdapter } | undefined;
}

export interface SelectOptions {
  /** CPU worker threads (default: all cores). */
  threads?: number | undefined;
  /** Throw BackendUnavailableError when `webgpu` was asked for and cannot be used (the CLI);
   *  otherwise fall back to the CPU with a log line (the service). */
  strict?: boolean | undefined;
  /** Where the choice is logged (default console.error). */
  log?: ((line: string) => void) | undefined;
  /** Seconds-bounded probe; replaced in tests to simulate adapters. */
  probe?: (() => Promise<WebGpuProbe>) | undefined;
  /** Opens the WebGPU backend on a probed adapter; replaced in tests to simulate a failing driver. */
  openWebGpu?: ((found: WebGpuProbe['found']) => Promise<Backend>) | undefined;
  /** Limit for probing and for opening the device (default HANAMI_WEBGPU_TIMEOUT_MS or 20 s). */
  timeoutMs?: number | undefined;
  env?: NodeJS.ProcessEnv | undefined;
}

export interface BackendSelection {
  requested: BackendChoice;
  chosen: BackendName;
  /** Why this backend, in words (also the log line). */
  reason: string;
  adapter: AdapterDescription | undefined;
  description: string;
}

const DEFAULT_TIMEOUT_MS = 20_000;

function timeoutOf(options: SelectOptions): number {
  const env = options.env ?? process.env;
  const fromEnv = Number(env.HANAMI_WEBGPU_TIMEOUT_MS);
  return options.timeoutMs ?? (Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_TIMEOUT_MS);
}

/** Rejects when `promise` does not settle within `ms` (a hung driver must not hang the host). */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Not unref'd: the wait itself must keep the process alive until one side settles.
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Looks for a WebGPU adapter (no device is opened). */
export async function probeWebGpu(options: SelectOptions = {}): Promise<WebGpuProbe> {
  const env = options.env ?? process.env;
  if (env.HANAMI_DISABLE_WEBGPU === '1' || env.HANAMI_DISABLE_WEBGPU === 'true') {
    return { status: 'disabled', reason: 'WebGPU is disabled on this host (HANAMI_DISABLE_WEBGPU)' };
  }
  try {
    const found = await withTimeout(findAdapter(), timeoutOf(options), 'the WebGPU adapter request');
    if (!found) return { status: 'none', reason: 'no WebGPU adapter was found' };
    const adapter = describeAdapter(found.adapter);
    return adapter.software
      ? { status: 'software', adapter, reason: `the WebGPU adapter is a software rasterizer (${adapter.description || adapter.summary})`, found }
      : { status: 'hardware', adapter, reason: `WebGPU adapter: ${adapter.summary}`, found };
  } catch (e) {
    return { status: 'failed', reason: `WebGPU failed to start: ${message(e)}` };
  }
}

const PROBE_STATUSES: readonly WebGpuProbe['status'][] = ['hardware', 'software', 'none', 'failed', 'disabled'];

/**
 * `probeWebGpu` in a child process (server/network/webgpu-probe-child.ts): what the native
 * driver prints on stderr reaches `warn` line by line instead of the service's log stream.
 * The answer has no live adapter (`found`): opening the backend asks for the adapter again,
 * in this process, only when WebGPU is going to be used.
 */
export function probeWebGpuIsolated(options: SelectOptions & { warn?: (line: string) => void } = {}): Promise<WebGpuProbe> {
  const env = options.env ?? process.env;
  if (env.HANAMI_DISABLE_WEBGPU === '1' || env.HANAMI_DISABLE_WEBGPU === 'true') {
    return Promise.resolve({ status: 'disabled', reason: 'WebGPU is disabled on this host (HANAMI_DISABLE_WEBGPU)' });
  }
  const child = new URL('./webgpu-probe-child.js', import.meta.url);
  const ms = timeoutOf(options);
  return new Promise((resolve) => {
    execFile(process.execPath, [child.pathname], { env, timeout: ms, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
      for (const line of stderr.split('\n')) if (line.trim() !== '') options.warn?.(line.trim());
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        const parsed = JSON.parse(last) as Partial<WebGpuProbe>;
        if (typeof parsed.reason === 'string' && PROBE_STATUSES.includes(parsed.status as WebGpuProbe['status'])) {
          resolve({ status: parsed.status as WebGpuProbe['status'], adapter: parsed.adapter, reason: parsed.reason });
          return;
        }
      } catch {
        // Not an answer: reported below.
      }
      const why = error && (error as { killed?: boolean }).killed ? `the WebGPU adapter request did not answer within ${ms} ms` : `the WebGPU probe failed${error ? `: ${message(error)}` : ''}`;
      resolve({ status: 'failed', reason: why });
    });
  });
}

function cpuBackend(options: SelectOptions): CpuBackend {
  return new CpuBackend(options.threads ?? defaultThreads().threads);
}

/** Picks and opens the backend for `choice`, logging the choice. */
export async function selectBackend(choice: BackendChoice, options: SelectOptions = {}): Promise<{ backend: Backend; selection: BackendSelection }> {
  const log = options.log ?? ((line: string) => console.error(line));
  const done = (backend: Backend, reason: string, adapter?: AdapterDescription): { backend: Backend; selection: BackendSelection } => {
    const selection: BackendSelection = { requested: choice, chosen: backend.name, reason, adapter, description: backend.description };
    log(`hanami: backend ${backend.name} (requested ${choice}): ${reason}`);
    return { backend, selection };
  };
  if (choice === 'cpu') {
    const backend = cpuBackend(options);
    return { backend, selection: { requested: choice, chosen: 'cpu', reason: 'requested', adapter: undefined, description: backend.description } };
  }
  const probe = await (options.probe ?? (() => probeWebGpu(options)))();
  const usable = probe.status === 'hardware' || (choice === 'webgpu' && probe.status === 'software');
  if (!usable) {
    const why = choice === 'auto' && probe.status === 'software' ? `${probe.reason}; auto uses WebGPU on hardware adapters only (HANAMI_BACKEND=webgpu forces it)` : probe.reason;
    if (choice === 'webgpu' && options.strict) throw new BackendUnavailableError(`the WebGPU backend is unavailable on this host: ${why}`);
    return done(cpuBackend(options), choice === 'webgpu' ? `${why}; falling back to the CPU` : why, probe.adapter);
  }
  try {
    const open = options.openWebGpu ?? ((found: WebGpuProbe['found']) => WebGpuBackend.open(found));
    const backend = await withTimeout(open(probe.found), timeoutOf(options), 'opening the WebGPU device');
    return done(backend, probe.reason, probe.adapter);
  } catch (e) {
    const why = `the WebGPU device on ${probe.adapter?.summary ?? 'this adapter'} failed: ${message(e)}`;
    if (choice === 'webgpu' && options.strict) throw new BackendUnavailableError(`the WebGPU backend is unavailable on this host: ${why}`);
    return done(cpuBackend(options), `${why}; falling back to the CPU`, probe.adapter);
  }
}

/** The backend for `choice`. Falls back to the CPU (logged) unless `options.strict`: a host
 *  configured for WebGPU still starts without a working adapter. */
export async function createBackend(choice: BackendChoice, threads?: number, options: SelectOptions = {}): Promise<Backend> {
  const { backend } = await selectBackend(choice, { ...options, threads: threads ?? options.threads });
  return backend;
}

export interface BackendAvailability {
  name: BackendName;
  available: boolean;
  description: string;
  /** WebGPU: whether the adapter is hardware (what `auto` requires). */
  hardware?: boolean;
  adapter?: AdapterDescription;
}

/** What this host offers, without opening a device (for `hanami info` and the service). */
export async function availableBackends(options: SelectOptions = {}): Promise<{ backends: BackendAvailability[]; auto: BackendName; probe: WebGpuProbe }> {
  const threads = options.threads ?? defaultThreads().threads;
  const probe = await (options.probe ?? (() => probeWebGpu(options)))();
  const webgpu: BackendAvailability = {
    name: 'webgpu',
    available: probe.status === 'hardware' || probe.status === 'software',
    description: probe.reason,
    ...(probe.adapter ? { hardware: probe.status === 'hardware', adapter: probe.adapter } : {}),
  };
  return {
    backends: [{ name: 'cpu', available: true, description: `worker_threads pool, ${threads} threads` }, webgpu],
    auto: probe.status === 'hardware' ? 'webgpu' : 'cpu',
    probe: { status: probe.status, adapter: probe.adapter, reason: probe.reason },
  };
}

/** The backend part of a system report: what was configured, what runs, and why. */
export function describeBackends(selection: BackendSelection, available?: BackendAvailability[]): Record<string, unknown> {
  return {
    configured: selection.requested,
    active: selection.chosen,
    description: selection.description,
    reason: selection.reason,
    ...(selection.adapter ? { adapter: selection.adapter } : {}),
    ...(available ? { available } : {}),
  };
}
