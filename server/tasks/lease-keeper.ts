/**
 * Which clusters this process may hold in memory: their leases in the store
 * (`ClusterRecord.owner` until `leaseUntil`, docs/architecture.md "Several instances on one
 * store"). A cluster is claimed before anything loads it or runs on it; held leases are
 * renewed every `renewMs` for `leaseMs`; a lease that cannot be renewed, or whose fenced
 * write failed, is lost — the keeper says so once (`LeaseEvents.lost`) and forgets it.
 *
 * A lease is, per cluster: not held (absent here), `claiming` (one claim in flight, shared
 * by every caller that needs the cluster meanwhile) or `held` until a time by this
 * process's clock. Past that time it still counts as held for renewal and release (nobody
 * may have taken it), but not for work: `holds` is false and the next `claim` treats it
 * as lost and claims again.
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Store } from '../store/types.js';
import { ClusterHostedElsewhereError } from './errors.js';

/** Lease and polling timings (docs/configuration.md). */
export interface OwnershipSettings {
  /** HANAMI_INSTANCE_ID: unique among the live processes sharing the store. */
  instanceId: string;
  leaseMs: number;
  renewMs: number;
  idleMs: number;
  pollMs: number;
}

/** A cluster of a project: the store finds every cluster by both. */
export interface ClusterRef {
  projectId: string;
  clusterId: string;
}

type Lease = { state: 'claiming'; projectId: string; claim: Promise<void> } | { state: 'held'; projectId: string; until: number };

export type LeaseState = 'not-held' | Lease['state'];

/** What the rest of the runtime hears about leases. */
export interface LeaseEvents {
  /** A claim won. Whatever this process had of the cluster in memory is older than what the
   *  store holds now; tasks its earlier owner left `running` were interrupted. The claim
   *  completes once this has. */
  claimed(cluster: ClusterRef): Promise<void>;
  /** The lease is gone (another instance took it, or it ran out): stop using the cluster at once. */
  lost(clusterId: string, why: string): void;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Whether a lease owner is a process of this host that is gone: `<hostname>-<pid>` (the
 * default instance id) of this hostname whose pid is not alive, or is ours (an earlier life
 * of this pid, e.g. after a container restart). Its leases need not run out.
 */
export function isDeadLocalInstance(owner: string): boolean {
  const match = /^(.+)-(\d+)$/.exec(owner);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

export class LeaseKeeper {
  private readonly leases = new Map<string, Lease>();

  constructor(
    private readonly store: Store,
    readonly settings: OwnershipSettings,
    private readonly logger: Logger,
    private readonly events: LeaseEvents,
  ) {}

  get instanceId(): string {
    return this.settings.instanceId;
  }

  stateOf(clusterId: string): LeaseState {
    return this.leases.get(clusterId)?.state ?? 'not-held';
  }

  /** Whether this process holds the cluster's lease now (by its own clock). */
  holds(clusterId: string): boolean {
    const lease = this.leases.get(clusterId);
    return lease?.state === 'held' && lease.until > Date.now();
  }

  /** Clusters whose lease this process holds (ran out by its clock or not). */
  held(): ClusterRef[] {
    return [...this.leases].flatMap(([clusterId, lease]) => (lease.state === 'held' ? [{ projectId: lease.projectId, clusterId }] : []));
  }

  /** Makes sure this process holds the cluster (ClusterHostedElsewhereError otherwise):
   *  at once while it does, else by a claim (shared with the callers that need it meanwhile). */
  claim(cluster: ClusterRef): Promise<void> {
    const lease = this.leases.get(cluster.clusterId);
    if (lease?.state === 'claiming') return lease.claim;
    if (lease?.state === 'held') {
      if (lease.until > Date.now()) return Promise.resolve();
      this.lost(cluster.clusterId, 'its lease ran out before it could be renewed');
    }
    const claiming: Lease & { state: 'claiming' } = { state: 'claiming', projectId: cluster.projectId, claim: Promise.resolve() };
    claiming.claim = this.runClaim(cluster, claiming);
    this.leases.set(cluster.clusterId, claiming);
    return claiming.claim;
  }

  /** Claims the lease in the store; `claiming` is this claim's entry (until it is replaced). */
  private async runClaim(cluster: ClusterRef, claiming: Lease): Promise<void> {
    const { projectId, clusterId } = cluster;
    try {
      const until = await this.claimInStore(cluster);
      await this.events.claimed(cluster);
      if (this.leases.get(clusterId) === claiming) this.leases.set(clusterId, { state: 'held', projectId, until });
    } catch (error) {
      if (this.leases.get(clusterId) === claiming) this.leases.delete(clusterId);
      throw error;
    }
  }

  /** The store's compare-and-set, a few times while the lease changes hands; when the lease
   *  (by this process's clock) ends. */
  private async claimInStore({ projectId, clusterId }: ClusterRef): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      if (await this.store.clusters.claim(projectId, clusterId, this.instanceId, iso(started + this.settings.leaseMs), iso(started))) return started + this.settings.leaseMs;
      const current = await this.store.clusters.get(projectId, clusterId);
      if (current.owner !== null && isDeadLocalInstance(current.owner)) {
        // A process of this host that died: its lease need not run out.
        await this.store.clusters.release(projectId, clusterId, current.owner);
        continue;
      }
      // Released or expired since the claim: try again (a few times).
      const live = current.owner !== null && current.owner !== this.instanceId && current.leaseUntil !== null && Date.parse(current.leaseUntil) > Date.now();
      if (live || attempt >= 2) throw new ClusterHostedElsewhereError(clusterId, current.owner ?? 'unknown', current.leaseUntil ?? new Date().toISOString());
    }
  }

  /** The lease is gone (taken over, or ran out): forgets it and says so, once. */
  lost(clusterId: string, why: string): void {
    if (this.leases.get(clusterId)?.state !== 'held') return;
    this.leases.delete(clusterId);
    this.logger.warn({ clusterId, why }, 'lost the lease on a cluster; dropping it from memory');
    this.events.lost(clusterId, why);
  }

  /** Gives a held lease up (false when it was not held). */
  async release({ projectId, clusterId }: ClusterRef): Promise<boolean> {
    if (this.leases.get(clusterId)?.state !== 'held') return false;
    this.leases.delete(clusterId);
    await this.store.clusters.release(projectId, clusterId, this.instanceId).catch((e: unknown) => this.logger.warn({ err: e, clusterId }, 'could not release a cluster lease; it runs out by itself'));
    return true;
  }

  /** One renewal round: extends every lease held; those that are gone are lost. */
  async renewAll(): Promise<void> {
    await Promise.all(
      [...this.leases].map(async ([clusterId, lease]) => {
        if (lease.state !== 'held') return;
        const started = Date.now();
        try {
          if (await this.store.clusters.renew(lease.projectId, clusterId, this.instanceId, iso(started + this.settings.leaseMs))) {
            // Unless it was released or lost meanwhile.
            if (this.leases.get(clusterId) === lease) lease.until = started + this.settings.leaseMs;
          } else {
            this.lost(clusterId, 'another instance holds it now, or it was deleted');
          }
        } catch (e) {
          this.logger.warn({ err: e, clusterId }, 'could not renew a cluster lease');
          if (this.leases.get(clusterId) === lease && Date.now() >= lease.until) this.lost(clusterId, 'its lease ran out while the store could not be reached');
        }
      }),
    );
  }

  /** Start-up: releases the leases this instance held in an earlier life (same instance id,
   *  or a dead process of this host). */
  async releaseEarlierLives(): Promise<void> {
    for (const c of await this.store.clusters.listLeased()) {
      if (c.owner !== null && (c.owner === this.instanceId || isDeadLocalInstance(c.owner))) await this.store.clusters.release(c.projectId, c.id, c.owner);
    }
  }
}
