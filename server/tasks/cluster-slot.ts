/**
 * One cluster as this process holds it: its network in memory, its line of work, the copy of
 * its record, and the interludes waiting for it. The cluster host (cluster-host.ts) keeps one
 * slot per cluster it has worked on; work on the cluster gets the slot as a `ClusterTurn`.
 *
 * Named states (docs/architecture.md, "The task runtime", has the diagram):
 * - the lease (lease-keeper.ts): not held → claiming → held → (released | lost) → not held;
 * - `network`: absent → loading → loaded (with its statistics and whether it has changes
 *   not saved yet) → absent when the lease ends, a task fails half-way, or loading fails;
 * - `occupant`, who has the line now: none, or a task (which may offer its slice
 *   boundaries to interludes), direct I/O, an interlude turn, a restore.
 */
import { ignoreFailure } from '../../kernels/background.js';
import type { Logger } from 'pino';
import type { Backend } from '../../kernels/contract.js';
import type { ClusterRecord, Store } from '../store/types.js';
import type { BackendSet } from './backends.js';
import { LeaseLostError } from './errors.js';
import { HostedCluster } from './hosted-cluster.js';
import { InterludeQueue, type InterludeOffer } from './interludes.js';
import type { ClusterRef, LeaseKeeper } from './lease-keeper.js';
import { SerialQueue } from './serial-queue.js';

export type NetworkState =
  | { state: 'absent' }
  | { state: 'loading'; ready: Promise<HostedCluster> }
  | {
      state: 'loaded';
      hosted: HostedCluster;
      /** Its statistics (metrics, the cluster view while direct I/O trains it). */
      stats: Record<string, number>;
      /** It differs from the saved state (direct I/O trained it): saved before a release. */
      unsaved: boolean;
    };

/** What a turn in the cluster's line is for. */
export type TurnPurpose = 'task' | 'direct' | 'interlude' | 'restore';

export type Occupant = { by: 'none' } | { by: 'task'; interludes?: InterludeOffer | undefined } | { by: Exclude<TurnPurpose, 'task'> };

/** The cluster, its record and its backend, ready to work on. */
export interface OpenCluster {
  hosted: HostedCluster;
  backend: Backend;
  record: ClusterRecord;
}

export interface SlotDeps {
  store: Store;
  keeper: LeaseKeeper;
  backends: BackendSet;
  logger: Logger;
}

const now = (): string => new Date().toISOString();

export class ClusterSlot {
  /** Tasks, direct I/O, interlude turns and releases, one at a time, in arrival order. */
  readonly line = new SerialQueue();
  /** Writes of the cluster record (state saves, PATCH/DELETE): never two at once. */
  private readonly recordLock = new SerialQueue();
  network: NetworkState = { state: 'absent' };
  occupant: Occupant = { by: 'none' };
  /** Turns waiting or running in the line, and record changes in flight (no idle release meanwhile). */
  turns = 0;
  /** When work on it last ended (idle release). */
  lastUsed = Date.now();
  /** A prediction changes a spiking network (the potentials it carries): save it later. */
  readonly interludes = new InterludeQueue((hosted) => {
    if (hosted.cluster.spiking) this.markUnsaved(hosted);
  });
  /** The record as last read while holding the lease (direct I/O reads it per call; only this
   *  process changes it meanwhile, and every change through here drops the copy). */
  private recordCopy: ClusterRecord | undefined;
  /** Bumped by every change of the record through this process: a read that started before
   *  a change is not kept. */
  private recordVersion = 0;

  constructor(
    readonly ref: ClusterRef,
    private readonly deps: SlotDeps,
  ) {}

  get clusterId(): string {
    return this.ref.clusterId;
  }

  /** Makes sure this process holds the cluster's lease (ClusterHostedElsewhereError otherwise). */
  claim(): Promise<void> {
    return this.deps.keeper.claim(this.ref);
  }

  /** The cluster's record: the kept copy while the lease is held, else read from the store. */
  async record(): Promise<ClusterRecord> {
    const { keeper, store } = this.deps;
    if (this.recordCopy && keeper.holds(this.clusterId)) return this.recordCopy;
    const version = this.recordVersion;
    const record = await store.clusters.get(this.ref.projectId, this.clusterId);
    if (version === this.recordVersion && keeper.holds(this.clusterId)) this.recordCopy = record;
    return record;
  }

  /** The network in memory, loaded from the record's saved state (or created from its
   *  template and seed) on first use. */
  load(record: ClusterRecord): Promise<HostedCluster> {
    const network = this.network;
    if (network.state === 'loaded') return Promise.resolve(network.hosted);
    if (network.state === 'loading') return network.ready;
    const store = this.deps.store;
    const ready = (async () => (record.stateBlobId ? HostedCluster.fromCheckpoint(await store.blobs.read(record.stateBlobId)) : HostedCluster.fresh(record.templateText, record.seed)))();
    const loading: NetworkState = { state: 'loading', ready };
    this.network = loading;
    ready.then(
      (hosted) => {
        // Unless the copy was dropped meanwhile (lease lost).
        if (this.network === loading) this.network = { state: 'loaded', hosted, stats: { ...hosted.cluster.stats() }, unsaved: false };
      },
      () => {
        if (this.network === loading) this.network = { state: 'absent' };
      },
    );
    return ready;
  }

  /** Record, network and backend, for work on the held cluster. (Without a wait for what
   *  is at hand: direct I/O opens the cluster per call.) */
  async open(): Promise<OpenCluster> {
    const record = this.recordCopy && this.deps.keeper.holds(this.clusterId) ? this.recordCopy : await this.record();
    const network = this.network;
    const hosted = network.state === 'loaded' ? network.hosted : await this.load(record);
    return { hosted, backend: await this.deps.backends.get(record.backend), record };
  }

  /** The network in memory now differs from its saved state. */
  markUnsaved(hosted: HostedCluster): void {
    if (this.network.state === 'loaded' && this.network.hosted === hosted) this.network.unsaved = true;
  }

  /** Takes the statistics of the network in memory again (after direct training). */
  refreshStats(hosted: HostedCluster): void {
    if (this.network.state === 'loaded' && this.network.hosted === hosted) this.network.stats = { ...hosted.cluster.stats() };
  }

  /** Drops `hosted` if it is the network in memory: it may be half-changed (a task failed),
   *  and the next use reloads the saved state. */
  discard(hosted: HostedCluster): void {
    if (this.network.state === 'loaded' && this.network.hosted === hosted) this.network = { state: 'absent' };
  }

  /** Puts `hosted` in memory as the cluster's network (a restored state, saved already). */
  install(hosted: HostedCluster): void {
    this.network = { state: 'loaded', hosted, stats: { ...hosted.cluster.stats() }, unsaved: false };
  }

  /** Forgets everything in memory (the lease ended: the store may hold a newer state). */
  drop(): void {
    this.network = { state: 'absent' };
    this.recordCopy = undefined;
    this.recordVersion++;
  }

  /** Runs a change of the cluster record, never at the same time as another change or a save. */
  withRecordLock<T>(change: () => Promise<T>): Promise<T> {
    return this.recordLock.run(async () => {
      this.recordChanging();
      try {
        return await change();
      } finally {
        this.recordChanging();
      }
    });
  }

  private recordChanging(): void {
    this.recordVersion++;
    this.recordCopy = undefined;
  }

  /**
   * Checkpoints `hosted` into a new blob and points the record at it (only while this
   * process holds the lease: LeaseLostError otherwise), then drops the old blob.
   */
  persist(hosted: HostedCluster, record: ClusterRecord): Promise<ClusterRecord> {
    const { store, keeper, logger } = this.deps;
    const { projectId, clusterId } = this.ref;
    return this.withRecordLock(async () => {
      if (!keeper.holds(clusterId)) throw new LeaseLostError(clusterId, 'its lease ran out');
      const blob = await store.blobs.put(hosted.checkpoint(record.name));
      const stats = { ...hosted.cluster.stats() };
      const before = await store.clusters.get(projectId, clusterId);
      const updated = await store.clusters.updateIfOwner(projectId, clusterId, keeper.instanceId, { stateBlobId: blob.id, stats, templateText: record.templateText, updatedAt: now() });
      if (!updated) {
        await ignoreFailure(store.blobs.delete(blob.id), 'the lease is lost, which is what to report; the orphan blob is only space');
        keeper.lost(clusterId, 'another instance took it over');
        throw new LeaseLostError(clusterId, 'another instance took it over');
      }
      if (this.network.state === 'loaded') {
        this.network.stats = stats;
        this.network.unsaved = false;
      }
      if (before.stateBlobId && before.stateBlobId !== blob.id) {
        await store.blobs.delete(before.stateBlobId).catch((e: unknown) => logger.warn({ err: e }, 'could not delete an old cluster state blob'));
      }
      return updated;
    });
  }

  /** Offers a running task's slice boundaries to the interludes (see InterludeOffer). */
  offerInterludes(open: OpenCluster, now: boolean): () => Promise<void> | undefined {
    const offer = this.interludes.offer(open.hosted, open.backend, open.record, now);
    if (this.occupant.by === 'task') this.occupant.interludes = offer;
    return offer.drain;
  }

  /** The task's job is over: interludes wait for the next turn from now on. */
  withdrawInterludes(): void {
    if (this.occupant.by === 'task') this.occupant.interludes = undefined;
  }
}

/** What work on a cluster may do with it (cluster-host.ts `withCluster`). */
export type ClusterTurn = Pick<
  ClusterSlot,
  'ref' | 'clusterId' | 'claim' | 'record' | 'load' | 'open' | 'markUnsaved' | 'refreshStats' | 'discard' | 'install' | 'persist' | 'offerInterludes' | 'withdrawInterludes'
>;
