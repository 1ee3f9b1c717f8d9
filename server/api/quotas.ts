/**
 * Per-project quotas (the project is the tenant; only admins create projects, so a member's
 * footprint is bounded by the quotas of the projects they are in):
 *
 * - counts: datasets (HANAMI_QUOTA_DATASETS), templates (HANAMI_QUOTA_TEMPLATES) and clusters
 *   (HANAMI_QUOTA_CLUSTERS), checked before a new one is created: 429 `quota_exceeded`;
 * - stored bytes (HANAMI_QUOTA_BYTES): dataset parts as uploaded plus checkpoints, checked
 *   before an upload starts (and against its declared length), enforced while it streams
 *   (the blob store's size cap is what is left), and before a checkpoint is stored: 413
 *   `storage_quota_exceeded`.
 *
 * Both problems name the quota (`limit`: the setting and its value) and the usage now
 * (`usage`). Checks and creations are not one transaction: two requests at the same moment
 * can both pass, overshooting a count by one; the stores have no multi-document transactions
 * (FerretDB) to do better, and the next creation is refused again.
 */
import { readAll } from './paging.js';
import { ApiError } from './problem.js';
import type { Services } from './services.js';

export type CountedKind = 'datasets' | 'templates' | 'clusters';

const COUNT_QUOTAS: Record<CountedKind, { setting: string; value: (s: Services) => number; singular: string }> = {
  datasets: { setting: 'HANAMI_QUOTA_DATASETS', value: (s) => s.config.quotaDatasets, singular: 'dataset' },
  templates: { setting: 'HANAMI_QUOTA_TEMPLATES', value: (s) => s.config.quotaTemplates, singular: 'template' },
  clusters: { setting: 'HANAMI_QUOTA_CLUSTERS', value: (s) => s.config.quotaClusters, singular: 'cluster' },
};

/** Refuses a new dataset, template or cluster when the project has its quota's worth. */
export async function checkCountQuota(services: Services, projectId: string, kind: CountedKind): Promise<void> {
  const quota = COUNT_QUOTAS[kind];
  const limit = quota.value(services);
  const { total } = await services.store[kind].list(projectId, { offset: 0, limit: 1 });
  if (total >= limit) {
    throw new ApiError('quota_exceeded', `the project has ${total} ${kind}, its quota (${quota.setting} ${limit}); delete one before creating another ${quota.singular}`, {
      limit: { name: quota.setting, value: limit },
      usage: total,
    });
  }
}

/** Bytes the project stores: its dataset parts as uploaded and its checkpoints. */
export async function storedBytes(services: Services, projectId: string): Promise<number> {
  const { store } = services;
  const datasets = await readAll((page) => store.datasets.list(projectId, page));
  const checkpoints = await readAll((page) => store.checkpoints.list(projectId, page));
  return datasets.reduce((sum, d) => sum + d.blobs.reduce((s, b) => s + b.bytes, 0), 0) + checkpoints.reduce((sum, c) => sum + c.bytes, 0);
}

export function storageQuotaExceeded(services: Services, usage: number, adding: string): ApiError {
  const limit = services.config.quotaBytes;
  return new ApiError('storage_quota_exceeded', `${adding} would take the project over its storage quota: ${usage} of ${limit} bytes are in use (HANAMI_QUOTA_BYTES)`, {
    limit: { name: 'HANAMI_QUOTA_BYTES', value: limit },
    usage,
  });
}

/** What the project may still store, or a 413 when that is nothing (or less than `bytes`). */
export async function storageLeft(services: Services, projectId: string, adding: string, bytes = 1): Promise<{ usage: number; left: number }> {
  const usage = await storedBytes(services, projectId);
  const left = services.config.quotaBytes - usage;
  if (left < bytes) throw storageQuotaExceeded(services, usage, adding);
  return { usage, left };
}
