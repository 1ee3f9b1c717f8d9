/**
 * What a live Socket.IO connection may still do. A connection is authorized at its handshake
 * and at `attach`, but it can live for hours: revocation must reach it (issue 13, finding 2).
 *
 * - Every call compares the user's and the attached project's access revisions
 *   (server/auth/revisions.ts, bumped in this process by every change of users, memberships
 *   and projects) and the token's expiry: two map reads and a clock read.
 * - When one moved, or the last check is older than the re-check interval (changes made by
 *   another replica on a shared MongoDB store bump no counter here), the connection's calls wait
 *   for a re-check: the token through the HTTP API's verifier (user deleted, token version
 *   bumped by a passphrase or admin-flag change), then the membership and the policy of the
 *   attached cluster's project.
 *
 * The outcome says how far the refusal reaches: the whole connection (`unauthorized`: the
 * server closes it), or only the attachment (`not-found` / `forbidden`: the socket is detached
 * and may attach elsewhere).
 */
import jwt from 'jsonwebtoken';
import type { Authenticator } from '../auth/authenticate.js';
import type { Policy } from '../auth/policy.js';
import type { AccessRevisions } from '../auth/revisions.js';
import { roleInProject } from '../auth/roles.js';
import { DomainError, socketCode } from '../errors.js';
import type { Store, User } from '../store/types.js';
import { IoError } from './protocol.js';

export interface AccessDeps {
  authenticator: Authenticator;
  store: Store;
  policy: Policy;
  /** Access revisions of this process (none: only the re-check interval applies). */
  revisions: AccessRevisions | undefined;
  /** Longest time between two checks of a connection that keeps calling. */
  recheckMs: number;
}

export type AccessVerdict =
  /** Still allowed; `canTrain` as the policy says now (when attached). */
  | { scope: 'ok'; user: User; canTrain: boolean }
  /** The token no longer stands: the connection is refused and closed. */
  | { scope: 'connection'; error: IoError }
  /** The attached cluster is no longer open to this user: the socket is detached. */
  | { scope: 'attachment'; error: IoError };

/** The route direct I/O is authorized as (a member may use it like the cluster routes). */
export const IO_POLICY_ROUTE = '/v1/projects/:projectId/clusters/:clusterId/io';

export class ConnectionAccess {
  /** When the token expires (ms since the epoch). */
  readonly expiresAt: number;
  private userRevision: number;
  private projectRevision = 0;
  private checkedAt = Date.now();
  /** The project of the attached cluster, when attached. */
  private projectId: string | undefined;

  constructor(
    private readonly deps: AccessDeps,
    readonly token: string,
    public user: User,
  ) {
    // Verified by the handshake already: only its expiry is read here.
    const exp = (jwt.decode(token) as { exp?: unknown } | null)?.exp;
    this.expiresAt = typeof exp === 'number' ? exp * 1000 : Date.now();
    this.userRevision = deps.revisions?.user(user.id) ?? 0;
  }

  /** Attached to a cluster of `projectId` (undefined: detached) after a fresh role check. */
  attachedTo(projectId: string | undefined): void {
    this.projectId = projectId;
    if (projectId !== undefined) this.projectRevision = this.deps.revisions?.project(projectId) ?? 0;
  }

  /** Whether something this connection's access rests on may have changed since its last check. */
  stale(now = Date.now()): boolean {
    const revisions = this.deps.revisions;
    if (now >= this.expiresAt || now - this.checkedAt >= this.deps.recheckMs) return true;
    if (!revisions) return false;
    return revisions.user(this.user.id) !== this.userRevision || (this.projectId !== undefined && revisions.project(this.projectId) !== this.projectRevision);
  }

  /** Whether a change concerns this connection (a user's or a project's). */
  concerns(change: { userId?: string | undefined; projectId?: string | undefined }): boolean {
    return change.userId === this.user.id || (change.userId === undefined && change.projectId !== undefined && change.projectId === this.projectId);
  }

  /** Checks the token, then the attachment, against the store as it is now. */
  async check(): Promise<AccessVerdict> {
    const revisions = this.deps.revisions;
    // Taken before reading, so a change made while this check runs is seen by the next call.
    const userRevision = revisions?.user(this.user.id) ?? 0;
    const projectRevision = this.projectId !== undefined ? (revisions?.project(this.projectId) ?? 0) : 0;
    const now = Date.now();
    if (now >= this.expiresAt) return { scope: 'connection', error: new IoError('unauthorized', 'unauthorized: the token expired; log in again and reconnect') };
    let user: User;
    try {
      user = await this.deps.authenticator.verifyToken(this.token);
    } catch (e) {
      if (e instanceof DomainError && e.code === 'unauthorized') return { scope: 'connection', error: new IoError('unauthorized', `unauthorized: ${e.message}; reconnect with a new token`) };
      throw e;
    }
    this.user = user;
    const verdict = await this.checkAttachment(user);
    this.userRevision = userRevision;
    this.projectRevision = projectRevision;
    this.checkedAt = now;
    return verdict;
  }

  private async checkAttachment(user: User): Promise<AccessVerdict> {
    const projectId = this.projectId;
    if (projectId === undefined) return { scope: 'ok', user, canTrain: false };
    try {
      const role = await roleInProject(this.deps.store, user, projectId);
      if (!(await this.deps.policy.allows(role, projectId, IO_POLICY_ROUTE, 'GET'))) {
        return { scope: 'attachment', error: new IoError('forbidden', `the policy no longer allows role "${role}" to use direct I/O in project ${projectId}; the socket was detached`) };
      }
      return { scope: 'ok', user, canTrain: await this.deps.policy.allows(role, projectId, IO_POLICY_ROUTE, 'POST') };
    } catch (e) {
      if (e instanceof DomainError && e.code !== 'internal') {
        return { scope: 'attachment', error: new IoError(socketCode(e.code), `${e.message} (no longer visible to this user); the socket was detached`) };
      }
      throw e;
    }
  }
}
