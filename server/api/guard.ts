/**
 * Authorization for one route, run before its handler: the user (authenticated before the
 * request was validated, before-validation.ts) → role in the route's domain (auth/roles.ts,
 * shared with Socket.IO) → Casbin decision.
 * For project routes a caller who is not a member gets 404 (the project's existence is not
 * revealed to outsiders); a member whose role lacks the right gets 403.
 */
import type { Request, Response } from 'express';
import { GLOBAL_DOMAIN, type RoleName } from '../auth/policy.js';
import { globalRole, roleInProject } from '../auth/roles.js';
import { forbidden } from './problem.js';
import { requestState } from './request-state.js';
import { expressPath, type AnyRoute, type Principal } from './route.js';
import type { Services } from './services.js';

export async function authorize(route: AnyRoute, req: Request, res: Response, services: Services): Promise<Principal | null> {
  if (route.access === 'public') return null;
  const user = requestState(req).user ?? (await services.authenticator.authenticate(req, res));
  const pattern = expressPath(route.path);
  const method = req.method.toUpperCase();
  const domain = route.access === 'user' ? GLOBAL_DOMAIN : projectOf(route, req);
  const role: RoleName = route.access === 'user' ? globalRole(user) : await roleInProject(services.store, user, domain);
  if (!(await services.policy.allows(role, domain, pattern, method))) {
    throw forbidden(`the policy does not allow role "${role}" to ${method} ${pattern}${route.access === 'project' ? ` in project ${domain}` : ''}`);
  }
  return { userId: user.id, name: user.name, isAdmin: user.isAdmin, role };
}

function projectOf(route: AnyRoute, req: Request): string {
  const projectId = req.params.projectId;
  if (typeof projectId !== 'string') throw new Error(`route ${route.path} is a project route without {projectId}`);
  return projectId;
}
