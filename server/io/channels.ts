/**
 * The direct-I/O channels of this process, one per cluster in use: shared by the Socket.IO
 * server (attached sockets) and by `POST …/clusters/{id}/predict`, so requests from both join
 * one queue and one batch. A channel is dropped once it is idle (no socket attached, nothing
 * queued, nothing left to save).
 */
import type { Logger } from 'pino';
import type { TaskRuntime } from '../tasks/runtime.js';
import { ClusterChannel, type ChannelOptions } from './channel.js';

/** Users whose HTTP prediction budget is remembered (least recently refilled dropped). */
const MAX_BUDGETS = 10_000;

export class ChannelRegistry {
  private readonly channels = new Map<string, ClusterChannel>();
  /** Per user: rows left in the token bucket of HTTP predictions, and when it was refilled. */
  private readonly budgets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly runtime: TaskRuntime,
    private readonly logger: Logger,
    private readonly options: ChannelOptions & { ratePerSecond: number },
  ) {}

  /**
   * Takes `rows` from the user's budget of predictions over HTTP: the same rate as a socket's
   * calls (HANAMI_IO_RATE per second), per user since HTTP has no connection to count on.
   * Returns the seconds to wait when the budget is short.
   */
  admitHttp(userId: string, rows: number, now = Date.now()): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const rate = this.options.ratePerSecond;
    const last = this.budgets.get(userId);
    const tokens = Math.min(rate, (last?.tokens ?? rate) + ((now - (last?.at ?? now)) * rate) / 1000);
    this.budgets.delete(userId);
    if (tokens < rows) {
      this.budgets.set(userId, { tokens, at: now });
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((rows - tokens) / rate)) };
    }
    this.budgets.set(userId, { tokens: tokens - rows, at: now });
    if (this.budgets.size > MAX_BUDGETS) this.budgets.delete(this.budgets.keys().next().value!);
    return { allowed: true };
  }

  /** The cluster's channel, opened on first use. */
  channelFor(projectId: string, clusterId: string): ClusterChannel {
    let channel = this.channels.get(clusterId);
    if (!channel) {
      const created = new ClusterChannel(projectId, clusterId, this.runtime, this.logger, this.options);
      created.onIdle = () => {
        if (this.channels.get(clusterId) === created && created.idle) this.channels.delete(clusterId);
      };
      this.channels.set(clusterId, created);
      channel = created;
    }
    return channel;
  }

  get(clusterId: string): ClusterChannel | undefined {
    return this.channels.get(clusterId);
  }

  /** Channels open now (clusters with attached sockets, calls in flight or unsaved training). */
  get size(): number {
    return this.channels.size;
  }

  /** Persists every channel's direct training (shutdown). */
  async saveAll(): Promise<void> {
    await Promise.all([...this.channels.values()].map((c) => c.save()));
  }
}
