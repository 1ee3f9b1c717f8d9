/**
 * Clusters: networks created from a stored template (or template text) and a seed. They
 * live in the task runtime; the record keeps the template, the backend setting, the mode
 * and a pointer to the latest saved state. `mode: direct` hands the cluster to direct I/O
 * (Socket.IO), during which tasks are refused.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { parseTemplate, templateToText } from '../../network/template.js';
import type { ClusterRecord } from '../../store/types.js';
import { dropBlob } from '../cleanup.js';
import { readAll, mapPage, pageOf } from '../paging.js';
import { badRequest, conflict } from '../problem.js';
import { json, noContent, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, Timestamp, Uuid } from '../schemas.js';
import type { Services } from '../services.js';
import { TemplateSummary, TemplateText, templateSummary } from './templates.js';

export const BackendSetting = Type.Union([Type.Literal('auto'), Type.Literal('cpu'), Type.Literal('webgpu')], {
  description: '`auto` runs on the host\'s primary backend; `cpu` or `webgpu` pin the cluster to one.',
});
const Mode = Type.Union([Type.Literal('tasks'), Type.Literal('direct')], { description: '`tasks`: driven by tasks; `direct`: attached to direct I/O (tasks refused).' });
export const Stats = Type.Record(Type.String(), Type.Number(), { description: 'Network statistics: neurons, synapses, sections, bytes, samplesTrained, ...' });

export const ClusterView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    name: Name,
    seed: Type.Integer({ minimum: 0, maximum: 4294967295 }),
    backend: BackendSetting,
    mode: Mode,
    template: Type.String({ description: 'The template the cluster was created from (canonical text).' }),
    interfaces: TemplateSummary,
    stats: Stats,
    queuedTasks: Type.Integer({ minimum: 0 }),
    runningTaskId: Type.Union([Uuid, Type.Null()]),
    createdAt: Timestamp,
    updatedAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'Cluster' },
);
const ClusterPage = PageOf(ClusterView, 'ClusterPage');
export const ClusterParams = Closed({ projectId: Uuid, clusterId: Uuid });

export function clusterView(services: Services, r: ClusterRecord): Static<typeof ClusterView> {
  const activity = services.runtime.activity(r.id);
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
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295, default: 1, description: 'Seeds the network\'s random choices: same template, seed and data give the same network.' })),
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
      return json(200, ClusterPage, mapPage(await services.store.clusters.list(params.projectId, pageOf(query)), (r) => clusterView(services, r)));
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
      const text = body.templateId !== undefined ? (await services.store.templates.get(params.projectId, body.templateId)).text : templateToText(parseTemplate(body.template ?? ''));
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
        createdAt: now,
        updatedAt: now,
        createdBy: requirePrincipal(principal).name,
      });
      return json(201, ClusterView, clusterView(services, record));
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
      return json(200, ClusterView, clusterView(services, await services.store.clusters.get(params.projectId, params.clusterId)));
    },
  }),
  route({
    method: 'patch',
    path: '/v1/projects/{projectId}/clusters/{clusterId}',
    operationId: 'updateCluster',
    summary: 'Rename a cluster, switch its backend (host) or its mode',
    description:
      'A backend switch applies from the next task. Switching to `direct` needs an idle cluster (409 otherwise); switching back to `tasks` saves what direct I/O taught it.',
    tag: 'clusters',
    access: 'project',
    params: ClusterParams,
    body: Closed({ name: Type.Optional(Name), backend: Type.Optional(BackendSetting), mode: Type.Optional(Mode) }),
    responses: { 200: { description: 'The changed cluster.', schema: ClusterView } },
    async handler({ params, body, services }) {
      const record = await services.store.clusters.get(params.projectId, params.clusterId);
      const patch: Partial<Omit<ClusterRecord, 'id' | 'projectId'>> = {};
      if (body.name !== undefined) patch.name = body.name;
      if (body.backend !== undefined) {
        await services.backends.get(body.backend);
        patch.backend = body.backend;
      }
      if (body.mode === 'direct' && record.mode !== 'direct') {
        if (services.runtime.isClusterBusy(record.id)) throw conflict('cluster_busy', `cluster ${record.id} has queued or running tasks; wait for them or cancel them before switching to direct mode`);
        patch.mode = 'direct';
      }
      if (body.mode === 'tasks' && record.mode !== 'tasks') {
        await services.runtime.saveCluster(record.projectId, record.id);
        patch.mode = 'tasks';
      }
      patch.updatedAt = new Date().toISOString();
      return json(200, ClusterView, clusterView(services, await services.store.clusters.update(params.projectId, params.clusterId, patch)));
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
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      const { store, runtime } = services;
      const record = await store.clusters.get(params.projectId, params.clusterId);
      if (runtime.isClusterBusy(record.id)) throw conflict('cluster_busy', `cluster ${record.id} has queued or running tasks; cancel them first`);
      if (record.mode === 'direct') throw conflict('cluster_direct', `cluster ${record.id} is in direct mode; switch it back to tasks first`);
      const tasks = await readAll((page) => store.tasks.listByCluster(record.projectId, record.id, page));
      for (const task of tasks) {
        if (task.resultBlobId) await dropBlob(services, task.resultBlobId);
        await store.tasks.delete(record.projectId, task.id);
      }
      await store.clusters.delete(record.projectId, record.id);
      if (record.stateBlobId) await dropBlob(services, record.stateBlobId);
      runtime.forget(record.id);
      return noContent();
    },
  }),
];
