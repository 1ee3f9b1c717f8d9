/**
 * Projects (the tenants) and their members. Admins create and delete projects; members
 * read their project; project-admins rename it and manage its members. A project with
 * resources cannot be deleted (their blobs and running tasks would be orphaned): delete
 * them first.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { Membership, Project, Role } from '../../store/types.js';
import { mapPage, pageOf, readAll } from '../paging.js';
import { conflict, notFound } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, StringEnum, Timestamp, UserName, Uuid } from '../schemas.js';
import type { Services } from '../services.js';

const Description = Type.String({ maxLength: 2000 });

export const ProjectView = Closed({ id: Uuid, name: StoredName, description: Description, createdAt: Timestamp, createdBy: Type.String() }, { title: 'Project' });

function projectView(p: Project): Static<typeof ProjectView> {
  return { id: p.id, name: p.name, description: p.description, createdAt: p.createdAt, createdBy: p.createdBy };
}

export const RoleSchema = StringEnum(['project-admin', 'member'], { description: 'project-admin manages the project and its members; member uses its resources.' });

const MemberView = Closed({ projectId: Uuid, userId: Uuid, userName: UserName, role: RoleSchema, createdAt: Timestamp }, { title: 'Member' });
const MemberPage = PageOf(MemberView, 'MemberPage');
const MemberParams = Closed({ projectId: Uuid, userId: Uuid });

async function memberView(services: Services, m: Membership): Promise<Static<typeof MemberView>> {
  const user = await services.store.users.get(m.userId);
  return { projectId: m.projectId, userId: m.userId, userName: user.name, role: m.role, createdAt: m.createdAt };
}

/** Resource kinds a project may hold, for the delete check. */
async function resourceCounts(services: Services, projectId: string): Promise<string[]> {
  const { store } = services;
  const kinds = [
    ['templates', store.templates],
    ['datasets', store.datasets],
    ['clusters', store.clusters],
    ['checkpoints', store.checkpoints],
  ] as const;
  const held: string[] = [];
  for (const [kind, collection] of kinds) {
    const { total } = await collection.list(projectId, { limit: 1 });
    if (total > 0) held.push(`${total} ${kind}`);
  }
  return held;
}

export const projectRoutes = [
  route({
    method: 'get',
    path: '/v1/projects',
    operationId: 'listProjects',
    summary: 'List your projects (admins: all projects)',
    tag: 'projects',
    access: 'user',
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of projects.', schema: PageOf(ProjectView, 'ProjectPage') } },
    async handler({ query, principal, services }) {
      const me = requirePrincipal(principal);
      const page = me.isAdmin ? await services.store.projects.list(pageOf(query)) : await services.store.projects.listForUser(me.userId, pageOf(query));
      return json(200, PageOf(ProjectView, 'ProjectPage'), mapPage(page, projectView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects',
    operationId: 'createProject',
    summary: 'Create a project (admins)',
    tag: 'projects',
    access: 'user',
    body: Closed({ name: Name, description: Type.Optional(Description) }),
    responses: { 201: { description: 'Created.', schema: ProjectView } },
    async handler({ body, principal, services }) {
      const project = await services.store.projects.create({
        id: randomUUID(),
        name: body.name,
        description: body.description ?? '',
        createdAt: new Date().toISOString(),
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, ProjectView, projectView(project));
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}',
    operationId: 'getProject',
    summary: 'Show a project',
    tag: 'projects',
    access: 'project',
    params: ProjectParams,
    responses: { 200: { description: 'The project.', schema: ProjectView } },
    async handler({ params, services }) {
      return json(200, ProjectView, projectView(await services.store.projects.get(params.projectId)));
    },
  }),
  route({
    method: 'patch',
    path: '/v1/projects/{projectId}',
    operationId: 'updateProject',
    summary: 'Rename a project or change its description (project-admins)',
    tag: 'projects',
    access: 'project',
    params: ProjectParams,
    body: Closed({ name: Type.Optional(Name), description: Type.Optional(Description) }),
    responses: { 200: { description: 'The changed project.', schema: ProjectView } },
    async handler({ params, body, services }) {
      const patch: Partial<Omit<Project, 'id'>> = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.description !== undefined) patch.description = body.description;
      return json(200, ProjectView, projectView(await services.store.projects.update(params.projectId, patch)));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}',
    operationId: 'deleteProject',
    summary: 'Delete an empty project and its memberships (admins)',
    tag: 'projects',
    access: 'project',
    params: ProjectParams,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      const held = await resourceCounts(services, params.projectId);
      if (held.length > 0) throw conflict('project_not_empty', `project ${params.projectId} still holds ${held.join(', ')}; delete them first`);
      const members = await readAll((page) => services.store.memberships.listByProject(params.projectId, page));
      for (const m of members) await services.store.memberships.remove(params.projectId, m.userId);
      await services.store.projects.delete(params.projectId);
      return noContent();
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/members',
    operationId: 'listMembers',
    summary: 'List the members of a project',
    tag: 'members',
    access: 'project',
    params: ProjectParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of members.', schema: MemberPage } },
    async handler({ params, query, services }) {
      const page = await services.store.memberships.listByProject(params.projectId, pageOf(query));
      const items = await Promise.all(page.items.map((m) => memberView(services, m)));
      return json(200, MemberPage, { items, total: page.total, offset: page.offset, limit: page.limit });
    },
  }),
  route({
    method: 'put',
    path: '/v1/projects/{projectId}/members/{userId}',
    operationId: 'setMember',
    summary: 'Add a user to a project or change their role (project-admins)',
    tag: 'members',
    access: 'project',
    params: MemberParams,
    body: Closed({ role: RoleSchema }),
    responses: { 200: { description: 'The membership.', schema: MemberView } },
    async handler({ params, body, services }) {
      await services.store.users.get(params.userId);
      const existing = await services.store.memberships.get(params.projectId, params.userId);
      const role: Role = body.role;
      const membership = await services.store.memberships.set({ projectId: params.projectId, userId: params.userId, role, createdAt: existing?.createdAt ?? new Date().toISOString() });
      return json(200, MemberView, await memberView(services, membership));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/members/{userId}',
    operationId: 'removeMember',
    summary: 'Remove a user from a project (project-admins)',
    tag: 'members',
    access: 'project',
    params: MemberParams,
    responses: { 204: { description: 'Removed.' } },
    async handler({ params, services }) {
      if (!(await services.store.memberships.get(params.projectId, params.userId))) throw notFound('member', params.userId);
      await services.store.memberships.remove(params.projectId, params.userId);
      return noContent();
    },
  }),
];
