/**
 * The Store contract, the rest: cluster leases, settings, the audit and error logs, and blobs.
 * Run by runStoreContract (contract.ts).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { before, describe, it } from 'node:test';
import { BlobTooLargeError, StoreError, type AuditEntry, type ClusterRecord, type ErrorEntry, type Store } from '../../../server/store/types.js';
import { type StoreContractHooks, at, unique, makeCluster, makeAudit, makeErrorEntry, rejectsWith, notFound, conflict, ids, sha256, streamOf, failingStream, collect } from './contract-fixtures.js';

export function leaseSettingsLogBlobContract(getStore: () => Store, hooks: StoreContractHooks): void {
  let store!: Store;
  before(() => {
    store = getStore();
  });

  async function assertNoBlobLeftovers(): Promise<void> {
    if (hooks.blobLeftovers) assert.deepEqual(await hooks.blobLeftovers(store), []);
  }

  describe('cluster leases', () => {
    const T0 = at(100);
    const T1 = at(130);
    const T2 = at(160);
    const T3 = at(190);

    async function freshCluster(): Promise<ClusterRecord> {
      return store.clusters.create(makeCluster(randomUUID()));
    }

    it('a new cluster has no owner', async () => {
      const cluster = await freshCluster();
      assert.equal(cluster.owner, null);
      assert.equal(cluster.leaseUntil, null);
      assert.deepEqual(await store.clusters.get(cluster.projectId, cluster.id), cluster);
    });

    it('claims an unowned cluster; another owner cannot take it until the lease ends', async () => {
      const c = await freshCluster();
      const claimed = await store.clusters.claim(c.projectId, c.id, 'pod-a', T1, T0);
      assert.ok(claimed);
      assert.deepEqual({ owner: claimed.owner, leaseUntil: claimed.leaseUntil }, { owner: 'pod-a', leaseUntil: T1 });
      assert.deepEqual({ ...claimed, owner: null, leaseUntil: null }, c, 'nothing else changed');
      assert.deepEqual(await store.clusters.get(c.projectId, c.id), claimed);

      assert.equal(await store.clusters.claim(c.projectId, c.id, 'pod-b', T2, T0), null, 'the lease runs until T1');
      assert.equal((await store.clusters.get(c.projectId, c.id)).owner, 'pod-a');
      const again = await store.clusters.claim(c.projectId, c.id, 'pod-a', T2, T0);
      assert.equal(again?.leaseUntil, T2, 'the owner may claim again (renews)');
      assert.equal(await store.clusters.claim(c.projectId, c.id, 'pod-b', T3, T1), null, 'still running at T1');
      const taken = await store.clusters.claim(c.projectId, c.id, 'pod-b', T3, at(161));
      assert.deepEqual([taken?.owner, taken?.leaseUntil], ['pod-b', T3], 'after the lease ended, another owner takes it');
    });

    it('renews only while the owner still holds the lease', async () => {
      const c = await freshCluster();
      assert.equal(await store.clusters.renew(c.projectId, c.id, 'pod-a', T1), false, 'nobody holds it');
      await store.clusters.claim(c.projectId, c.id, 'pod-a', T1, T0);
      assert.equal(await store.clusters.renew(c.projectId, c.id, 'pod-b', T2), false);
      assert.equal(await store.clusters.renew(c.projectId, c.id, 'pod-a', T2), true);
      assert.equal((await store.clusters.get(c.projectId, c.id)).leaseUntil, T2);
      // Expired but untouched: the owner may still renew; once taken, it may not.
      assert.equal(await store.clusters.renew(c.projectId, c.id, 'pod-a', T3), true);
      await store.clusters.claim(c.projectId, c.id, 'pod-b', at(400), at(300));
      assert.equal(await store.clusters.renew(c.projectId, c.id, 'pod-a', at(500)), false);
      assert.equal((await store.clusters.get(c.projectId, c.id)).owner, 'pod-b');
      assert.equal(await store.clusters.renew(randomUUID(), c.id, 'pod-b', at(500)), false, 'the key includes the project');
    });

    it('releases only for the owner', async () => {
      const c = await freshCluster();
      await store.clusters.claim(c.projectId, c.id, 'pod-a', T3, T0);
      assert.equal(await store.clusters.release(c.projectId, c.id, 'pod-b'), false);
      assert.equal((await store.clusters.get(c.projectId, c.id)).owner, 'pod-a');
      assert.equal(await store.clusters.release(c.projectId, c.id, 'pod-a'), true);
      const released = await store.clusters.get(c.projectId, c.id);
      assert.deepEqual([released.owner, released.leaseUntil], [null, null]);
      assert.equal(await store.clusters.release(c.projectId, c.id, 'pod-a'), false, 'nothing left to release');
      assert.equal((await store.clusters.claim(c.projectId, c.id, 'pod-b', T1, T0))?.owner, 'pod-b', 'free for anybody at once');
    });

    it('lets exactly one of several concurrent claims win', async () => {
      const c = await freshCluster();
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => store.clusters.claim(c.projectId, c.id, `pod-${i}`, T1, T0)));
      const winners = results.filter((r) => r !== null);
      assert.equal(winners.length, 1, `winners: ${winners.map((w) => w.owner).join(', ')}`);
      assert.equal((await store.clusters.get(c.projectId, c.id)).owner, winners[0]!.owner);
    });

    it('unknown clusters: claim and updateIfOwner throw NotFoundError, renew and release say false', async () => {
      const c = await freshCluster();
      await notFound(store.clusters.claim(c.projectId, randomUUID(), 'pod-a', T1, T0));
      await notFound(store.clusters.claim(randomUUID(), c.id, 'pod-a', T1, T0));
      await notFound(store.clusters.updateIfOwner(c.projectId, randomUUID(), 'pod-a', { stats: {} }));
      assert.equal(await store.clusters.renew(c.projectId, randomUUID(), 'pod-a', T1), false);
      assert.equal(await store.clusters.release(c.projectId, randomUUID(), 'pod-a'), false);
    });

    it('update() leaves the lease alone; updateIfOwner() writes only for the owner', async () => {
      const c = await freshCluster();
      await store.clusters.claim(c.projectId, c.id, 'pod-a', T1, T0);
      const renamed = await store.clusters.update(c.projectId, c.id, { name: unique('renamed'), owner: 'intruder', leaseUntil: T3 });
      assert.deepEqual([renamed.owner, renamed.leaseUntil], ['pod-a', T1]);
      assert.equal(await store.clusters.updateIfOwner(c.projectId, c.id, 'pod-b', { stateBlobId: 'stale' }), null);
      assert.equal((await store.clusters.get(c.projectId, c.id)).stateBlobId, null, 'the loser wrote nothing');
      const saved = await store.clusters.updateIfOwner(c.projectId, c.id, 'pod-a', { stateBlobId: 'fresh', stats: { synapses: 7 }, owner: 'intruder' });
      assert.deepEqual([saved?.stateBlobId, saved?.stats, saved?.owner, saved?.leaseUntil], ['fresh', { synapses: 7 }, 'pod-a', T1]);
      assert.deepEqual(await store.clusters.get(c.projectId, c.id), saved);
      const other = await freshCluster();
      await store.clusters.update(other.projectId, other.id, { name: 'taken-name' });
      await store.clusters.update(c.projectId, c.id, {});
    });

    it('updateIfOwner() reports a name clash as ConflictError', async () => {
      const projectId = randomUUID();
      const a = await store.clusters.create(makeCluster(projectId, unique('a')));
      const b = await store.clusters.create(makeCluster(projectId, unique('b')));
      await store.clusters.claim(projectId, b.id, 'pod-a', T1, T0);
      await conflict(store.clusters.updateIfOwner(projectId, b.id, 'pod-a', { name: a.name }), 'name', a.name);
    });

    it('lists the clusters that name an owner', async () => {
      const held = await freshCluster();
      const released = await freshCluster();
      const never = await freshCluster();
      await store.clusters.claim(held.projectId, held.id, 'pod-a', T1, T0);
      await store.clusters.claim(released.projectId, released.id, 'pod-b', T1, T0);
      await store.clusters.release(released.projectId, released.id, 'pod-b');
      const leased = await store.clusters.listLeased();
      assert.ok(leased.every((r) => r.owner !== null));
      const ids = leased.map((r) => r.id);
      assert.ok(ids.includes(held.id));
      assert.ok(!ids.includes(released.id));
      assert.ok(!ids.includes(never.id));
      assert.deepEqual(
        leased.find((r) => r.id === held.id),
        await store.clusters.get(held.projectId, held.id),
      );
    });
  });

  describe('settings', () => {
    it('gets, sets and overwrites', async () => {
      const key = unique('key');
      assert.equal(await store.settings.get(key), null);
      await store.settings.set(key, 'one');
      assert.equal(await store.settings.get(key), 'one');
      await store.settings.set(key, 'two');
      assert.equal(await store.settings.get(key), 'two');
      assert.equal(await store.settings.setIfAbsent(key, 'three'), 'two');
      assert.equal(await store.settings.get(key), 'two');
    });

    it('setIfAbsent agrees on one value when called concurrently', async () => {
      const key = unique('jwt');
      const values = Array.from({ length: 10 }, (_, i) => `value-${i}`);
      const results = await Promise.all(values.map((v) => store.settings.setIfAbsent(key, v)));
      assert.equal(new Set(results).size, 1, `got ${results.join(', ')}`);
      assert.ok(values.includes(results[0]!));
      assert.equal(await store.settings.get(key), results[0]);
    });
  });

  describe('audit and error logs', () => {
    for (const log of ['audit', 'errors'] as const) {
      it(`${log}: appends and lists by user and project, oldest first`, async () => {
        const userId = randomUUID();
        const projectId = randomUUID();
        const make = log === 'audit' ? makeAudit : makeErrorEntry;
        const append = (entry: AuditEntry & ErrorEntry) => (log === 'audit' ? store.audit.append(entry) : store.errors.append(entry));
        const list = (filter: { userId?: string; projectId?: string }, page?: { offset?: number; limit?: number }) =>
          log === 'audit' ? store.audit.list(filter, page) : store.errors.list(filter, page);
        const entries = [make({ time: at(3), userId, projectId }), make({ time: at(1), userId }), make({ time: at(2), projectId }), make({ time: at(2), userId, projectId })] as (AuditEntry &
          ErrorEntry)[];
        for (const e of entries) await append(e);

        const byTime = <T extends { time: string; id: string }>(xs: T[]) => [...xs].sort((a, b) => a.time.localeCompare(b.time) || (a.id < b.id ? -1 : 1));
        const ofUser = await list({ userId });
        assert.deepEqual(ofUser.items, byTime(entries.filter((e) => e.userId === userId)));
        assert.equal(ofUser.total, 3);
        assert.deepEqual(ids((await list({ projectId })).items), ids(byTime(entries.filter((e) => e.projectId === projectId))));
        assert.deepEqual(ids((await list({ userId, projectId })).items), ids(byTime(entries.filter((e) => e.userId === userId && e.projectId === projectId))));
        assert.deepEqual(ids((await list({ userId }, { offset: 1, limit: 1 })).items), [ids(byTime(entries.filter((e) => e.userId === userId)))[1]]);
        const everything = await list({}, { limit: 1000 });
        assert.ok(everything.total >= 4);
        await conflict(append(entries[0]!), 'id', entries[0]!.id);
      });
    }

    it('pages with a default limit of 100 and a maximum of 1000', async () => {
      const projectId = randomUUID();
      for (let i = 0; i < 101; i++) await store.audit.append(makeAudit({ projectId, time: at(i) }));
      const first = await store.audit.list({ projectId });
      assert.equal(first.items.length, 100);
      assert.equal(first.total, 101);
      assert.equal(first.limit, 100);
      const capped = await store.audit.list({ projectId }, { limit: 5000 });
      assert.equal(capped.limit, 1000);
      assert.equal(capped.items.length, 101);
    });
  });

  describe('blobs', () => {
    it('round-trips 5 MB streamed in chunks, with checksum, size and progress', async () => {
      const data = randomBytes(5 * 1024 * 1024);
      const progress: number[] = [];
      const info = await store.blobs.put(streamOf(data), { maxBytes: data.byteLength, onProgress: (bytes) => progress.push(bytes) });
      assert.equal(info.bytes, data.byteLength);
      assert.equal(info.sha256, sha256(data));
      assert.deepEqual(await store.blobs.stat(info.id), info);
      assert.ok((await store.blobs.read(info.id)).equals(data));
      assert.ok((await collect(await store.blobs.open(info.id))).equals(data));
      assert.ok(progress.length > 1);
      assert.equal(progress.at(-1), data.byteLength);
      assert.ok(progress.every((bytes, i) => i === 0 || bytes >= progress[i - 1]!));
      await store.blobs.delete(info.id);
    });

    it('stores byte arrays and empty blobs', async () => {
      const bytes = new Uint8Array([1, 2, 3, 250]);
      const info = await store.blobs.put(bytes);
      assert.deepEqual(info, { id: info.id, bytes: 4, sha256: sha256(bytes) });
      assert.deepEqual([...(await store.blobs.read(info.id))], [1, 2, 3, 250]);

      const empty = await store.blobs.put(Readable.from([], { objectMode: false }));
      assert.deepEqual(empty, { id: empty.id, bytes: 0, sha256: sha256(new Uint8Array()) });
      assert.equal((await store.blobs.read(empty.id)).byteLength, 0);
      assert.equal((await collect(await store.blobs.open(empty.id))).byteLength, 0);
      assert.notEqual(info.id, empty.id);
    });

    it('rejects data over maxBytes, leaving nothing behind and the source undestroyed', async () => {
      const data = randomBytes(3 * 1024 * 1024);
      const source = streamOf(data);
      const progress: number[] = [];
      await rejectsWith(store.blobs.put(source, { maxBytes: 1024 * 1024, onProgress: (b) => progress.push(b) }), BlobTooLargeError, (e) => {
        assert.ok(e instanceof BlobTooLargeError);
        assert.equal(e.limit, 1024 * 1024);
      });
      assert.equal(source.destroyed, false);
      assert.ok(progress.every((b) => b <= 1024 * 1024));
      await rejectsWith(store.blobs.put(new Uint8Array(11), { maxBytes: 10 }), BlobTooLargeError);
      await assertNoBlobLeftovers();
      // Exactly the limit is fine.
      const exact = await store.blobs.put(new Uint8Array(10), { maxBytes: 10 });
      assert.equal(exact.bytes, 10);
    });

    it('turns a failing source into a StoreError and leaves nothing behind', async () => {
      await rejectsWith(store.blobs.put(failingStream(300 * 1024)), StoreError);
      await assertNoBlobLeftovers();
    });

    it('deletes, and reports unknown or malformed ids as NotFound', async () => {
      const info = await store.blobs.put(Buffer.from('bye'));
      await store.blobs.delete(info.id);
      await notFound(store.blobs.stat(info.id));
      await notFound(store.blobs.read(info.id));
      await notFound(store.blobs.open(info.id));
      await notFound(store.blobs.delete(info.id));
      for (const id of [randomUUID(), '../../etc/passwd', '', 'not-an-id']) {
        await notFound(store.blobs.stat(id));
        await notFound(store.blobs.read(id));
      }
    });
  });
}
