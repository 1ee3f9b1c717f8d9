/**
 * Users, projects and memberships: the admin's management, the checks that keep the
 * service manageable (last admin, self-deletion, non-empty projects) and duplicates.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { ADMIN_NAME, assertProblem, createProject, items, memberOf, obj, startTestService, str, type TestService } from './helpers.js';

describe('users', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  it('creates, lists, shows, renames and deletes users', async () => {
    const created = await t.admin.expect(201, 'POST', '/v1/users', { json: { name: 'alice', passphrase: 'alice-passphrase' } });
    assert.equal(created.isAdmin, false);
    assert.equal(created.createdBy, ADMIN_NAME);
    const id = str(created, 'id');
    const list = items(await t.admin.expect(200, 'GET', '/v1/users?limit=1000'));
    assert.ok(list.some((u) => u.id === id));
    assert.equal((await t.admin.expect(200, 'GET', `/v1/users/${id}`)).name, 'alice');
    assert.equal((await t.admin.expect(200, 'PATCH', `/v1/users/${id}`, { json: { name: 'alice2' } })).name, 'alice2');
    await t.admin.expect(204, 'DELETE', `/v1/users/${id}`);
    assertProblem(await t.admin.get(`/v1/users/${id}`), 404, 'not_found');
    assertProblem(await t.admin.delete(`/v1/users/${id}`), 404, 'not_found');
  });

  it('pages lists with offset and limit', async () => {
    for (const name of ['page-a', 'page-b', 'page-c']) await t.admin.expect(201, 'POST', '/v1/users', { json: { name, passphrase: 'page-passphrase' } });
    const all = await t.admin.expect(200, 'GET', '/v1/users?limit=1000');
    const total = Number(all.total);
    const page = await t.admin.expect(200, 'GET', '/v1/users?offset=1&limit=2');
    assert.equal(page.total, total);
    assert.equal(page.offset, 1);
    assert.equal(page.limit, 2);
    assert.deepEqual(items(page), items(all).slice(1, 3));
    assertProblem(await t.admin.get('/v1/users?limit=0'), 400, 'validation');
    assertProblem(await t.admin.get('/v1/users?limit=1001'), 400, 'validation');
  });

  it('refuses duplicate names with 409', async () => {
    await t.admin.expect(201, 'POST', '/v1/users', { json: { name: 'bob', passphrase: 'bob-passphrase' } });
    const p = assertProblem(await t.admin.post('/v1/users', { name: 'bob', passphrase: 'other-passphrase' }), 409, 'duplicate');
    assert.equal(p.field, '/body/name');
  });

  it('keeps at least one admin and refuses to delete oneself', async () => {
    const me = await t.admin.expect(200, 'GET', '/v1/users/me');
    assertProblem(await t.admin.delete(`/v1/users/${str(me, 'id')}`), 409, 'delete_self');
    assertProblem(await t.admin.patch(`/v1/users/${str(me, 'id')}`, { isAdmin: false }), 409, 'last_admin');
  });

  it('shows a user their own projects', async () => {
    const p1 = await createProject(t.admin, 'mine-1');
    const p2 = await createProject(t.admin, 'mine-2');
    await createProject(t.admin, 'not-mine');
    const carol = await memberOf(t.admin, p1, 'carol', 'member');
    const carolId = carol.userId;
    await t.admin.expect(200, 'PUT', `/v1/projects/${p2}/members/${carolId}`, { json: { role: 'project-admin' } });
    const me = await carol.expect(200, 'GET', '/v1/users/me');
    assert.deepEqual(
      (me.memberships as unknown[]).map(obj).map((m) => [m.projectName, m.role]),
      [
        ['mine-1', 'member'],
        ['mine-2', 'project-admin'],
      ],
    );
    const projects = items(await carol.expect(200, 'GET', '/v1/projects'));
    assert.deepEqual(projects.map((p) => p.name).sort(), ['mine-1', 'mine-2']);
  });
});

describe('projects and members', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  it('creates, shows, renames and deletes projects; refuses duplicates', async () => {
    const id = await createProject(t.admin, 'alpha');
    assertProblem(await t.admin.post('/v1/projects', { name: 'alpha' }), 409, 'duplicate');
    assert.equal((await t.admin.expect(200, 'PATCH', `/v1/projects/${id}`, { json: { description: 'the first' } })).description, 'the first');
    await t.admin.expect(204, 'DELETE', `/v1/projects/${id}`);
    assertProblem(await t.admin.get(`/v1/projects/${id}`), 404, 'not_found');
  });

  it('manages members and their roles; removing a member ends their access', async () => {
    const project = await createProject(t.admin, 'beta');
    const lead = await memberOf(t.admin, project, 'lead', 'project-admin');
    const dave = await memberOf(t.admin, null, 'dave');
    const set = await lead.expect(200, 'PUT', `/v1/projects/${project}/members/${dave.userId}`, { json: { role: 'member' } });
    assert.equal(set.userName, 'dave');
    await dave.expect(200, 'GET', `/v1/projects/${project}`);
    const members = items(await dave.expect(200, 'GET', `/v1/projects/${project}/members`));
    assert.deepEqual(members.map((m) => [m.userName, m.role]).sort(), [
      ['dave', 'member'],
      ['lead', 'project-admin'],
    ]);
    await lead.expect(200, 'PUT', `/v1/projects/${project}/members/${dave.userId}`, { json: { role: 'project-admin' } });
    await lead.expect(204, 'DELETE', `/v1/projects/${project}/members/${dave.userId}`);
    assertProblem(await dave.get(`/v1/projects/${project}`), 404, 'not_found');
    assertProblem(await lead.delete(`/v1/projects/${project}/members/${dave.userId}`), 404, 'not_found');
    assertProblem(await lead.put(`/v1/projects/${project}/members/00000000-0000-4000-8000-000000000000`, { role: 'member' }), 404, 'not_found');
    assertProblem(await lead.put(`/v1/projects/${project}/members/${dave.userId}`, { role: 'owner' }), 400, 'validation');
  });

  it('refuses to delete a project that still holds resources', async () => {
    const project = await createProject(t.admin, 'gamma');
    const template = await t.admin.expect(201, 'POST', `/v1/projects/${project}/templates`, { json: { name: 'line', template: DEFAULT_TEMPLATE } });
    const p = assertProblem(await t.admin.delete(`/v1/projects/${project}`), 409, 'project_not_empty');
    assert.match(String(p.detail), /1 templates/);
    await t.admin.expect(204, 'DELETE', `/v1/projects/${project}/templates/${str(template, 'id')}`);
    await t.admin.expect(204, 'DELETE', `/v1/projects/${project}`);
  });

  it('deleting a user removes their memberships', async () => {
    const project = await createProject(t.admin, 'delta');
    const erin = await memberOf(t.admin, project, 'erin');
    await t.admin.expect(204, 'DELETE', `/v1/users/${erin.userId}`);
    const members = items(await t.admin.expect(200, 'GET', `/v1/projects/${project}/members`));
    assert.deepEqual(members, []);
  });
});
