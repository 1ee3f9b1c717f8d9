/**
 * Compare-and-set on MongoDB *and* FerretDB v1, for the MongoDB store (mongo.ts).
 *
 * MongoDB applies a findOneAndUpdate filter and its update atomically, but FerretDB v1 does
 * not (FerretDB#2168): it reads the matching documents, applies the update in its own
 * process and writes each whole document back by `_id`. Two concurrent "claim if free"
 * updates can then both succeed, and a concurrent write to another field of the same
 * document can silently undo one. What both servers do guarantee is that an insert with a
 * taken `_id` fails (duplicate key). So every exclusive decision here is an insert:
 *
 * - **Cluster leases** are a log of numbered entries, `_id` = `<clusterId>:<epoch>`. The
 *   entry with the highest epoch is the lease. Every change (claim, renewal, release) reads
 *   the latest entry, decides, and inserts the next epoch: of several instances deciding on
 *   the same entry exactly one insert succeeds; the others read again and decide again. Older
 *   entries are pruned after each change. The cluster documents themselves never hold the
 *   lease, so renewing it can never race with a write of the cluster's state.
 * - **Task state changes** first insert a guard `<taskId>:<from state>`: a task leaves each
 *   state at most once (states only move forward), so of several instances moving a task
 *   out of `queued` (start vs cancel) or `running` (finish vs "interrupted") exactly one
 *   wins. The guard keeps the change it stands for, so if its writer died between the guard
 *   and the task update, the change is applied by the next one who finds the guard.
 */
import { MongoServerError, type Collection, type Filter, type UpdateFilter } from 'mongodb';
import { StoreError } from './types.js';

export interface LeaseState {
  owner: string | null;
  leaseUntil: string | null;
}

export interface LeaseDoc {
  _id: string;
  clusterId: string;
  epoch: number;
  owner: string | null;
  leaseUntil: string | null;
}

export interface TransitionDoc {
  _id: string;
  taskId: string;
  /** When the guard was written (ISO). */
  at: string;
  /** The `$set` the winner applies to the task document. */
  set: Record<string, unknown>;
}

/** How often a lease change is decided again after losing a race before giving up. */
const LEASE_ATTEMPTS = 20;
/** A guard whose change is not on the task after this long is rolled forward. */
export const STALE_TRANSITION_MS = 10_000;

export const UNOWNED: LeaseState = { owner: null, leaseUntil: null };

function isDuplicateKey(e: unknown): e is MongoServerError {
  return e instanceof MongoServerError && e.code === 11000;
}

export class LeaseLog {
  constructor(private readonly entries: () => Collection<LeaseDoc>) {}

  /** The lease of one cluster (unowned when it never had one). */
  async current(clusterId: string): Promise<LeaseState> {
    const latest = await this.latest(clusterId);
    return latest ? { owner: latest.owner, leaseUntil: latest.leaseUntil } : UNOWNED;
  }

  /** The leases of several clusters (those without an entry are left out). */
  async currentOf(clusterIds: readonly string[]): Promise<Map<string, LeaseState>> {
    if (clusterIds.length === 0) return new Map();
    return latestByCluster(
      await this.entries()
        .find({ clusterId: { $in: [...clusterIds] } })
        .toArray(),
    );
  }

  /** Clusters whose lease names an owner. */
  async owned(): Promise<Map<string, LeaseState>> {
    // Entries naming an owner may be older than a release not yet pruned: read every entry
    // of those clusters and keep the latest.
    const named = await this.entries()
      .find({ owner: { $type: 'string' } }, { projection: { clusterId: 1 } })
      .toArray();
    const latest = await this.currentOf([...new Set(named.map((e) => e.clusterId))]);
    for (const [clusterId, lease] of latest) if (lease.owner === null) latest.delete(clusterId);
    return latest;
  }

  /**
   * Reads the lease, asks `decide` for the next one (null: leave it as it is) and appends
   * it as the next epoch. Returns the lease written, or null when `decide` said no.
   */
  async change(clusterId: string, decide: (current: LeaseState) => LeaseState | null): Promise<LeaseState | null> {
    for (let attempt = 0; attempt < LEASE_ATTEMPTS; attempt++) {
      const latest = await this.latest(clusterId);
      const next = decide(latest ? { owner: latest.owner, leaseUntil: latest.leaseUntil } : UNOWNED);
      if (!next) return null;
      const epoch = (latest?.epoch ?? 0) + 1;
      try {
        await this.entries().insertOne({ _id: `${clusterId}:${epoch}`, clusterId, epoch, owner: next.owner, leaseUntil: next.leaseUntil });
      } catch (e) {
        if (isDuplicateKey(e)) continue; // another instance changed it first: decide again
        throw e;
      }
      await this.entries().deleteMany({ clusterId, epoch: { $lt: epoch } });
      return next;
    }
    throw new StoreError(`the lease of cluster ${clusterId} kept changing while it was being changed (${LEASE_ATTEMPTS} attempts)`);
  }

  /** Forgets a deleted cluster's lease. */
  async drop(clusterId: string): Promise<void> {
    await this.entries().deleteMany({ clusterId });
  }

  private latest(clusterId: string): Promise<LeaseDoc | null> {
    return this.entries().find({ clusterId }).sort({ epoch: -1 }).limit(1).next();
  }
}

function latestByCluster(entries: LeaseDoc[]): Map<string, LeaseState> {
  const best = new Map<string, LeaseDoc>();
  for (const e of entries) {
    const seen = best.get(e.clusterId);
    if (!seen || seen.epoch < e.epoch) best.set(e.clusterId, e);
  }
  return new Map([...best].map(([id, e]) => [id, { owner: e.owner, leaseUntil: e.leaseUntil }]));
}

/** Whether `lease` lets `owner` take the cluster at `now`. */
export function claimable(lease: LeaseState, owner: string, now: string): boolean {
  return lease.owner === null || lease.owner === owner || lease.leaseUntil === null || lease.leaseUntil < now;
}

/**
 * One state change of a task document, guarded so that only one writer moves the task out
 * of `from`. Returns true when this call's change was applied, false when another writer's
 * guard was there first (whose change is rolled forward if its writer left it unfinished).
 */
export async function guardedTransition<T extends { _id: string }>(
  guards: Collection<TransitionDoc>,
  documents: Collection<T>,
  taskFilter: Filter<T>,
  taskId: string,
  from: string,
  set: Record<string, unknown>,
): Promise<boolean> {
  const guardId = `${taskId}:${from}`;
  try {
    await guards.insertOne({ _id: guardId, taskId, at: new Date().toISOString(), set });
  } catch (e) {
    if (!isDuplicateKey(e)) throw e;
    const guard = await guards.findOne({ _id: guardId });
    if (guard && Date.parse(guard.at) < Date.now() - STALE_TRANSITION_MS) {
      await documents.updateOne({ ...taskFilter, state: from }, { $set: guard.set } as UpdateFilter<T>);
    }
    return false;
  }
  await documents.updateOne({ ...taskFilter, state: from }, { $set: set } as UpdateFilter<T>);
  return true;
}
