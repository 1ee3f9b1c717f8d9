/**
 * The audit log (every change: who, what, when, with which outcome) and the error log
 * (internal errors and failed tasks). Admins read everything and filter by user or project;
 * other users read their own audit entries. Fixes the reference, whose user filter was
 * never applied.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { AuditEntry, ErrorEntry } from '../../store/types.js';
import { mapPage, pageOf } from '../paging.js';
import { forbidden } from '../problem.js';
import { json, requirePrincipal, route } from '../route.js';
import { Closed, PageOf, PageQuery, Timestamp, Uuid } from '../schemas.js';

const AuditView = Closed(
  {
    id: Uuid,
    time: Timestamp,
    userId: Type.Union([Uuid, Type.Null()]),
    projectId: Type.Union([Uuid, Type.Null()]),
    method: Type.String(),
    path: Type.String(),
    status: Type.Integer(),
    requestId: Type.String(),
  },
  { title: 'AuditEntry' },
);
const ErrorView = Closed(
  {
    id: Uuid,
    time: Timestamp,
    userId: Type.Union([Type.String(), Type.Null()]),
    projectId: Type.Union([Uuid, Type.Null()]),
    requestId: Type.Union([Type.String(), Type.Null()]),
    component: Type.String(),
    message: Type.String(),
    detail: Type.String(),
  },
  { title: 'ErrorEntry' },
);
const AuditPage = PageOf(AuditView, 'AuditPage');
const ErrorPage = PageOf(ErrorView, 'ErrorPage');

const LogQuery = Closed({
  userId: Type.Optional(Uuid),
  projectId: Type.Optional(Uuid),
  ...PageQuery,
});

function auditView(e: AuditEntry): Static<typeof AuditView> {
  return { id: e.id, time: e.time, userId: e.userId, projectId: e.projectId, method: e.method, path: e.path, status: e.status, requestId: e.requestId };
}

function errorView(e: ErrorEntry): Static<typeof ErrorView> {
  return { id: e.id, time: e.time, userId: e.userId, projectId: e.projectId, requestId: e.requestId, component: e.component, message: e.message, detail: e.detail };
}

function filterOf(query: { userId?: string | undefined; projectId?: string | undefined }): { userId?: string; projectId?: string } {
  const filter: { userId?: string; projectId?: string } = {};
  if (query.userId !== undefined) filter.userId = query.userId;
  if (query.projectId !== undefined) filter.projectId = query.projectId;
  return filter;
}

export const logRoutes = [
  route({
    method: 'get',
    path: '/v1/audit-log',
    operationId: 'listAuditLog',
    summary: 'Audit log, newest last (admins: everyone; others: their own entries)',
    tag: 'logs',
    access: 'user',
    query: LogQuery,
    responses: { 200: { description: 'A page of entries.', schema: AuditPage } },
    async handler({ query, principal, services }) {
      const me = requirePrincipal(principal);
      const filter = filterOf(query);
      if (!me.isAdmin) {
        if (filter.userId !== undefined && filter.userId !== me.userId) throw forbidden("only admins read other users' audit entries");
        filter.userId = me.userId;
      }
      return json(200, AuditPage, mapPage(await services.store.audit.list(filter, pageOf(query)), auditView));
    },
  }),
  route({
    method: 'get',
    path: '/v1/error-log',
    operationId: 'listErrorLog',
    summary: 'Error log: internal errors and failed tasks (admins)',
    tag: 'logs',
    access: 'user',
    query: LogQuery,
    responses: { 200: { description: 'A page of entries.', schema: ErrorPage } },
    async handler({ query, services }) {
      return json(200, ErrorPage, mapPage(await services.store.errors.list(filterOf(query), pageOf(query)), errorView));
    },
  }),
];
