/**
 * The backends of this process. The primary backend (HANAMI_BACKEND, `auto` by default:
 * WebGPU on a hardware adapter, else the CPU) is chosen at start and shared by every cluster
 * of every user; a cluster pinned to the other backend gets it opened on first use, once.
 * Each backend is one host in `/v1/hosts`.
 */
import type { Logger } from 'pino';
import type { Backend, BackendName } from '../../kernels/contract.js';
import { availableBackends, probeWebGpuIsolated, selectBackend, type BackendAvailability, type BackendChoice, type BackendSelection } from '../network/select-backend.js';

/** Probes the adapter in a child process, so what the driver prints lands in the JSON log. */
function isolatedProbe(logger: Logger) {
  return probeWebGpuIsolated({ warn: (line) => logger.warn({ source: 'webgpu-driver' }, line) });
}

export class BackendSet {
  private readonly others = new Map<BackendName, Promise<Backend>>();
  private availability: Promise<BackendAvailability[]> | undefined;

  private constructor(
    readonly primary: Backend,
    /** Why the primary backend was chosen (adapter, fallback reason). */
    readonly selection: BackendSelection,
    private readonly threads: number,
    private readonly logger: Logger,
  ) {}

  static async open(choice: BackendChoice, threads: number, logger: Logger): Promise<BackendSet> {
    // Not strict: a host configured for WebGPU still starts (on the CPU, logged) without one.
    const { backend, selection } = await selectBackend(choice, { threads, log: (line) => logger.info(line), probe: () => isolatedProbe(logger) });
    return new BackendSet(backend, selection, threads, logger);
  }

  /** The backend for a cluster's setting; BackendUnavailableError when this host lacks it. */
  async get(setting: BackendChoice): Promise<Backend> {
    if (setting === 'auto' || setting === this.primary.name) return this.primary;
    let backend = this.others.get(setting);
    if (!backend) {
      // Strict: a cluster pinned to WebGPU must not silently run on the CPU.
      backend = selectBackend(setting, { threads: this.threads, strict: true, log: (line) => this.logger.info(line) }).then((s) => s.backend);
      this.others.set(setting, backend);
      // A failed opening is not remembered: the next request may find the device back.
      backend.catch(() => this.others.delete(setting));
    }
    return backend;
  }

  /** Backends opened so far (the primary first). */
  async active(): Promise<Backend[]> {
    const others = await Promise.allSettled(this.others.values());
    return [this.primary, ...others.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
  }

  /** What this host could run, probed once (without opening a device). */
  available(): Promise<BackendAvailability[]> {
    this.availability ??= availableBackends({ threads: this.threads, probe: () => isolatedProbe(this.logger) }).then(
      (a) => a.backends,
      (e: unknown) => {
        this.logger.warn({ err: e }, 'backend probe failed');
        return [{ name: 'cpu', available: true, description: `worker_threads pool, ${this.threads} threads` }];
      },
    );
    return this.availability;
  }

  async close(): Promise<void> {
    const all = await this.active();
    await Promise.all(all.map((b) => b.close()));
  }
}
