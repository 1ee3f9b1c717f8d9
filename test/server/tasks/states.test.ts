/**
 * The named states of a cluster in one process (docs/architecture.md, "The task runtime"):
 * the lease (lease-keeper.ts) and the network in memory (cluster-slot.ts, through the host),
 * on a real embedded store, without a service around them.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { SqliteStore } from '../../../server/store/sqlite.js';
import type { BackendSet } from '../../../server/tasks/backends.js';
import { ClusterHost } from '../../../server/tasks/cluster-host.js';
import { ClusterHostedElsewhereError } from '../../../server/tasks/errors.js';
import { LeaseKeeper, type ClusterRef, type OwnershipSettings } from '../../../server/tasks/lease-keeper.js';

const logger = pino({ level: 'silent' });
const settings = (instanceId: string): OwnershipSettings => ({ instanceId, leaseMs: 30_000, renewMs: 10_000, idleMs: 60_000, pollMs: 2_000 });

let dir: string;
let store: SqliteStore;

async function makeCluster(): Promise<ClusterRef> {
  const now = new Date().toISOString();
  const record = await store.clusters.create({
    id: randomUUID(),
    projectId: randomUUID(),
    name: `c-${randomUUID()}`,
    templateText: DEFAULT_TEMPLATE,
    seed: 1,
    backend: 'auto',
    mode: 'tasks',
    stateBlobId: null,
    stats: {},
    owner: null,
    leaseUntil: null,
    createdAt: now,
    updatedAt: now,
    createdBy: 'test',
  });
  return { projectId: record.projectId, clusterId: record.id };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hanami-states-'));
  store = new SqliteStore({ dataDir: dir });
  await store.init();
});

after(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('lease states', () => {
  it('not held → claiming (one claim, shared) → held; another live owner is refused', async () => {
    const claimed: string[] = [];
    const keeper = new LeaseKeeper(store, settings('pod-a'), logger, { claimed: async (c) => void claimed.push(c.clusterId), lost: () => undefined });
    const cluster = await makeCluster();
    assert.equal(keeper.stateOf(cluster.clusterId), 'not-held');
    const first = keeper.claim(cluster);
    const second = keeper.claim(cluster);
    assert.equal(keeper.stateOf(cluster.clusterId), 'claiming');
    await Promise.all([first, second]);
    assert.deepEqual(claimed, [cluster.clusterId], 'claimed once for both callers');
    assert.equal(keeper.stateOf(cluster.clusterId), 'held');
    assert.ok(keeper.holds(cluster.clusterId));

    const other = new LeaseKeeper(store, settings('pod-b'), logger, { claimed: async () => undefined, lost: () => undefined });
    await assert.rejects(other.claim(cluster), (e: unknown) => e instanceof ClusterHostedElsewhereError && e.owner === 'pod-a');
    assert.equal(other.stateOf(cluster.clusterId), 'not-held');
  });

  it('held → lost, once, when a renewal finds another owner', async () => {
    const lost: string[] = [];
    const keeper = new LeaseKeeper(store, settings('pod-c'), logger, { claimed: async () => undefined, lost: (id, why) => void lost.push(`${id}: ${why}`) });
    const cluster = await makeCluster();
    await keeper.claim(cluster);
    // Another instance takes it over (as after this one's lease ran out).
    await store.clusters.release(cluster.projectId, cluster.clusterId, 'pod-c');
    await store.clusters.claim(cluster.projectId, cluster.clusterId, 'pod-d', new Date(Date.now() + 30_000).toISOString(), new Date().toISOString());
    await keeper.renewAll();
    await keeper.renewAll();
    assert.deepEqual(lost, [`${cluster.clusterId}: another instance holds it now, or it was deleted`]);
    assert.equal(keeper.stateOf(cluster.clusterId), 'not-held');
  });
});

describe('network states', () => {
  it('absent → loading → loaded on first use; absent again when the lease is lost', async () => {
    // The keeper calls the host only once a claim happens, after both exist.
    const keeper: LeaseKeeper = new LeaseKeeper(store, settings('pod-e'), logger, { claimed: async (c) => host.claimed(c), lost: (id) => host.lost(id) });
    // This test never asks for a backend.
    const backends = {} as unknown as BackendSet;
    const host: ClusterHost = new ClusterHost({ store, keeper, backends, logger, hasTaskWork: () => false });
    const cluster = await makeCluster();
    assert.equal(host.liveStats(cluster.clusterId), undefined, 'absent');
    const seen: string[] = [];
    await host.withCluster(cluster, 'direct', async (turn) => {
      await turn.claim();
      const loading = turn.load(await turn.record());
      seen.push(host.liveStats(cluster.clusterId) === undefined ? 'loading' : 'loaded too early');
      await loading;
    });
    assert.ok(host.liveStats(cluster.clusterId), 'loaded, with its statistics');
    assert.deepEqual(seen, ['loading']);
    keeper.lost(cluster.clusterId, 'the test says so');
    assert.equal(host.liveStats(cluster.clusterId), undefined, 'dropped with the lease');
    assert.equal(keeper.stateOf(cluster.clusterId), 'not-held');
  });
});
