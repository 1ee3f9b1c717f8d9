/**
 * Every authenticated request re-reads its user (token version check) and, on project
 * routes, the caller's membership and the project. This store wrapper keeps those lookups for
 * a short time. Every change to users, memberships or projects made through it drops the affected
 * entries at once, so in one process revocation is immediate; another replica sharing a
 * MongoDB store sees a change after at most `ttlMs` (docs/security.md).
 * Every such change also bumps the access revisions (revisions.ts) that live Socket.IO
 * connections compare on each call.
 * Everything else is passed through untouched.
 */
import type { Membership, Project, Store, User } from '../store/types.js';
import { AccessRevisions } from './revisions.js';

interface Entry<T> {
  value: Promise<T>;
  expires: number;
}

/** A small TTL cache that never serves a failed lookup (it is dropped and asked again). */
class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxEntries = 10_000,
  ) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && hit.expires > now) return hit.value;
    if (this.entries.size >= this.maxEntries) this.entries.clear();
    const value = load();
    const entry = { value, expires: now + this.ttlMs };
    this.entries.set(key, entry);
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key);
    });
    return value;
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  deleteWhere(test: (key: string) => boolean): void {
    for (const key of this.entries.keys()) if (test(key)) this.entries.delete(key);
  }
}

export class IdentityCachingStore implements Store {
  private readonly userCache: TtlCache<User>;
  private readonly membershipCache: TtlCache<Membership | null>;
  private readonly projectCache: TtlCache<Project>;

  readonly users: Store['users'];
  readonly projects: Store['projects'];
  readonly memberships: Store['memberships'];
  readonly templates: Store['templates'];
  readonly datasets: Store['datasets'];
  readonly clusters: Store['clusters'];
  readonly checkpoints: Store['checkpoints'];
  readonly tasks: Store['tasks'];
  readonly settings: Store['settings'];
  readonly audit: Store['audit'];
  readonly errors: Store['errors'];
  readonly blobs: Store['blobs'];
  /** Bumped after every change of a user, membership or project made through this store. */
  readonly revisions = new AccessRevisions();

  constructor(
    private readonly inner: Store,
    ttlMs = 2000,
  ) {
    this.userCache = new TtlCache(ttlMs);
    this.membershipCache = new TtlCache(ttlMs);
    this.projectCache = new TtlCache(ttlMs);
    const users = inner.users;
    const forgetUser = (id: string): void => {
      this.userCache.delete(id);
      this.membershipCache.deleteWhere((key) => key.endsWith(`:${id}`));
      this.revisions.userChanged(id);
    };
    this.users = {
      create: (user) => users.create(user),
      get: (id) => this.userCache.get(id, () => users.get(id)),
      findByName: (name) => users.findByName(name),
      list: (page) => users.list(page),
      update: async (id, patch) => {
        try {
          return await users.update(id, patch);
        } finally {
          forgetUser(id);
        }
      },
      delete: async (id) => {
        try {
          await users.delete(id);
        } finally {
          forgetUser(id);
        }
      },
      countAdmins: () => users.countAdmins(),
    };
    const projects = inner.projects;
    this.projects = {
      create: (project) => projects.create(project),
      get: (id) => this.projectCache.get(id, () => projects.get(id)),
      findByName: (name) => projects.findByName(name),
      list: (page) => projects.list(page),
      listForUser: (userId, page) => projects.listForUser(userId, page),
      update: async (id, patch) => {
        try {
          return await projects.update(id, patch);
        } finally {
          this.projectCache.delete(id);
        }
      },
      delete: async (id) => {
        try {
          await projects.delete(id);
        } finally {
          this.projectCache.delete(id);
          this.membershipCache.deleteWhere((key) => key.startsWith(`${id}:`));
          this.revisions.projectChanged(id);
        }
      },
    };
    const memberships = inner.memberships;
    this.memberships = {
      set: async (m) => {
        try {
          return await memberships.set(m);
        } finally {
          this.membershipCache.delete(`${m.projectId}:${m.userId}`);
          this.revisions.userChanged(m.userId, m.projectId);
        }
      },
      get: (projectId, userId) => this.membershipCache.get(`${projectId}:${userId}`, () => memberships.get(projectId, userId)),
      listByProject: (projectId, page) => memberships.listByProject(projectId, page),
      listByUser: (userId) => memberships.listByUser(userId),
      remove: async (projectId, userId) => {
        try {
          await memberships.remove(projectId, userId);
        } finally {
          this.membershipCache.delete(`${projectId}:${userId}`);
          this.revisions.userChanged(userId, projectId);
        }
      },
    };
    this.templates = inner.templates;
    this.datasets = inner.datasets;
    this.clusters = inner.clusters;
    this.checkpoints = inner.checkpoints;
    this.tasks = inner.tasks;
    this.settings = inner.settings;
    this.audit = inner.audit;
    this.errors = inner.errors;
    this.blobs = inner.blobs;
  }

  get description(): string {
    return this.inner.description;
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  ping(): Promise<void> {
    return this.inner.ping();
  }
}
