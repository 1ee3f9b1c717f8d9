/**
 * Authentication and authorization for one route, run before its handler:
 * token → user (re-read from the store) → role in the route's domain → Casbin decision.
 * For project routes a caller who is not a member gets 404 (the project's existence is not
 * revealed to outsiders); a member whose role lacks the right gets 403.
 */
import type { Request, Response } from 'express';
import { GLOBAL_DOMAIN, type RoleName } from '../auth/policy.js';
import { NotFoundError } from '../store/types.js';
import { forbidden, notFound } from './problem.js';
import { expressPath, type AnyRoute, type Principal } from './route.js';
import type { Services } from './services.js';

export async function authorize(route: AnyRoute, req: Request, res: Response, services: Services): Promise<Principal | null> {
  if (route.access === 'public') return null;
  const user = await services.authenticator.authenticate(req, res);
  const pattern = expressPath(route.path);
  const method = req.method.toUpperCase();
  let role: RoleName;
  let domain: string;
  if (route.access === 'user') {
    role = user.isAdmin ? 'admin' : 'user';
    domain = GLOBAL_DOMAIN;
  } else {
    const projectId = req.params.projectId;
    if (typeof projectId !== 'string') throw new Error(`route ${route.path} is a project route without {projectId}`);
    domain = projectId;
    if (user.isAdmin) {
      try {
        await services.store.projects.get(projectId);
      } catch (error) {
        if (error instanceof NotFoundError) throw notFound('project', projectId);
        throw error;
      }
      role = 'admin';
    } else {
      const membership = await services.store.memberships.get(projectId, user.id);
      if (!membership) throw notFound('project', projectId);
      role = membership.role;
    }
  }
  if (!(await services.policy.allows(role, domain, pattern, method))) {
    throw forbidden(`the policy does not allow role "${role}" to ${method} ${pattern}${route.access === 'project' ? ` in project ${domain}` : ''}`);
  }
  return { userId: user.id, name: user.name, isAdmin: user.isAdmin, role };
}
