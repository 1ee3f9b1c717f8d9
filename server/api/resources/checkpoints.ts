/**
 * Checkpoints: saved cluster states. Saving copies the cluster's latest saved state, which
 * is its state after its last finished task (a running task's partial learning is not in
 * it), so saving never waits for or disturbs running work. A checkpoint restores into a new
 * cluster or replaces the state of an idle existing one, and downloads as the checkpoint
 * file the CLI reads (`hanami test --checkpoint`).
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { CheckpointRecord } from '../../store/types.js';
import { HostedCluster } from '../../tasks/hosted-cluster.js';
import { dropBlob } from '../cleanup.js';
import { mapPage, pageOf } from '../paging.js';
import { badRequest } from '../problem.js';
import { storageLeft } from '../quotas.js';
import { json, noContent, raw, requirePrincipal, route } from '../route.js';
import { Closed, Name, PageOf, PageQuery, ProjectParams, StoredName, Timestamp, Uuid } from '../schemas.js';
import type { Services } from '../services.js';
import { clusterView, ClusterView, Stats } from './clusters.js';

const CheckpointView = Closed(
  {
    id: Uuid,
    projectId: Uuid,
    clusterId: Uuid,
    name: StoredName,
    bytes: Type.Integer({ minimum: 0 }),
    sha256: Type.String(),
    stats: Stats,
    createdAt: Timestamp,
    createdBy: Type.String(),
  },
  { title: 'Checkpoint' },
);
const CheckpointPage = PageOf(CheckpointView, 'CheckpointPage');
const CheckpointParams = Closed({ projectId: Uuid, checkpointId: Uuid });

function checkpointView(r: CheckpointRecord): Static<typeof CheckpointView> {
  return { id: r.id, projectId: r.projectId, clusterId: r.clusterId, name: r.name, bytes: r.bytes, sha256: r.sha256, stats: r.stats, createdAt: r.createdAt, createdBy: r.createdBy };
}

/** The bytes of a cluster's latest saved state (a fresh cluster's initial state if it has none). */
async function savedState(services: Services, projectId: string, clusterId: string): Promise<{ bytes: Buffer; stats: Record<string, number> }> {
  const cluster = await services.store.clusters.get(projectId, clusterId);
  if (cluster.stateBlobId) return { bytes: await services.store.blobs.read(cluster.stateBlobId), stats: cluster.stats };
  const fresh = HostedCluster.fresh(cluster.templateText, cluster.seed);
  return { bytes: fresh.checkpoint(cluster.name), stats: { ...fresh.cluster.stats() } };
}

const Restore = Closed(
  {
    clusterId: Type.Optional(Uuid),
    name: Type.Optional(Name),
  },
  { description: 'Give `clusterId` to replace the state of an existing (idle) cluster, or `name` to create a new cluster.' },
);

export const checkpointRoutes = [
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/checkpoints',
    operationId: 'listCheckpoints',
    summary: 'List the checkpoints of a project',
    tag: 'checkpoints',
    access: 'project',
    params: ProjectParams,
    query: Closed(PageQuery),
    responses: { 200: { description: 'A page of checkpoints.', schema: CheckpointPage } },
    async handler({ params, query, services }) {
      return json(200, CheckpointPage, mapPage(await services.store.checkpoints.list(params.projectId, pageOf(query)), checkpointView));
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/checkpoints',
    operationId: 'saveCheckpoint',
    summary: "Save a cluster's state as a checkpoint",
    description: "Saves the state after the cluster's last finished task.",
    tag: 'checkpoints',
    access: 'project',
    params: ProjectParams,
    body: Closed({ clusterId: Uuid, name: Name }),
    responses: { 201: { description: 'Saved.', schema: CheckpointView } },
    async handler({ params, body, principal, services }) {
      const { store } = services;
      const { bytes, stats } = await savedState(services, params.projectId, body.clusterId);
      await storageLeft(services, params.projectId, `a checkpoint of ${bytes.byteLength} bytes`, bytes.byteLength);
      const blob = await store.blobs.put(bytes);
      try {
        const record = await store.checkpoints.create({
          id: randomUUID(),
          projectId: params.projectId,
          clusterId: body.clusterId,
          name: body.name,
          blobId: blob.id,
          bytes: blob.bytes,
          sha256: blob.sha256,
          stats,
          createdAt: new Date().toISOString(),
          createdBy: requirePrincipal(principal).name,
        });
        return json(201, CheckpointView, checkpointView(record));
      } catch (error) {
        await dropBlob(services, blob.id);
        throw error;
      }
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/checkpoints/{checkpointId}',
    operationId: 'getCheckpoint',
    summary: 'Show a checkpoint',
    tag: 'checkpoints',
    access: 'project',
    params: CheckpointParams,
    responses: { 200: { description: 'The checkpoint.', schema: CheckpointView } },
    async handler({ params, services }) {
      return json(200, CheckpointView, checkpointView(await services.store.checkpoints.get(params.projectId, params.checkpointId)));
    },
  }),
  route({
    method: 'delete',
    path: '/v1/projects/{projectId}/checkpoints/{checkpointId}',
    operationId: 'deleteCheckpoint',
    summary: 'Delete a checkpoint',
    tag: 'checkpoints',
    access: 'project',
    params: CheckpointParams,
    responses: { 204: { description: 'Deleted.' } },
    async handler({ params, services }) {
      const record = await services.store.checkpoints.get(params.projectId, params.checkpointId);
      await services.store.checkpoints.delete(record.projectId, record.id);
      await dropBlob(services, record.blobId);
      return noContent();
    },
  }),
  route({
    method: 'get',
    path: '/v1/projects/{projectId}/checkpoints/{checkpointId}/content',
    operationId: 'downloadCheckpoint',
    summary: 'Download the checkpoint file',
    tag: 'checkpoints',
    access: 'project',
    params: CheckpointParams,
    responses: { 200: { description: 'The checkpoint file (`hanami test --checkpoint` reads it).', content: { 'application/octet-stream': Type.String({ format: 'binary' }) } } },
    async handler({ params, services }) {
      const record = await services.store.checkpoints.get(params.projectId, params.checkpointId);
      return raw(200, 'application/octet-stream', await services.store.blobs.open(record.blobId), {
        'Content-Length': String(record.bytes),
        'Content-Disposition': `attachment; filename="${record.name.replace(/[^A-Za-z0-9._-]+/g, '_')}.ckpt"`,
        'X-Content-SHA256': record.sha256,
      });
    },
  }),
  route({
    method: 'post',
    path: '/v1/projects/{projectId}/checkpoints/{checkpointId}/restore',
    operationId: 'restoreCheckpoint',
    summary: 'Restore a checkpoint into a new or an existing cluster',
    description:
      "Into an existing cluster: it must be idle (409 `cluster_busy` otherwise), not hosted by another service instance (409 `cluster_hosted_elsewhere`), and takes the checkpoint's template too.",
    tag: 'checkpoints',
    access: 'project',
    params: CheckpointParams,
    body: Restore,
    responses: {
      200: { description: 'Restored into the existing cluster.', schema: ClusterView },
      201: { description: 'Restored into a new cluster.', schema: ClusterView },
      409: { description: '`cluster_busy`, `cluster_direct`, `cluster_hosted_elsewhere` (another instance hosts the target cluster: `owner`, `leaseUntil`), `duplicate`.', problem: true },
    },
    async handler({ params, body, principal, services }) {
      const { store } = services;
      if ((body.clusterId === undefined) === (body.name === undefined)) {
        throw badRequest('restore_target', 'give exactly one of clusterId (an existing cluster) and name (a new cluster)', { field: '/body/clusterId' });
      }
      const checkpoint = await store.checkpoints.get(params.projectId, params.checkpointId);
      const bytes = await store.blobs.read(checkpoint.blobId);
      const hosted = HostedCluster.fromCheckpoint(bytes);
      if (body.clusterId !== undefined) {
        const target = await store.clusters.get(params.projectId, body.clusterId);
        return json(200, ClusterView, await clusterView(services, await services.runtime.clusters.restore(target, bytes)));
      }
      const blob = await store.blobs.put(bytes);
      const now = new Date().toISOString();
      try {
        const record = await store.clusters.create({
          id: randomUUID(),
          projectId: params.projectId,
          name: body.name ?? checkpoint.name,
          templateText: hosted.cluster.templateText,
          seed: hosted.cluster.state.seed,
          backend: 'auto',
          mode: 'tasks',
          stateBlobId: blob.id,
          stats: { ...hosted.cluster.stats() },
          owner: null,
          leaseUntil: null,
          createdAt: now,
          updatedAt: now,
          createdBy: requirePrincipal(principal).name,
        });
        return json(201, ClusterView, await clusterView(services, record));
      } catch (error) {
        await dropBlob(services, blob.id);
        throw error;
      }
    },
  }),
];
