/**
 * The caller's role where a request acts, for HTTP routes and Socket.IO alike: `admin` or
 * `user` outside projects; inside a project the member's role, `admin` for administrators
 * (of any existing project). Outsiders get `not_found`: they do not learn whether the
 * project exists.
 */
import { DomainError } from '../errors.js';
import { NotFoundError, type Store, type User } from '../store/types.js';
import type { RoleName } from './policy.js';

/** The role outside projects (the policy's `global` domain). */
export function globalRole(user: User): RoleName {
  return user.isAdmin ? 'admin' : 'user';
}

/** The role inside a project; DomainError `not_found` for a project the caller may not see. */
export async function roleInProject(store: Store, user: User, projectId: string): Promise<RoleName> {
  const hidden = (): DomainError => new DomainError('not_found', `project ${projectId} not found`);
  if (user.isAdmin) {
    try {
      await store.projects.get(projectId);
    } catch (error) {
      if (error instanceof NotFoundError) throw hidden();
      throw error;
    }
    return 'admin';
  }
  const membership = await store.memberships.get(projectId, user.id);
  if (!membership) throw hidden();
  return membership.role;
}
