/**
 * Authorization with Casbin: RBAC with domains. The request is
 * (role, domain, route, method):
 *   - role: `admin` for global administrators; otherwise the caller's membership role in
 *     the route's project (`project-admin`, `member`), or `user` on routes outside projects;
 *   - domain: the project id, or `global` for routes outside projects;
 *   - route: the route pattern as documented (`/v1/projects/:projectId/clusters`), so the
 *     decision cache stays bounded by the number of routes, not of URLs;
 *   - method: GET, POST, PUT, PATCH or DELETE.
 * Memberships live in the store (shared by all replicas), so the role is looked up there per
 * request and passed as the subject; `g` lines in the policy file express role inheritance
 * (`g, project-admin, member, *`). The model is fixed; the policy file is the user-editable
 * part (format in docs/security.md, default in server/auth/policy.csv).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { newCachedEnforcer, newModelFromString, StringAdapter, Util, type CachedEnforcer } from 'casbin';

export const ROLES = ['admin', 'project-admin', 'member', 'user'] as const;
export type RoleName = (typeof ROLES)[number];

/** The domain of routes that do not belong to a project. */
export const GLOBAL_DOMAIN = 'global';

export const POLICY_MODEL = `
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && keyMatch(r.dom, p.dom) && keyMatch2(r.obj, p.obj) && regexMatch(r.act, p.act)
`;

/** The shipped policy, beside this module's source (dist/server/auth → server/auth). */
export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('../../../server/auth/policy.csv', import.meta.url));

export class PolicyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyError';
  }
}

/**
 * Checks the file before Casbin sees it: Casbin accepts almost anything and a typo would
 * silently deny (or allow) a route. Errors name the line.
 */
export function checkPolicyText(text: string, file: string): void {
  const known = new Set<string>(ROLES);
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${file}:${index + 1}`;
    const cells = line.split(',').map((c) => c.trim());
    const [kind, ...rest] = cells;
    if (kind === 'p') {
      if (rest.length !== 4) throw new PolicyError(`${where}: a "p" line has 4 fields (role, project, route, methods), got ${rest.length}`);
      const [role = '', domain = '', route = '', methods = ''] = rest;
      if (!known.has(role)) throw new PolicyError(`${where}: unknown role "${role}" (known: ${ROLES.join(', ')})`);
      if (domain === '') throw new PolicyError(`${where}: empty project field (use * for every project, ${GLOBAL_DOMAIN} for routes outside projects)`);
      if (!route.startsWith('/')) throw new PolicyError(`${where}: the route must start with "/", got "${route}"`);
      try {
        new RegExp(methods);
      } catch {
        throw new PolicyError(`${where}: the methods field is not a regular expression: "${methods}"`);
      }
    } else if (kind === 'g') {
      if (rest.length !== 3) throw new PolicyError(`${where}: a "g" line has 3 fields (role, inherited role, project), got ${rest.length}`);
      for (const role of rest.slice(0, 2)) if (!known.has(role)) throw new PolicyError(`${where}: unknown role "${role}" (known: ${ROLES.join(', ')})`);
    } else {
      throw new PolicyError(`${where}: lines start with "p" (a permission) or "g" (role inheritance), got "${kind ?? ''}"`);
    }
  });
}

export class Policy {
  private constructor(
    private enforcer: CachedEnforcer,
    readonly file: string,
  ) {}

  static async load(file: string = DEFAULT_POLICY_FILE): Promise<Policy> {
    return new Policy(await Policy.enforcerFor(file), file);
  }

  private static async enforcerFor(file: string): Promise<CachedEnforcer> {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new PolicyError(`cannot read the policy file ${file}: ${(e as Error).message}`);
    }
    checkPolicyText(text, file);
    const enforcer = await newCachedEnforcer(newModelFromString(POLICY_MODEL), new StringAdapter(text));
    // `*` in the project field of a `g` line means every project.
    await enforcer.addNamedDomainMatchingFunc('g', Util.keyMatchFunc);
    return enforcer;
  }

  /** Re-reads the file (SIGHUP); a broken file keeps the current policy and throws. */
  async reload(): Promise<void> {
    const next = await Policy.enforcerFor(this.file);
    this.enforcer = next;
  }

  allows(role: RoleName, domain: string, route: string, method: string): Promise<boolean> {
    return this.enforcer.enforce(role, domain, route, method);
  }
}
