/**
 * Users. Admins create, list, change and delete accounts; every user reads their own
 * account (with their projects) and changes their own passphrase. Changing a passphrase or
 * the admin flag bumps the token version, which revokes every older token of that user.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { hashPassphrase, verifyPassphrase } from '../../auth/passphrase.js';
import type { User } from '../../store/types.js';
import { mapPage, pageOf } from '../paging.js';
import { ApiError, conflict } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, PageOf, PageQuery, Passphrase, Timestamp, UserName, Uuid } from '../schemas.js';
import { RoleSchema } from './projects.js';
import type { Services } from '../services.js';

export const UserView = Closed(
  {
    id: Uuid,
    name: UserName,
    isAdmin: Type.Boolean(),
    createdAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'User' },
);

export function userView(user: User): Static<typeof UserView> {
  return { id: user.id, name: user.name, isAdmin: user.isAdmin, createdAt: user.createdAt, createdBy: user.createdBy };
}

const Me = Closed(
  {
    ...UserView.properties,
    memberships: Type.Array(Closed({ projectId: Uuid, projectName: Type.String(), role: RoleSchema })),
  },
  { title: 'Me' },
);

export const LoginResult = Closed(
  {
    token: Type.String({ description: 'Send as `Authorization: Bearer <token>`.' }),
    tokenType: Type.Literal('Bearer'),
    expiresAt: Timestamp,
    user: UserView,
  },
  { title: 'LoginResult' },
);

export function loginResult(services: Services, user: User): Static<typeof LoginResult> {
  const { token, expiresAt } = services.tokens.issue(user);
  return { token, tokenType: 'Bearer', expiresAt, user: userView(user) };
}

const UserParams = Closed({ userId: Uuid });
const CreateUser = Closed({ name: UserName, passphrase: Passphrase, isAdmin: Type.Optional(Type.Boolean({ default: false })) });
const UpdateUser = Closed({ name: Type.Optional(UserName), passphrase: Type.Optional(Passphrase), isAdmin: Type.Optional(Type.Boolean()) }, { description: 'Fields to change.' });
const UpdateMe = Closed({ currentPassphrase: Type.String({ minLength: 1, maxLength: 1024 }), passphrase: Passphrase });

/** The last admin cannot lose the flag or be deleted: nobody could manage the service then. */
async function ensureAnotherAdmin(services: Services, user: User): Promise<void> {
  if (user.isAdmin && (await services.store.users.countAdmins()) <= 1) throw conflict('last_admin', `${user.name} is the only admin; make another user admin first`);
}

export const userRoutes = [
  route({
    method: 'get',
    path: '/v1/users',
    operationId: 'listUsers',
    summary: 'List users (admins)',
    tag: 'users',
    access: 'user',
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of users.', schema: PageOf(UserView, 'UserPage') } },
    async handler({ query, services }) {
      return json(200, PageOf(UserView, 'UserPage'), mapPage(await services.store.users.list(pageOf(query)), userView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/users',
    operationId: 'createUser',
    summary: 'Create a user (admins)',
    tag: 'users',
    access: 'user',
    body: CreateUser,
    responses: { 201: { description: 'Created.', schema: UserView } },
    async handler({ body, principal, services }) {
      const user = await services.store.users.create({
        id: randomUUID(),
        name: body.name,
        isAdmin: body.isAdmin ?? false,
        passphraseHash: await hashPassphrase(body.passphrase),
        tokenVersion: 1,
        createdAt: new Date().toISOString(),
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, UserView, userView(user));
    },
  }),
  route({
    method: 'get',
    path: '/v1/users/me',
    operationId: 'getMe',
    summary: 'Your account and your projects',
    tag: 'users',
    access: 'user',
    responses: { 200: { description: 'You.', schema: Me } },
    async handler({ principal, services }) {
      const me = await services.store.users.get(requirePrincipal(principal).userId);
      const memberships = await services.store.memberships.listByUser(me.id);
      const projects = await Promise.all(memberships.map(async (m) => ({ projectId: m.projectId, projectName: (await services.store.projects.get(m.projectId)).name, role: m.role })));
      return json(200, Me, { ...userView(me), memberships: projects });
    },
  }),
  route({
    method: 'patch',
    path: '/v1/users/me',
    operationId: 'changeMyPassphrase',
    summary: 'Change your passphrase',
    description: 'Needs the current passphrase. Revokes every token issued before; the answer carries a new one.',
    tag: 'users',
    access: 'user',
    body: UpdateMe,
    responses: { 200: { description: 'Changed; a fresh token.', schema: LoginResult } },
    async handler({ body, principal, services }) {
      const me = await services.store.users.get(requirePrincipal(principal).userId);
      if (!(await verifyPassphrase(body.currentPassphrase, me.passphraseHash))) throw new ApiError('bad_credentials', 'the current passphrase is wrong', { field: '/body/currentPassphrase' }, 403);
      const updated = await services.store.users.update(me.id, { passphraseHash: await hashPassphrase(body.passphrase), tokenVersion: me.tokenVersion + 1 });
      return json(200, LoginResult, loginResult(services, updated));
    },
  }),
  route({
    method: 'get',
    path: '/v1/users/{userId}',
    operationId: 'getUser',
    summary: 'Show a user (admins)',
    tag: 'users',
    access: 'user',
    params: UserParams,
    responses: { 200: { description: 'The user.', schema: UserView } },
    async handler({ params, services }) {
      return json(200, UserView, userView(await services.store.users.get(params.userId)));
    },
  }),
  route({
    method: 'patch',
    path: '/v1/users/{userId}',
    operationId: 'updateUser',
    summary: 'Rename a user, set their passphrase or admin flag (admins)',
    description: "A new passphrase or a changed admin flag revokes the user's tokens.",
    tag: 'users',
    access: 'user',
    params: UserParams,
    body: UpdateUser,
    responses: { 200: { description: 'The changed user.', schema: UserView } },
    async handler({ params, body, services }) {
      const user = await services.store.users.get(params.userId);
      const patch: Partial<Omit<User, 'id'>> = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.passphrase !== undefined) patch.passphraseHash = await hashPassphrase(body.passphrase);
      if (body.isAdmin !== undefined && body.isAdmin !== user.isAdmin) {
        if (!body.isAdmin) await ensureAnotherAdmin(services, user);
        patch.isAdmin = body.isAdmin;
      }
      if (patch.passphraseHash !== undefined || patch.isAdmin !== undefined) patch.tokenVersion = user.tokenVersion + 1;
      return json(200, UserView, userView(await services.store.users.update(user.id, patch)));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/users/{userId}',
    operationId: 'deleteUser',
    summary: 'Delete a user and their memberships (admins)',
    tag: 'users',
    access: 'user',
    params: UserParams,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, principal, services }) {
      if (params.userId === requirePrincipal(principal).userId) throw conflict('delete_self', 'you cannot delete your own account');
      const user = await services.store.users.get(params.userId);
      await ensureAnotherAdmin(services, user);
      for (const m of await services.store.memberships.listByUser(user.id)) await services.store.memberships.remove(m.projectId, user.id);
      await services.store.users.delete(user.id);
      return noContent();
    },
  }),
];
