/**
 * The Store contract: one suite that every implementation must pass (sqlite.test.ts and
 * mongo.test.ts run it). All tests of one run share one store location, so every test makes
 * its own projects, users and names (random suffixes) and only asserts about what it made.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { StoreError, type Membership, type ProjectCollection, type Store, type User } from '../../../server/store/types.js';
import {
  type StoreContractHooks,
  type ProjectRecord,
  at,
  unique,
  makeUser,
  makeProject,
  makeTemplate,
  makeDataset,
  makeCluster,
  makeCheckpoint,
  makeTask,
  rejectsWith,
  notFound,
  conflict,
  byCreation,
  ids,
  orderAmong,
} from './contract-fixtures.js';
import { taskContract } from './contract-tasks.js';
import { leaseSettingsLogBlobContract } from './contract-leases.js';

export type { StoreContractHooks } from './contract-fixtures.js';

export function runStoreContract(name: string, makeStore: () => Promise<Store>, cleanup: () => Promise<void>, hooks: StoreContractHooks = {}): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;

    before(async () => {
      store = await makeStore();
      await store.init();
    });

    after(async () => {
      await store?.close();
      await cleanup();
    });

    describe('lifecycle', () => {
      it('describes itself, answers ping, and init() may run again', async () => {
        assert.ok(store.description.toLowerCase().includes(name.toLowerCase()), store.description);
        await store.init();
        await store.init();
        await store.ping();
      });

      it('refuses calls after close() with a StoreError, and close() twice is fine', async () => {
        const other = await makeStore();
        await other.init();
        await other.close();
        await other.close();
        await rejectsWith(other.users.get(randomUUID()), StoreError);
        await rejectsWith(other.ping(), StoreError);
        await rejectsWith(other.blobs.stat(randomUUID()), StoreError);
      });

      it('keeps everything when closed and opened again', async () => {
        const first = await makeStore();
        await first.init();
        const user = await first.users.create(makeUser());
        const project = await first.projects.create(makeProject());
        const template = await first.templates.create(makeTemplate(project.id));
        await first.memberships.set({ projectId: project.id, userId: user.id, role: 'member', createdAt: at(1) });
        const key = unique('setting');
        await first.settings.set(key, 'kept');
        const bytes = randomBytes(100_000);
        const blob = await first.blobs.put(bytes);
        await first.close();

        const second = await makeStore();
        await second.init();
        try {
          assert.deepEqual(await second.users.get(user.id), user);
          assert.deepEqual(await second.projects.get(project.id), project);
          assert.deepEqual(await second.templates.get(project.id, template.id), template);
          assert.equal((await second.memberships.get(project.id, user.id))?.role, 'member');
          assert.equal(await second.settings.get(key), 'kept');
          assert.deepEqual(await second.blobs.stat(blob.id), blob);
          assert.ok((await second.blobs.read(blob.id)).equals(bytes));
        } finally {
          await second.close();
        }
        // The long-lived instance sees what the others wrote.
        assert.deepEqual(await store.users.get(user.id), user);
      });
    });

    describe('users', () => {
      it('creates, gets, finds by name, updates and deletes', async () => {
        const user = makeUser({ name: unique('Ünïcødé 名前'), isAdmin: true, tokenVersion: 3 });
        assert.deepEqual(await store.users.create(user), user);
        assert.deepEqual(await store.users.get(user.id), user);
        assert.deepEqual(await store.users.findByName(user.name), user);
        assert.equal(await store.users.findByName(unique('nobody')), null);

        const updated = await store.users.update(user.id, { tokenVersion: 4, isAdmin: false });
        assert.deepEqual(updated, { ...user, tokenVersion: 4, isAdmin: false });
        assert.deepEqual(await store.users.get(user.id), updated);

        await store.users.delete(user.id);
        await notFound(store.users.get(user.id));
        await notFound(store.users.delete(user.id));
        assert.equal(await store.users.findByName(user.name), null);
      });

      it('keeps names unique and ids unique', async () => {
        const user = await store.users.create(makeUser());
        await conflict(store.users.create(makeUser({ name: user.name })), 'name', user.name);
        await conflict(store.users.create(makeUser({ id: user.id })), 'id', user.id);
        const other = await store.users.create(makeUser());
        await conflict(store.users.update(other.id, { name: user.name }), 'name', user.name);
        assert.deepEqual(await store.users.get(other.id), other);
        // Renaming to one's own name is no conflict.
        assert.deepEqual(await store.users.update(user.id, { name: user.name }), user);
      });

      it('reports unknown ids as NotFound', async () => {
        await notFound(store.users.get(randomUUID()));
        await notFound(store.users.update(randomUUID(), { tokenVersion: 1 }));
        await notFound(store.users.delete(randomUUID()));
      });

      it('never changes the id through update', async () => {
        const user = await store.users.create(makeUser());
        const patch = { id: randomUUID(), tokenVersion: 9 } as Partial<Omit<User, 'id'>>;
        assert.deepEqual(await store.users.update(user.id, patch), { ...user, tokenVersion: 9 });
      });

      it('counts admins and lists in creation order', async () => {
        const before = await store.users.countAdmins();
        const admins = [await store.users.create(makeUser({ isAdmin: true, createdAt: at(5) })), await store.users.create(makeUser({ isAdmin: true, createdAt: at(4) }))];
        const plain = await store.users.create(makeUser({ createdAt: at(4) }));
        assert.equal(await store.users.countAdmins(), before + 2);
        await store.users.update(admins[0]!.id, { isAdmin: false });
        assert.equal(await store.users.countAdmins(), before + 1);

        const listed = await store.users.list({ limit: 1000 });
        assert.deepEqual(orderAmong(listed.items, [...admins, plain]), ids(byCreation([...admins, plain])));
        assert.ok(listed.total >= 3);
      });
    });

    describe('projects and memberships', () => {
      it('creates, gets, finds by name, updates and deletes projects', async () => {
        const project = makeProject();
        assert.deepEqual(await store.projects.create(project), project);
        assert.deepEqual(await store.projects.get(project.id), project);
        assert.deepEqual(await store.projects.findByName(project.name), project);
        assert.equal(await store.projects.findByName(unique('none')), null);
        await conflict(store.projects.create(makeProject({ name: project.name })), 'name', project.name);
        await conflict(store.projects.create(makeProject({ id: project.id })), 'id', project.id);

        const updated = await store.projects.update(project.id, { description: 'changed' });
        assert.deepEqual(updated, { ...project, description: 'changed' });
        assert.ok(ids((await store.projects.list({ limit: 1000 })).items).includes(project.id));

        await store.projects.delete(project.id);
        await notFound(store.projects.get(project.id));
        await notFound(store.projects.update(project.id, { description: 'x' }));
        await notFound(store.projects.delete(project.id));
      });

      it('upserts memberships, keeping the first createdAt', async () => {
        const project = await store.projects.create(makeProject());
        const user = await store.users.create(makeUser());
        const first: Membership = { projectId: project.id, userId: user.id, role: 'member', createdAt: at(10) };
        assert.deepEqual(await store.memberships.set(first), first);
        const changed = await store.memberships.set({ ...first, role: 'project-admin', createdAt: at(20) });
        assert.deepEqual(changed, { ...first, role: 'project-admin' });
        assert.deepEqual(await store.memberships.get(project.id, user.id), changed);
        assert.equal(await store.memberships.get(project.id, randomUUID()), null);
        assert.deepEqual(await store.memberships.listByUser(user.id), [changed]);

        await store.memberships.remove(project.id, user.id);
        assert.equal(await store.memberships.get(project.id, user.id), null);
        await notFound(store.memberships.remove(project.id, user.id));
      });

      it('lists memberships by project (paged) and by user, in creation order', async () => {
        const project = await store.projects.create(makeProject());
        const otherProject = await store.projects.create(makeProject());
        const users = await Promise.all([0, 1, 2, 3].map(() => store.users.create(makeUser())));
        const memberships = users.map((u, i): Membership => ({ projectId: project.id, userId: u.id, role: 'member', createdAt: at(10 - (i % 2)) }));
        for (const m of memberships) await store.memberships.set(m);
        await store.memberships.set({ projectId: otherProject.id, userId: users[0]!.id, role: 'project-admin', createdAt: at(1) });

        const expected = [...memberships].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || (a.userId < b.userId ? -1 : 1));
        const firstPage = await store.memberships.listByProject(project.id, { limit: 3 });
        assert.deepEqual(firstPage, { items: expected.slice(0, 3), total: 4, offset: 0, limit: 3 });
        const secondPage = await store.memberships.listByProject(project.id, { offset: 3, limit: 3 });
        assert.deepEqual(secondPage.items, expected.slice(3));

        assert.deepEqual(
          (await store.memberships.listByUser(users[0]!.id)).map((m) => m.projectId),
          [otherProject.id, project.id],
        );
      });

      it('lists the projects of a user, paged, without the ones they are not in', async () => {
        const user = await store.users.create(makeUser());
        const mine = [
          await store.projects.create(makeProject({ createdAt: at(3) })),
          await store.projects.create(makeProject({ createdAt: at(1) })),
          await store.projects.create(makeProject({ createdAt: at(2) })),
        ];
        const notMine = await store.projects.create(makeProject({ createdAt: at(0) }));
        for (const p of mine) await store.memberships.set({ projectId: p.id, userId: user.id, role: 'member', createdAt: at(5) });
        await store.memberships.set({ projectId: notMine.id, userId: randomUUID(), role: 'member', createdAt: at(5) });

        const all = await store.projects.listForUser(user.id);
        assert.deepEqual(all, { items: byCreation(mine), total: 3, offset: 0, limit: 100 });
        const page = await store.projects.listForUser(user.id, { offset: 1, limit: 1 });
        assert.deepEqual(page, { items: [byCreation(mine)[1]], total: 3, offset: 1, limit: 1 });

        // A deleted project drops out even while a membership still points at it.
        await store.projects.delete(mine[0]!.id);
        assert.equal((await store.projects.listForUser(user.id)).total, 2);
        assert.deepEqual(await store.projects.listForUser(randomUUID()), { items: [], total: 0, offset: 0, limit: 100 });
      });
    });

    testProjectCollection('templates', (s) => s.templates, makeTemplate, { text: 'version: 1\n# changed\n' }, true);
    testProjectCollection('datasets', (s) => s.datasets, makeDataset, { status: 'ready', rows: 60000, receivedBytes: 1234, options: { delimiter: ',' } }, true);
    testProjectCollection('clusters', (s) => s.clusters, makeCluster, { stateBlobId: randomUUID(), stats: { neurons: 11 }, updatedAt: at(100) }, true);
    testProjectCollection('checkpoints', (s) => s.checkpoints, makeCheckpoint, { stats: { neurons: 2 } }, true);
    testProjectCollection('tasks', (s) => s.tasks, makeTask, { state: 'running', progress: { done: 5, total: 10 }, startedAt: at(50) }, false);

    /** The same tests for each of the five project collections. */
    function testProjectCollection<T extends ProjectRecord & { createdAt: string }>(
      label: string,
      pick: (s: Store) => ProjectCollection<T>,
      make: (projectId: string, name?: string, createdAt?: string) => T,
      patch: Partial<Omit<T, 'id' | 'projectId'>>,
      uniqueNames: boolean,
    ): void {
      describe(label, () => {
        it('creates, gets, finds by name, updates and deletes', async () => {
          const c = pick(store);
          const projectId = randomUUID();
          const record = make(projectId);
          assert.deepEqual(await c.create(record), record);
          assert.deepEqual(await c.get(projectId, record.id), record);
          assert.deepEqual(await c.getAny(record.id), record);
          assert.deepEqual(await c.findByName(projectId, record.name), record);
          assert.equal(await c.findByName(projectId, unique('none')), null);

          const updated = await c.update(projectId, record.id, patch);
          assert.deepEqual(updated, { ...record, ...patch });
          assert.deepEqual(await c.get(projectId, record.id), updated);
          // An empty patch changes nothing and still returns the record.
          assert.deepEqual(await c.update(projectId, record.id, {}), updated);

          await c.delete(projectId, record.id);
          await notFound(c.get(projectId, record.id));
          await notFound(c.getAny(record.id));
          await notFound(c.delete(projectId, record.id));
          await notFound(c.update(projectId, record.id, patch));
          assert.equal(await c.findByName(projectId, record.name), null);
        });

        it('never shows, changes or deletes a record through another project', async () => {
          const c = pick(store);
          const projectId = randomUUID();
          const otherProject = randomUUID();
          const record = await c.create(make(projectId));
          await notFound(c.get(otherProject, record.id));
          await notFound(c.update(otherProject, record.id, patch));
          await notFound(c.delete(otherProject, record.id));
          assert.equal(await c.findByName(otherProject, record.name), null);
          assert.equal((await c.list(otherProject)).total, 0);
          assert.deepEqual(await c.get(projectId, record.id), record);

          // A patch carrying id/projectId cannot move the record.
          const sneaky = { ...patch, id: randomUUID(), projectId: otherProject } as Partial<Omit<T, 'id' | 'projectId'>>;
          assert.deepEqual(await c.update(projectId, record.id, sneaky), { ...record, ...patch });
          await notFound(c.get(otherProject, record.id));
        });

        it('reports unknown ids as NotFound and duplicate ids as ConflictError', async () => {
          const c = pick(store);
          const projectId = randomUUID();
          await notFound(c.get(projectId, randomUUID()));
          await notFound(c.getAny(randomUUID()));
          await notFound(c.update(projectId, randomUUID(), patch));
          await notFound(c.delete(projectId, randomUUID()));
          const record = await c.create(make(projectId));
          await conflict(c.create({ ...make(projectId), id: record.id }), 'id', record.id);
        });

        if (uniqueNames) {
          it('keeps names unique per project, not across projects', async () => {
            const c = pick(store);
            const projectId = randomUUID();
            const name = unique('same');
            const record = await c.create(make(projectId, name));
            await conflict(c.create(make(projectId, name)), 'name', name);
            const elsewhere = await c.create(make(randomUUID(), name));
            assert.equal(elsewhere.name, name);

            const other = await c.create(make(projectId));
            const rename = { name } as Partial<Omit<T, 'id' | 'projectId'>>;
            await conflict(c.update(projectId, other.id, rename), 'name', name);
            assert.deepEqual(await c.get(projectId, other.id), other);
            assert.deepEqual(await c.update(projectId, record.id, rename), record);
          });
        } else {
          it('allows the same name twice in a project', async () => {
            const c = pick(store);
            const projectId = randomUUID();
            const name = unique('same');
            const first = await c.create(make(projectId, name, at(1)));
            await c.create(make(projectId, name, at(2)));
            assert.equal((await c.list(projectId)).total, 2);
            assert.deepEqual(await c.findByName(projectId, name), first);
          });
        }

        it('lists one project (paged) and all projects, in creation order', async () => {
          const c = pick(store);
          const projectId = randomUUID();
          const otherProject = randomUUID();
          // Out of order, with equal timestamps, so the id tie-break matters.
          const mine: T[] = [];
          for (const seconds of [5, 1, 3, 3, 3, 0, 9]) mine.push(await c.create(make(projectId, undefined, at(seconds))));
          const theirs = await c.create(make(otherProject, undefined, at(2)));
          const expected = byCreation(mine);

          const pages = [await c.list(projectId, { limit: 3 }), await c.list(projectId, { offset: 3, limit: 3 }), await c.list(projectId, { offset: 6, limit: 3 })];
          assert.deepEqual(
            pages.map((p) => ids(p.items)),
            [ids(expected.slice(0, 3)), ids(expected.slice(3, 6)), ids(expected.slice(6))],
          );
          assert.deepEqual(
            pages.map((p) => [p.total, p.offset, p.limit]),
            [
              [7, 0, 3],
              [7, 3, 3],
              [7, 6, 3],
            ],
          );
          assert.deepEqual(pages[0]!.items[0], expected[0]);
          assert.deepEqual(await c.list(projectId, { offset: 50 }), { items: [], total: 7, offset: 50, limit: 100 });

          const all = await c.listAll({ limit: 1000 });
          assert.deepEqual(orderAmong(all.items, [...mine, theirs]), ids(byCreation([...mine, theirs])));
          assert.ok(all.total >= 8);
        });
      });
    }

    taskContract(() => store);
    leaseSettingsLogBlobContract(() => store, hooks);
  });
}
