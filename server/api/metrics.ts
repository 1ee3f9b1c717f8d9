/**
 * Prometheus metrics (prom-client), one registry per service instance: request latency per
 * route, task outcomes, samples processed and samples/s, queue depth, and the size of every
 * cluster in memory. Served at GET /metrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TaskKind, TaskState } from '../store/types.js';
import type { RuntimeObserver, TaskRuntime } from '../tasks/runtime.js';

export class ServiceMetrics implements RuntimeObserver {
  readonly registry = new Registry();
  private readonly requestSeconds = new Histogram({
    name: 'hanami_http_request_duration_seconds',
    help: 'HTTP request latency by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  private readonly tasksEnded = new Counter({
    name: 'hanami_tasks_total',
    help: 'Tasks that ended, by kind and final state.',
    labelNames: ['kind', 'state'] as const,
    registers: [this.registry],
  });
  private readonly samples = new Counter({
    name: 'hanami_samples_total',
    help: 'Samples processed by finished tasks (train: samples × epochs), by task kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly samplesPerSecond = new Gauge({
    name: 'hanami_samples_per_second',
    help: 'Samples per second of the last finished task, by task kind.',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  private readonly ioSeconds = new Histogram({
    name: 'hanami_io_call_duration_seconds',
    help: 'Direct I/O (Socket.IO) calls by event and outcome, from arrival to acknowledgement.',
    labelNames: ['event', 'outcome'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
    registers: [this.registry],
  });

  constructor(runtime: () => TaskRuntime | undefined) {
    collectDefaultMetrics({ register: this.registry, prefix: 'hanami_' });
    new Gauge({
      name: 'hanami_tasks',
      help: 'Tasks queued or running now.',
      labelNames: ['state'] as const,
      registers: [this.registry],
      collect() {
        const counts = runtime()?.counts() ?? { queued: 0, running: 0 };
        this.set({ state: 'queued' }, counts.queued);
        this.set({ state: 'running' }, counts.running);
      },
    });
    new Gauge({
      name: 'hanami_cluster_synapses',
      help: 'Synapses of each cluster in memory.',
      labelNames: ['project', 'cluster'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const c of runtime()?.loadedStats() ?? []) this.set({ project: c.projectId, cluster: c.clusterId }, c.stats.synapses ?? 0);
      },
    });
  }

  observeRequest(method: string, route: string, status: number, seconds: number): void {
    this.requestSeconds.observe({ method, route, status: String(status) }, seconds);
  }

  observeIo(event: string, outcome: 'ok' | 'error', seconds: number): void {
    this.ioSeconds.observe({ event, outcome }, seconds);
  }

  taskEnded(kind: TaskKind, state: TaskState): void {
    this.tasksEnded.inc({ kind, state });
  }

  samplesProcessed(kind: TaskKind, samples: number, seconds: number): void {
    this.samples.inc({ kind }, samples);
    if (seconds > 0) this.samplesPerSecond.set({ kind }, samples / seconds);
  }
}
