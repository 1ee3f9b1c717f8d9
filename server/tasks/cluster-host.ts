/**
 * The clusters this process works on (one slot each, cluster-slot.ts) and the one way to
 * work on a cluster: `withCluster`, a turn in the cluster's line. Tasks, direct I/O, interlude
 * turns and restores all take turns there, so nothing changes a network while something else
 * uses it. Changes of the cluster *record* (rename, backend, mode, delete) do not wait in the
 * line — a PATCH must not wait for a long task — but never run beside another record change
 * or a save of the state (`updateRecord`).
 *
 * The host also gives clusters up: after `idleMs` without work (saving what direct I/O
 * changed first), at shutdown, and when a cluster is deleted.
 */
import { ignoreFailure, inBackground } from '../../kernels/background.js';
import type { ClusterRecord } from '../store/types.js';
import { ClusterSlot, type ClusterTurn, type Occupant, type SlotDeps, type TurnPurpose } from './cluster-slot.js';
import type { HostedCluster } from './hosted-cluster.js';
import type { InterludeWork } from './interludes.js';
import type { ClusterRef } from './lease-keeper.js';
import { timedOut } from './timing.js';

const FREE: Occupant = { by: 'none' };
const OCCUPIED_BY: Record<Exclude<TurnPurpose, 'task'>, Occupant> = { direct: { by: 'direct' }, interlude: { by: 'interlude' }, restore: { by: 'restore' } };

export interface HostDeps extends SlotDeps {
  /** Whether the scheduler has tasks queued or running on the cluster (it is not idle then). */
  hasTaskWork(clusterId: string): boolean;
}

export class ClusterHost {
  private readonly slots = new Map<string, ClusterSlot>();

  constructor(private readonly deps: HostDeps) {}

  private slot(ref: ClusterRef): ClusterSlot {
    let slot = this.slots.get(ref.clusterId);
    if (!slot) {
      slot = new ClusterSlot({ projectId: ref.projectId, clusterId: ref.clusterId }, this.deps);
      this.slots.set(ref.clusterId, slot);
    }
    return slot;
  }

  /**
   * Runs `work` with the cluster to itself: in the cluster's line, after everything queued on
   * it before. `work` claims the cluster (`turn.claim()`) before it loads or changes anything
   * (a task checks first whether it still has something to run). `work` must not keep the
   * cluster after it returns.
   */
  withCluster<T>(ref: ClusterRef, purpose: TurnPurpose, work: (turn: ClusterTurn) => Promise<T>): Promise<T> {
    const slot = this.slot(ref);
    slot.turns++;
    // (Promise callbacks rather than an async wrapper: direct I/O takes a turn per call.)
    return slot.line
      .run(() => {
        slot.occupant = purpose === 'task' ? { by: 'task' } : OCCUPIED_BY[purpose];
        let working: Promise<T>;
        try {
          working = work(slot);
        } catch (e) {
          working = Promise.reject(e);
        }
        return working.finally(() => {
          slot.occupant = FREE;
          // Interludes that waited for the end of a task (spiking networks, or one that came
          // after the task's last slice) take the next turn.
          if (purpose === 'task' && slot.interludes.size > 0) this.interludeTurn(slot);
        });
      })
      .finally(() => {
        slot.turns--;
        slot.lastUsed = Date.now();
      });
  }

  /**
   * Runs a short read of the cluster's network at the next moment it is consistent (see
   * interludes.ts): at once beside a task that only reads it, at the next slice boundary of a
   * running task, otherwise in a turn of its own. Queued tasks do not go first: a task that
   * starts drains the interludes waiting. On a spiking network a prediction changes what the
   * network carries, so it waits for a running task to end.
   */
  interlude<T>(ref: ClusterRef, work: InterludeWork<T>): Promise<T> {
    const slot = this.slot(ref);
    const done = slot.interludes.add(work);
    const offer = slot.occupant.by === 'task' ? slot.occupant.interludes : undefined;
    if (offer) {
      if (offer.now) ignoreFailure(offer.drain() ?? Promise.resolve(), 'each interlude settles its own caller');
    } else {
      // Nothing holds the cluster (or a task is about to): take a turn in its line. A task
      // that starts meanwhile drains the list first, and this turn finds it empty.
      this.interludeTurn(slot);
    }
    return done;
  }

  private interludeTurn(slot: ClusterSlot): void {
    this.withCluster(slot.ref, 'interlude', async (turn) => {
      if (slot.interludes.size === 0) return;
      await turn.claim();
      const { hosted, backend, record } = await turn.open();
      await slot.interludes.drain(hosted, backend, record, { inTask: false });
    }).catch((e: unknown) => slot.interludes.failAll(e));
  }

  /**
   * Changes the cluster record with the cluster held by this process (claimed for the call
   * when nobody holds it; ClusterHostedElsewhereError when another instance does). Does not
   * wait for the cluster's line. With `handOff`, a cluster left idle is released at once
   * (e.g. for direct I/O elsewhere); so is one claimed just for this change.
   */
  async updateRecord<T>(ref: ClusterRef, change: (record: ClusterRecord) => Promise<T>, options: { handOff?: boolean } = {}): Promise<T> {
    const slot = this.slot(ref);
    const held = this.deps.keeper.holds(ref.clusterId);
    slot.turns++;
    try {
      await slot.claim();
      return await slot.withRecordLock(async () => change(await this.deps.store.clusters.get(ref.projectId, ref.clusterId)));
    } finally {
      slot.turns--;
      slot.lastUsed = Date.now();
      if (!held || options.handOff) this.releaseSlotWhenIdle(slot, 0);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Lease events (lease-keeper.ts)

  /** A claim won: what was in memory is older than what the store holds now. */
  claimed(ref: ClusterRef): void {
    const slot = this.slot(ref);
    slot.drop();
    slot.lastUsed = Date.now();
  }

  /** The lease is gone: the in-memory copy may no longer be the cluster's state. */
  lost(clusterId: string): void {
    this.slots.get(clusterId)?.drop();
  }

  // ---------------------------------------------------------------------------------------
  // Giving clusters up

  private isIdle(slot: ClusterSlot): boolean {
    return slot.turns === 0 && !this.deps.hasTaskWork(slot.clusterId) && this.deps.keeper.stateOf(slot.clusterId) !== 'claiming';
  }

  /** Gives the lease up, after saving what direct I/O changed (when `save`). */
  private async release(slot: ClusterSlot, save: boolean): Promise<void> {
    const { keeper, store, logger } = this.deps;
    if (keeper.stateOf(slot.clusterId) !== 'held') return;
    const network = slot.network;
    if (save && network.state === 'loaded' && network.unsaved) {
      try {
        await slot.persist(network.hosted, await store.clusters.get(slot.ref.projectId, slot.clusterId));
      } catch (e) {
        logger.error({ err: e, clusterId: slot.clusterId }, 'could not save a cluster before releasing it; what direct I/O taught it since its last save is lost');
      }
    }
    if (keeper.stateOf(slot.clusterId) !== 'held') return;
    slot.drop();
    await keeper.release(slot.ref);
  }

  /** Releases the cluster once everything queued on it has run, if it stays idle and has
   *  been for `idleMs`. */
  releaseWhenIdle(ref: ClusterRef, idleMs: number): void {
    const slot = this.slots.get(ref.clusterId);
    if (slot) this.releaseSlotWhenIdle(slot, idleMs);
  }

  /** (Not a turn of `withCluster`: releasing must not count as work on the cluster.) */
  private releaseSlotWhenIdle(slot: ClusterSlot, idleMs: number): void {
    void slot.line
      .run(async () => {
        if (this.isIdle(slot) && Date.now() - slot.lastUsed >= idleMs) await this.release(slot, true);
      })
      .catch((e: unknown) => this.deps.logger.warn({ err: e, clusterId: slot.clusterId }, 'could not release an idle cluster'));
  }

  /** Releases the clusters held and idle for `idleMs` (part of each renewal round). */
  releaseIdle(idleMs: number): void {
    for (const slot of this.slots.values()) {
      if (this.deps.keeper.stateOf(slot.clusterId) === 'held' && this.isIdle(slot) && Date.now() - slot.lastUsed >= idleMs) this.releaseSlotWhenIdle(slot, idleMs);
    }
  }

  /** Shutdown: saves what direct I/O changed and releases every lease. Work queued before
   *  the stop may still be running: it gets `graceMs`. */
  async releaseAll(graceMs: number): Promise<void> {
    await Promise.all(
      [...this.slots.values()].map(async (slot) => {
        if (this.deps.keeper.stateOf(slot.clusterId) !== 'held') return;
        if (
          await timedOut(
            slot.line.run(() => this.release(slot, true)),
            graceMs,
          )
        )
          await this.release(slot, false);
      }),
    );
  }

  /** Drops a deleted cluster from memory and gives its lease up. */
  forget(ref: ClusterRef): void {
    this.slots.get(ref.clusterId)?.drop();
    this.slots.delete(ref.clusterId);
    inBackground(this.deps.keeper.release(ref), (error) => this.deps.logger.warn({ err: error, clusterId: ref.clusterId }, 'could not release the lease of a deleted cluster; it runs out by itself'));
  }

  // ---------------------------------------------------------------------------------------
  // What is in memory (metrics, views, checks)

  /** Statistics of the cluster's network in memory, if it is loaded. */
  liveStats(clusterId: string): Record<string, number> | undefined {
    const network = this.slots.get(clusterId)?.network;
    return network?.state === 'loaded' ? network.stats : undefined;
  }

  /** Statistics of every network in memory. */
  loadedStats(): { projectId: string; clusterId: string; stats: Record<string, number> }[] {
    return [...this.slots.values()].flatMap((s) => (s.network.state === 'loaded' ? [{ ...s.ref, stats: s.network.stats }] : []));
  }

  /** The cluster's network in memory while this process holds it (loading included). */
  async heldNetwork(clusterId: string): Promise<HostedCluster | undefined> {
    const network = this.slots.get(clusterId)?.network;
    if (!network || !this.deps.keeper.holds(clusterId)) return undefined;
    if (network.state === 'loaded') return network.hosted;
    // A load that fails is reported where the network is used; here it is simply not there.
    if (network.state !== 'loading') return undefined;
    return network.ready.then(
      (hosted) => hosted,
      () => undefined,
    );
  }
}
