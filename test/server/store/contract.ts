/**
 * The Store contract: one suite that every implementation must pass (sqlite.test.ts and
 * mongo.test.ts run it). All tests of one run share one store location, so every test makes
 * its own projects, users and names (random suffixes) and only asserts about what it made.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  BlobTooLargeError,
  ConflictError,
  NotFoundError,
  StoreError,
  type AuditEntry,
  type CheckpointRecord,
  type ClusterRecord,
  type DatasetRecord,
  type ErrorEntry,
  type Membership,
  type MetricPoint,
  type Project,
  type ProjectCollection,
  type Store,
  type TaskRecord,
  type TaskState,
  type TemplateRecord,
  type TrainTaskRecord,
  type User,
} from '../../../server/store/types.js';

export interface StoreContractHooks {
  /** What a failed blob write may have left behind (temp files, chunks without a files
   *  document); must be empty once put() has rejected. */
  blobLeftovers?(store: Store): Promise<string[]>;
}

type ProjectRecord = { id: string; projectId: string; name: string };

// ---------------------------------------------------------------------------------------
// Record makers

const BASE_TIME = Date.UTC(2026, 0, 1);

/** A timestamp `seconds` after a fixed base, so tests control the creation order. */
function at(seconds: number): string {
  return new Date(BASE_TIME + seconds * 1000).toISOString();
}

function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

function makeUser(overrides: Partial<User> = {}): User {
  return {
    id: randomUUID(),
    name: unique('user'),
    isAdmin: false,
    passphraseHash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==',
    tokenVersion: 0,
    createdAt: at(0),
    createdBy: 'system',
    ...overrides,
  };
}

function makeProject(overrides: Partial<Project> = {}): Project {
  return { id: randomUUID(), name: unique('project'), description: 'a project', createdAt: at(0), createdBy: 'admin', ...overrides };
}

function makeTemplate(projectId: string, name = unique('template'), createdAt = at(0)): TemplateRecord {
  return { id: randomUUID(), projectId, name, text: 'version: 1\nhexagons:\n  - input: 784\n', createdAt, createdBy: 'u1' };
}

function makeDataset(projectId: string, name = unique('dataset'), createdAt = at(0)): DatasetRecord {
  return {
    id: randomUUID(),
    projectId,
    name,
    format: 'csv',
    status: 'uploading',
    receivedBytes: 0,
    expectedBytes: 1234,
    blobs: [{ role: 'csv', blobId: randomUUID(), bytes: 1234, sha256: 'ab'.repeat(32) }],
    rows: null,
    inputColumns: ['a', 'b'],
    inputWidth: 2,
    targets: { kind: 'class', classes: ['cat', 'dog'] },
    options: { delimiter: ';', 'header.row': 1 },
    error: null,
    createdAt,
    createdBy: 'u1',
  };
}

function makeCluster(projectId: string, name = unique('cluster'), createdAt = at(0)): ClusterRecord {
  return {
    id: randomUUID(),
    projectId,
    name,
    templateText: 'version: 1',
    seed: 4294967295,
    backend: 'auto',
    mode: 'tasks',
    stateBlobId: null,
    stats: { neurons: 10, synapses: 250 },
    owner: null,
    leaseUntil: null,
    createdAt,
    updatedAt: createdAt,
    createdBy: 'u1',
  };
}

function makeCheckpoint(projectId: string, name = unique('checkpoint'), createdAt = at(0)): CheckpointRecord {
  return {
    id: randomUUID(),
    projectId,
    clusterId: randomUUID(),
    name,
    blobId: randomUUID(),
    bytes: 99,
    sha256: 'cd'.repeat(32),
    stats: { neurons: 1.5 },
    createdAt,
    createdBy: 'u1',
  };
}

function makeTask(projectId: string, name = unique('task'), createdAt = at(0), overrides: Partial<TrainTaskRecord> = {}): TrainTaskRecord {
  return {
    id: randomUUID(),
    projectId,
    clusterId: randomUUID(),
    kind: 'train',
    name,
    state: 'queued',
    // Names with dots and dollars: MongoDB field-name rules must not touch them.
    params: {
      datasetId: randomUUID(),
      epochs: 2,
      inputs: [
        { name: 'in.put', column: 0, size: 2 },
        { name: '$dollar', column: 2 },
      ],
      output: 'out.$',
    },
    progress: { done: 0, total: 10 },
    result: null,
    resultBlobId: null,
    error: null,
    runBy: null,
    createdAt,
    startedAt: null,
    finishedAt: null,
    createdBy: 'u1',
    ...overrides,
  };
}

function makeAudit(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return { id: randomUUID(), time: at(0), userId: null, projectId: null, method: 'GET', path: '/v1/projects', status: 200, requestId: randomUUID(), ...overrides };
}

function makeErrorEntry(overrides: Partial<ErrorEntry> = {}): ErrorEntry {
  return {
    id: randomUUID(),
    time: at(0),
    userId: null,
    projectId: null,
    requestId: null,
    component: 'task',
    message: 'boom',
    detail: 'stack…',
    ...overrides,
  };
}

// ---------------------------------------------------------------------------------------
// Assertion helpers

async function rejectsWith(promise: Promise<unknown>, errorClass: new (...args: never[]) => Error, check?: (e: Error) => void): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof errorClass, `expected ${errorClass.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    check?.(e);
    return true;
  });
}

function notFound(promise: Promise<unknown>): Promise<void> {
  return rejectsWith(promise, NotFoundError);
}

function conflict(promise: Promise<unknown>, field: string, value: string): Promise<void> {
  return rejectsWith(promise, ConflictError, (e) => {
    assert.ok(e instanceof ConflictError);
    assert.equal(e.field, field);
    assert.equal(e.value, value);
  });
}

function byCreation<T extends { createdAt: string; id: string }>(records: T[]): T[] {
  return [...records].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function ids(records: { id: string }[]): string[] {
  return records.map((r) => r.id);
}

/** The ids of `wanted` in the order they appear in `listed`. */
function orderAmong(listed: { id: string }[], wanted: { id: string }[]): string[] {
  const set = new Set(ids(wanted));
  return ids(listed).filter((id) => set.has(id));
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A stream of `data` in chunks of `chunkBytes`. */
function streamOf(data: Buffer, chunkBytes = 64 * 1024): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < data.byteLength; i += chunkBytes) chunks.push(data.subarray(i, i + chunkBytes));
  return Readable.from(chunks, { objectMode: false });
}

/** A stream that yields some bytes and then fails, like a client that disconnects. */
function failingStream(bytesBeforeError: number): Readable {
  return Readable.from(
    (async function* () {
      yield randomBytes(bytesBeforeError);
      throw new Error('client went away');
    })(),
    { objectMode: false },
  );
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------
// The suite

/**
 * @param makeStore a new, not yet initialised Store over this run's location (called more
 *   than once: reopening must see the same data)
 * @param cleanup removes the location once the suite is done
 */
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

    async function assertNoBlobLeftovers(): Promise<void> {
      if (hooks.blobLeftovers) assert.deepEqual(await hooks.blobLeftovers(store), []);
    }

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

    describe('tasks', () => {
      it('lists by cluster within a project, paged', async () => {
        const projectId = randomUUID();
        const clusterId = randomUUID();
        const onCluster = [await store.tasks.create(makeTask(projectId, undefined, at(2), { clusterId })), await store.tasks.create(makeTask(projectId, undefined, at(1), { clusterId }))];
        await store.tasks.create(makeTask(projectId, undefined, at(0)));
        await store.tasks.create(makeTask(randomUUID(), undefined, at(0), { clusterId }));

        const listed = await store.tasks.listByCluster(projectId, clusterId);
        assert.deepEqual(listed, { items: byCreation(onCluster), total: 2, offset: 0, limit: 100 });
        assert.deepEqual(ids((await store.tasks.listByCluster(projectId, clusterId, { offset: 1, limit: 1 })).items), [onCluster[0]!.id]);
        await notFound(store.tasks.get(randomUUID(), onCluster[0]!.id));
      });

      it('lists by state across projects', async () => {
        const make = (state: TaskState, seconds: number) => store.tasks.create(makeTask(randomUUID(), undefined, at(seconds), { state }));
        const queued = await make('queued', 3);
        const running = await make('running', 1);
        const finished = await make('finished', 2);
        const listed = await store.tasks.listByState(['queued', 'running']);
        assert.deepEqual(orderAmong(listed, [queued, running, finished]), [running.id, queued.id]);
        assert.ok(listed.every((t) => t.state === 'queued' || t.state === 'running'));
        assert.deepEqual(
          listed.find((t) => t.id === queued.id),
          queued,
        );
        assert.deepEqual(await store.tasks.listByState([]), []);
        await store.tasks.update(queued.projectId, queued.id, { state: 'cancelled', finishedAt: at(9) });
        assert.ok(!ids(await store.tasks.listByState(['queued'])).includes(queued.id));
      });

      it('keeps params and results as given (nested lists, odd keys and names)', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        const result = { samples: 20, seconds: 0.5, samplesPerSecond: 40, stats: { 'per.class': 1, $a: 2.5, neurons: 3 } };
        const updated = await store.tasks.update(projectId, task.id, { state: 'finished', result, resultBlobId: randomUUID() });
        assert.deepEqual(updated.result, result);
        assert.deepEqual((await store.tasks.get(projectId, task.id)).params, task.params);

        const request = await store.tasks.create({ ...makeTask(projectId), kind: 'request', params: { datasetId: randomUUID(), inputs: [{ name: 'a.b', size: 1 }], output: '$out' }, result: null });
        const layout = {
          rows: 2,
          width: 3,
          outputs: [
            { name: '$out', mode: 'class' as const, column: 0, size: 2, labels: ['c.1', '$c2'] },
            { name: 'v.w', mode: 'value' as const, column: 2, size: 1, labels: ['0'] },
          ],
        };
        const answered = { ...layout, samples: 2, seconds: 0.01, samplesPerSecond: 200, accuracy: 0.5 };
        assert.deepEqual((await store.tasks.update(projectId, request.id, { state: 'finished', result: answered })).result, answered);
        const read = await store.tasks.get(projectId, request.id);
        assert.deepEqual([read.kind, read.params, read.result], ['request', request.params, answered]);
      });

      it('refuses params and results it could not read back', async () => {
        const projectId = randomUUID();
        const bad = { ...makeTask(projectId), params: { epochs: 2 } } as unknown as TaskRecord;
        await assert.rejects(store.tasks.create(bad), (e: unknown) => e instanceof StoreError && /params\.datasetId is not a string/.test(e.message));
        const task = await store.tasks.create(makeTask(projectId));
        const result = { samples: 1, seconds: 1, samplesPerSecond: 1, outputs: 'none' } as unknown as TaskRecord['result'];
        await assert.rejects(store.tasks.update(projectId, task.id, { result }), (e: unknown) => e instanceof StoreError && /result\.outputs is not a list/.test(e.message));
        assert.equal((await store.tasks.get(projectId, task.id)).result, null, 'nothing was written');
      });

      it('stores NaN and infinities as null, as JSON does', async () => {
        const projectId = randomUUID();
        const cluster = await store.clusters.create({ ...makeCluster(projectId), stats: { neurons: 3, loss: Number.NaN, best: Number.POSITIVE_INFINITY } });
        const stored = await store.clusters.get(projectId, cluster.id);
        assert.deepEqual(stored.stats, { neurons: 3, loss: null, best: null });
        assert.deepEqual(cluster, stored);
        const task = await store.tasks.create(makeTask(projectId, undefined, at(0), { progress: { done: 1, total: Number.NaN } }));
        assert.equal((await store.tasks.get(projectId, task.id)).progress.total, null);
      });
    });

    describe('task metric series', () => {
      const point = (seq: number, extra: Partial<MetricPoint> = {}): MetricPoint => ({
        seq,
        time: at(seq),
        done: (seq + 1) * 1000,
        total: 1_000_000,
        samplesPerSecond: 5000 + seq,
        window: 1000,
        accuracy: (seq % 100) / 100,
        neurons: 100 + seq,
        synapses: 10_000 + seq,
        sections: 50 + seq,
        bytes: 123_456 + seq,
        final: false,
        ...extra,
      });

      it('appends, pages and reads the last point; values read back as written', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        assert.deepEqual(await store.tasks.listMetrics(projectId, task.id), { items: [], total: 0, offset: 0, limit: 100 });
        assert.equal(await store.tasks.lastMetric(projectId, task.id), null);
        const unscored = (p: MetricPoint): MetricPoint => Object.fromEntries(Object.entries(p).filter(([k]) => k !== 'accuracy')) as unknown as MetricPoint;
        const written = [point(0), { ...unscored(point(1)), rmse: 0.25, mae: 0.125 }, { ...unscored(point(2)), final: true, window: 0 }];
        assert.equal(await store.tasks.appendMetrics(projectId, task.id, written.slice(0, 1), 1000), 1);
        assert.equal(await store.tasks.appendMetrics(projectId, task.id, written.slice(1), 1000), 3);
        assert.equal(await store.tasks.appendMetrics(projectId, task.id, [], 1000), 3);
        const clean = written.map((p) => JSON.parse(JSON.stringify(p)) as MetricPoint);
        assert.deepEqual((await store.tasks.listMetrics(projectId, task.id)).items, clean);
        assert.deepEqual(await store.tasks.listMetrics(projectId, task.id, { offset: 1, limit: 1 }), { items: [clean[1]], total: 3, offset: 1, limit: 1 });
        assert.deepEqual(await store.tasks.lastMetric(projectId, task.id), clean[2]);
        // Scoped by project: another project's id sees nothing.
        assert.equal((await store.tasks.listMetrics(randomUUID(), task.id)).total, 0);
      });

      it('stays bounded: a series over its limit halves, keeping the first and the newest point', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        const limit = 8;
        const kept: number[] = [];
        for (let seq = 0; seq < 40; seq++) {
          const n = await store.tasks.appendMetrics(projectId, task.id, [point(seq)], limit);
          assert.ok(n <= limit, `${n} points kept after seq ${seq}`);
          kept.push(n);
        }
        // 9 points → every second one dropped (1, 3, 5, 7) → 5; and so on.
        assert.deepEqual(kept.slice(0, 10), [1, 2, 3, 4, 5, 6, 7, 8, 5, 6]);
        const series = (await store.tasks.listMetrics(projectId, task.id, { limit: 1000 })).items.map((p) => p.seq);
        assert.equal(series.length, kept[kept.length - 1]);
        assert.equal(series[0], 0);
        assert.equal(series[series.length - 1], 39);
        assert.deepEqual(
          series,
          [...series].sort((a, b) => a - b),
          'in seq order',
        );
        assert.equal((await store.tasks.lastMetric(projectId, task.id))?.seq, 39);
      });

      it('keeps 1,000 points at most and deletes the series with its task', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        let n = 0;
        for (let seq = 0; seq < 1000; seq += 100)
          n = await store.tasks.appendMetrics(
            projectId,
            task.id,
            Array.from({ length: 100 }, (_, i) => point(seq + i)),
            1000,
          );
        assert.equal(n, 1000);
        n = await store.tasks.appendMetrics(projectId, task.id, [point(1000)], 1000);
        assert.equal(n, 501);
        // A batch far over the limit halves as often as it takes: 501 + 1,600 → 2,101 → 1,051 → 526.
        n = await store.tasks.appendMetrics(
          projectId,
          task.id,
          Array.from({ length: 1600 }, (_, i) => point(1001 + i)),
          1000,
        );
        assert.equal(n, 526);
        const kept = (await store.tasks.listMetrics(projectId, task.id, { limit: 1000 })).items;
        assert.deepEqual([kept[0]?.seq, kept.at(-1)?.seq], [0, 2600]);
        await store.tasks.delete(projectId, task.id);
        assert.equal((await store.tasks.listMetrics(projectId, task.id)).total, 0);
      });
    });

    describe('task compare-and-set', () => {
      it("lists one cluster's tasks by state", async () => {
        const projectId = randomUUID();
        const clusterId = randomUUID();
        const a = await store.tasks.create(makeTask(projectId, undefined, at(3), { clusterId, state: 'queued' }));
        const b = await store.tasks.create(makeTask(projectId, undefined, at(1), { clusterId, state: 'running', runBy: 'pod-a' }));
        await store.tasks.create(makeTask(projectId, undefined, at(2), { clusterId, state: 'finished' }));
        await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'queued' }));
        await store.tasks.create(makeTask(randomUUID(), undefined, at(0), { clusterId, state: 'queued' }));
        const listed = await store.tasks.listByState(['queued', 'running'], { projectId, clusterId });
        assert.deepEqual(listed, [b, a]);
        assert.deepEqual(await store.tasks.listByState([], { projectId, clusterId }), []);
      });

      it('updateIf applies a patch only in the expected state (and runner)', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        assert.equal(task.runBy, null);
        const started = await store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: 'pod-a', startedAt: at(1) });
        assert.equal(started?.state, 'running');
        assert.equal(started?.runBy, 'pod-a');
        assert.deepEqual(await store.tasks.get(projectId, task.id), started);
        assert.equal(await store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: 'pod-b' }), null, 'started once');
        assert.equal(await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-b' }, { state: 'failed' }), null, 'another runner cannot end it');
        const progressed = await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-a' }, { progress: { done: 4, total: 10 } });
        assert.deepEqual([progressed?.state, progressed?.progress], ['running', { done: 4, total: 10 }], 'a patch without a state change');
        const ended = await store.tasks.updateIf(projectId, task.id, { states: ['running'], runBy: 'pod-a' }, { state: 'finished', finishedAt: at(2) });
        assert.equal(ended?.state, 'finished');
        assert.equal(ended?.runBy, 'pod-a');
        assert.equal((await store.tasks.get(projectId, task.id)).state, 'finished');
        assert.equal(await store.tasks.updateIf(projectId, task.id, { states: [] }, { state: 'queued' }), null);
        await notFound(store.tasks.updateIf(projectId, randomUUID(), { states: ['queued'] }, { state: 'running' }));
        await notFound(store.tasks.updateIf(randomUUID(), task.id, { states: ['finished'] }, { state: 'queued' }));
      });

      it('records who asked to cancel a task, once, and forgets it with the task', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'running', runBy: 'pod-a' }));
        assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), null);
        assert.equal(await store.tasks.requestCancel(projectId, task.id, 'alice'), true);
        assert.equal(await store.tasks.requestCancel(projectId, task.id, 'bob'), false, 'the first request stands');
        assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), 'alice');
        assert.equal(await store.tasks.cancelRequestOf(randomUUID(), task.id), null, 'the key includes the project');
        assert.equal((await store.tasks.get(projectId, task.id)).state, 'running', 'the task record is not touched');
        await store.tasks.delete(projectId, task.id);
        assert.equal(await store.tasks.cancelRequestOf(projectId, task.id), null);
      });

      it('lets exactly one of several concurrent state changes win', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        // Start and cancel race, as when two instances act on one queued task.
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, i % 2 === 0 ? { state: 'running', runBy: `pod-${i}` } : { state: 'cancelled', error: `by ${i}` }),
          ),
        );
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1, `winners: ${winners.map((w) => `${w.state}/${w.runBy ?? w.error ?? ''}`).join(', ')}`);
        const stored = await store.tasks.get(projectId, task.id);
        assert.deepEqual([stored.state, stored.runBy, stored.error], [winners[0]!.state, winners[0]!.runBy, winners[0]!.error]);
        // The same for the way out of `running`.
        const running = await store.tasks.create(makeTask(projectId, undefined, at(0), { state: 'running', runBy: 'pod-a' }));
        const ends = await Promise.all(
          Array.from({ length: 6 }, (_, i) => store.tasks.updateIf(projectId, running.id, { states: ['running'] }, { state: i % 2 === 0 ? 'finished' : 'failed', error: `end ${i}` })),
        );
        assert.equal(ends.filter((r) => r !== null).length, 1);
      });

      it('lets exactly one of several concurrent starts win', async () => {
        const projectId = randomUUID();
        const task = await store.tasks.create(makeTask(projectId));
        const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.tasks.updateIf(projectId, task.id, { states: ['queued'] }, { state: 'running', runBy: `pod-${i}` })));
        const winners = results.filter((r) => r !== null);
        assert.equal(winners.length, 1);
        assert.equal((await store.tasks.get(projectId, task.id)).runBy, winners[0]!.runBy);
      });
    });

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
  });
}
