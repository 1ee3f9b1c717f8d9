/**
 * Access revisions: counters that say "what this user may do, or who may use this project,
 * may have changed". The identity-caching store (identity-cache.ts), through which every change
 * of users, memberships and projects in this process passes, bumps them; holders of long-lived
 * access (the Socket.IO server's connections) compare them on every call, which costs two map
 * reads, and re-check the user's token and membership only when one moved. Listeners hear of
 * every bump at once, so live connections can be refused or closed without waiting for a call.
 *
 * The counters live in this process: another replica sharing a MongoDB store does not bump
 * them here. Long-lived access therefore also re-checks on a short cadence
 * (HANAMI_IO_RECHECK_SECONDS, docs/security.md).
 */

/** What changed: a user's identity (token version, admin flag, deletion) or membership in
 *  `projectId`, or a whole project (deleted). */
export type AccessChange = { userId: string; projectId?: string } | { projectId: string; userId?: undefined };

export type AccessListener = (change: AccessChange) => void;

export class AccessRevisions {
  private readonly users = new Map<string, number>();
  private readonly projects = new Map<string, number>();
  private readonly listeners = new Set<AccessListener>();

  /** The user's revision (0 until something about them changed). */
  user(userId: string): number {
    return this.users.get(userId) ?? 0;
  }

  /** The project's revision (0 until it was deleted). */
  project(projectId: string): number {
    return this.projects.get(projectId) ?? 0;
  }

  /** A user's token, admin flag or existence changed, or their membership of `projectId`. */
  userChanged(userId: string, projectId?: string): void {
    this.users.set(userId, this.user(userId) + 1);
    this.tell(projectId === undefined ? { userId } : { userId, projectId });
  }

  /** A project went away (its memberships with it). */
  projectChanged(projectId: string): void {
    this.projects.set(projectId, this.project(projectId) + 1);
    this.tell({ projectId });
  }

  /** Hears of every change; returns the function that stops listening. */
  listen(listener: AccessListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private tell(change: AccessChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
