/**
 * The role matrix (member, project-admin, admin) under the shipped policy, and the policy
 * file: a custom file changes decisions, a reload takes effect, a broken file is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { DEFAULT_POLICY_FILE, PolicyError } from '../../../server/auth/policy.js';
import { startService } from '../../../server/service.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { assertProblem, createProject, memberOf, startTestService, testConfig, type Client, type TestService } from './helpers.js';

type Actor = 'member' | 'projectAdmin' | 'admin';

describe('role matrix under the shipped policy', () => {
  let t: TestService;
  let project: string;
  let other: string;
  let actors: Record<Actor, Client>;
  let outsiderId: string;

  before(async () => {
    t = await startTestService();
    project = await createProject(t.admin, 'matrix');
    other = await createProject(t.admin, 'elsewhere');
    // A resource, so that deleting the project is refused (409) rather than done.
    await t.admin.expect(201, 'POST', `/v1/projects/${project}/templates`, { json: { name: 'keep', template: DEFAULT_TEMPLATE } });
    actors = {
      member: await memberOf(t.admin, project, 'm-member'),
      projectAdmin: await memberOf(t.admin, project, 'm-lead', 'project-admin'),
      admin: t.admin,
    };
    outsiderId = (await memberOf(t.admin, other, 'm-outsider')).userId;
  });
  after(() => t.close());

  /** [description, method, path, body, expected status per actor]. */
  const cases = (): [string, string, string, unknown, Record<Actor, number>][] => [
    ['read the project', 'GET', `/v1/projects/${project}`, undefined, { member: 200, projectAdmin: 200, admin: 200 }],
    ['change the project', 'PATCH', `/v1/projects/${project}`, { description: 'x' }, { member: 403, projectAdmin: 200, admin: 200 }],
    ['delete the project', 'DELETE', `/v1/projects/${project}`, undefined, { member: 403, projectAdmin: 403, admin: 409 }],
    ['list members', 'GET', `/v1/projects/${project}/members`, undefined, { member: 200, projectAdmin: 200, admin: 200 }],
    ['add a member', 'PUT', `/v1/projects/${project}/members/${outsiderId}`, { role: 'member' }, { member: 403, projectAdmin: 200, admin: 200 }],
    ['remove a member', 'DELETE', `/v1/projects/${project}/members/${outsiderId}`, undefined, { member: 403, projectAdmin: 204, admin: 404 }],
    ['list templates', 'GET', `/v1/projects/${project}/templates`, undefined, { member: 200, projectAdmin: 200, admin: 200 }],
    ['list users', 'GET', '/v1/users', undefined, { member: 403, projectAdmin: 403, admin: 200 }],
    ['create a user', 'POST', '/v1/users', { name: 'made-by-matrix', passphrase: 'made-by-matrix' }, { member: 403, projectAdmin: 403, admin: 201 }],
    ['create a project', 'POST', '/v1/projects', { name: 'made-by-matrix' }, { member: 403, projectAdmin: 403, admin: 201 }],
    ['read the error log', 'GET', '/v1/error-log', undefined, { member: 403, projectAdmin: 403, admin: 200 }],
    ['read the audit log (own)', 'GET', '/v1/audit-log', undefined, { member: 200, projectAdmin: 200, admin: 200 }],
    ["read another user's audit entries", 'GET', `/v1/audit-log?userId=${outsiderId}`, undefined, { member: 403, projectAdmin: 403, admin: 200 }],
    ['read system info', 'GET', '/v1/system', undefined, { member: 200, projectAdmin: 200, admin: 200 }],
    ['read another project', 'GET', `/v1/projects/${other}`, undefined, { member: 404, projectAdmin: 404, admin: 200 }],
  ];

  it('gives each role what the policy says, in this order', async () => {
    const failures: string[] = [];
    // Run the three actors on each row before the next row: later rows depend on earlier
    // ones (the outsider is added, then removed).
    for (const [what, method, path, body, expected] of cases()) {
      for (const actor of ['member', 'projectAdmin', 'admin'] as const) {
        const r = await actors[actor].send(method, path, body === undefined ? {} : { json: body });
        if (r.status !== expected[actor]) failures.push(`${actor} ${what} (${method} ${path}): expected ${expected[actor]}, got ${r.status} ${r.text.slice(0, 200)}`);
        if (r.status === 403) assertProblem(r, 403, 'forbidden');
      }
    }
    assert.deepEqual(failures, []);
  });

  it('shows the store location to admins only', async () => {
    assert.equal((await actors.member.expect(200, 'GET', '/v1/system')).store, undefined);
    assert.equal(typeof (await actors.admin.expect(200, 'GET', '/v1/system')).store, 'string');
  });

  it('limits non-admins to their own audit entries', async () => {
    const own = await actors.member.expect(200, 'GET', '/v1/audit-log?limit=1000');
    const entries = (own.items as Record<string, unknown>[]) ?? [];
    assert.ok(entries.length > 0, 'the member changed things above');
    assert.ok(entries.every((e) => e.userId === actors.member.userId));
  });
});

describe('policy file', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hanami-policy-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('follows a custom file and its reload', async () => {
    const file = join(dir, 'read-only.csv');
    const readOnly = [
      '# members may only read',
      'p, user, global, /v1/users/me, GET',
      'p, member, *, /v1/projects/:projectId, GET',
      'p, member, *, /v1/projects/:projectId/*, GET',
      'p, admin, *, /v1/*, (GET|POST|PUT|PATCH|DELETE)',
    ].join('\n');
    writeFileSync(file, readOnly);
    const t = await startTestService({ policyFile: file });
    try {
      const project = await createProject(t.admin, 'ro');
      const member = await memberOf(t.admin, project, 'reader');
      await member.expect(200, 'GET', `/v1/projects/${project}/templates`);
      assertProblem(await member.post(`/v1/projects/${project}/templates`, { name: 'line', template: DEFAULT_TEMPLATE }), 403, 'forbidden');
      assertProblem(await member.get('/v1/system'), 403, 'forbidden');
      writeFileSync(file, readFileSync(DEFAULT_POLICY_FILE, 'utf8'));
      await t.service.services.policy.reload();
      await member.expect(201, 'POST', `/v1/projects/${project}/templates`, { json: { name: 'line', template: DEFAULT_TEMPLATE } });
      await member.expect(200, 'GET', '/v1/system');
      writeFileSync(file, 'p, member, *, /v1/projects/:projectId\n');
      await assert.rejects(t.service.services.policy.reload(), PolicyError);
      await member.expect(200, 'GET', '/v1/system');
    } finally {
      await t.close();
    }
  });

  it('refuses to start with a broken file, naming the line', async () => {
    const file = join(dir, 'broken.csv');
    writeFileSync(file, '# fine\np, member, *, /v1/projects/:projectId, GET\np, owner, *, /v1/*, GET\n');
    const data = mkdtempSync(join(tmpdir(), 'hanami-policy-data-'));
    try {
      await assert.rejects(startService(testConfig(data, { policyFile: file }), { logger: pino({ level: 'silent' }) }), (e: unknown) => {
        assert.ok(e instanceof PolicyError);
        assert.match(e.message, /broken\.csv:3: unknown role "owner"/);
        return true;
      });
    } finally {
      rmSync(data, { recursive: true, force: true });
    }
  });
});
