/**
 * Clusters: networks created from a stored template (or template text) and a seed. They
 * live in the task runtime; the record keeps the template, the backend setting, the mode
 * and a pointer to the latest saved state. `mode: direct` hands the cluster to direct I/O
 * (Socket.IO), during which tasks are refused. With several service instances, changing or
 * deleting a cluster needs it not to be hosted by another live instance (409
 * `cluster_hosted_elsewhere`, naming it): the change runs where the cluster is. The rules
 * for changes (modes, busy clusters, what a delete takes along) are the runtime's
 * (server/tasks/cluster-service.ts); these routes read and translate.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { ClusterRecord } from '../../store/types.js';
import type { ClusterActivity } from '../../tasks/queries.js';
import { pageOf } from '../paging.js';
import { checkCountQuota } from '../quotas.js';
import { badRequest } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, StringEnum, Timestamp, Uuid } from '../schemas.js';
import type { Services } from '../services.js';
import { TemplateSummary, TemplateText, templateSummary } from './templates.js';

export const BackendSetting = StringEnum(['auto', 'cpu', 'webgpu'], {
  description: "`auto` runs on the host's primary backend; `cpu` or `webgpu` pin the cluster to one.",
});
const Mode = StringEnum(['tasks', 'direct'], { description: '`tasks`: driven by tasks; `direct`: attached to direct I/O (tasks refused).' });
export const Stats = Type.Record(Type.String(), Type.Number(), { description: 'Network statistics: neurons, synapses, sections, bytes, samplesTrained, ...' });

export const ClusterView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    name: StoredName,
    seed: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    backend: BackendSetting,
    mode: Mode,
    template: Type.String({ description: 'The template the cluster was created from (canonical text).' }),
    interfaces: TemplateSummary,
    stats: Stats,
    queuedTasks: Type.Integer({ minimum: 0 }),
    runningTaskId: Type.Union([Uuid, Type.Null()]),
    hostedBy: Type.Union([Type.String(), Type.Null()], {
      description: 'The service instance (HANAMI_INSTANCE_ID) that holds the cluster in its memory now (its lease is running), or null.',
    }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'Cluster' },
);
const ClusterPage = PageOf(ClusterView, 'ClusterPage');
export const ClusterParams = Closed({ projectId: Uuid, clusterId: Uuid });

/** The views of several clusters (one store query for their tasks). */
export async function clusterViews(services: Services, records: ClusterRecord[]): Promise<Static<typeof ClusterView>[]> {
  const activity = await services.runtime.clusterActivity(records);
  return records.map((r) => view(services, r, activity.get(r.id) ?? { queued: 0, runningTaskId: null }));
}

export async function clusterView(services: Services, r: ClusterRecord): Promise<Static<typeof ClusterView>> {
  return (await clusterViews(services, [r]))[0]!;
}

function view(services: Services, r: ClusterRecord, activity: ClusterActivity): Static<typeof ClusterView> {
  const hosted = r.owner !== null && r.leaseUntil !== null && Date.parse(r.leaseUntil) > Date.now();
  return {
    id: r.id,
    projectId: r.projectId,
    name: r.name,
    seed: r.seed,
    backend: r.backend,
    mode: r.mode,
    template: r.templateText,
    interfaces: templateSummary(r.templateText),
    // The state in memory is newer than the record while direct I/O trains it.
    stats: services.runtime.liveStats(r.id) ?? r.stats,
    queuedTasks: activity.queued,
    runningTaskId: activity.runningTaskId,
    hostedBy: hosted ? r.owner : null,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    createdBy: r.createdBy,
  };
}

const CreateCluster = Closed(
  {
    name: Name,
    templateId: Type.Optional(Uuid),
    template: Type.Optional(TemplateText),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1, description: "Seeds the network's random choices: same template, seed and data give the same network." })),
    backend: Type.Optional(BackendSetting),
  },
  { description: 'Give exactly one of `templateId` (a stored template) and `template` (template text).' },
);

export const clusterRoutes = [
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters',
    operationId: 'listClusters',
    summary: 'List the clusters of a project',
    tag: 'clusters',
    access: 'project',
    params: ProjectParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of clusters.', schema: ClusterPage } },
    async handler({ params, query, services }) {
      const page = await services.store.clusters.list(params.projectId, pageOf(query));
      return json(200, ClusterPage, { ...page, items: await clusterViews(services, page.items) });
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/clusters',
    operationId: 'createCluster',
    summary: 'Create a cluster from a template',
    tag: 'clusters',
    access: 'project',
    params: ProjectParams,
    body: CreateCluster,
    responses: { 201: { description: 'Created (empty: it grows while it learns).', schema: ClusterView } },
    async handler({ params, body, principal, services }) {
      if ((body.templateId === undefined) === (body.template === undefined)) {
        throw badRequest('template_choice', 'give exactly one of templateId (a stored template) and template (template text)', { field: '/body/templateId' });
      }
      await checkCountQuota(services, params.projectId, 'clusters');
      // Template text is parsed off the event loop within the template limits (as POST …/templates).
      const text = body.templateId !== undefined ? (await services.store.templates.get(params.projectId, body.templateId)).text : (await services.templateParser.parse(body.template ?? '')).canonical;
      const backend = body.backend ?? 'auto';
      await services.backends.get(backend);
      const now = new Date().toISOString();
      const record = await services.store.clusters.create({
        id: randomUUID(),
        projectId: params.projectId,
        name: body.name,
        templateText: text,
        seed: body.seed ?? 1,
        backend,
        mode: 'tasks',
        stateBlobId: null,
        stats: {},
        owner: null,
        leaseUntil: null,
        createdAt: now,
        updatedAt: now,
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, ClusterView, await clusterView(services, record));
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/clusters/{clusterId}',
    operationId: 'getCluster',
    summary: 'Show a cluster with its statistics and queue',
    tag: 'clusters',
    access: 'project',
    params: ClusterParams,
    responses: { 200: { description: 'The cluster.', schema: ClusterView } },
    async handler({ params, services }) {
      return json(200, ClusterView, await clusterView(services, await services.store.clusters.get(params.projectId, params.clusterId)));
    },
  }),
  route({
    method: 'patch',
    path: '/v1/projects/{projectId}/clusters/{clusterId}',
    operationId: 'updateCluster',
    summary: 'Rename a cluster, switch its backend (host) or its mode',
    description:
      'A backend switch applies from the next task. Switching to `direct` needs an idle cluster (409 otherwise) and releases it here, so the instance serving direct I/O can take it; switching back to `tasks` saves what direct I/O taught it. 409 `cluster_hosted_elsewhere` when another service instance hosts the cluster.',
    tag: 'clusters',
    access: 'project',
    params: ClusterParams,
    body: Closed({ name: Type.Optional(Name), backend: Type.Optional(BackendSetting), mode: Type.Optional(Mode) }),
    responses: {
      200: { description: 'The changed cluster.', schema: ClusterView },
      409: {
        description:
          '`cluster_busy` (switching a cluster with tasks to direct mode), `cluster_hosted_elsewhere` (another instance hosts it: `owner`, `leaseUntil`), `duplicate`, `backend_unavailable`.',
        problem: true,
      },
    },
    async handler({ params, body, services }) {
      const updated = await services.runtime.clusters.update(params.projectId, params.clusterId, body);
      return json(200, ClusterView, await clusterView(services, updated));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/clusters/{clusterId}',
    operationId: 'deleteCluster',
    summary: 'Delete a cluster with its tasks and results (checkpoints stay)',
    tag: 'clusters',
    access: 'project',
    params: ClusterParams,
    responses: {
      204: { description: 'Deleted.' },
      409: { description: '`cluster_busy` (queued or running tasks), `cluster_direct`, `cluster_hosted_elsewhere` (another instance hosts it: `owner`, `leaseUntil`).', problem: true },
    },
    async handler({ params, services }) {
      await services.runtime.clusters.delete(params.projectId, params.clusterId);
      return noContent();
    },
  }),
];
