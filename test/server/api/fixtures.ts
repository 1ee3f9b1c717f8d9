/**
 * A project populated with one of every resource (template, ready datasets, a trained
 * cluster, a finished request task with results, a checkpoint), plus valid sample inputs for
 * every operation of the route table. The tenancy walk and the fuzz test use them to reach
 * every route with requests that pass validation.
 */
import assert from 'node:assert/strict';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import type { AnyRoute } from '../../../server/api/route.js';
import { createProject, str, type Client } from './helpers.js';
import { createCluster, createDataset, runTask } from './workflow.js';

export interface PopulatedProject {
  projectId: string;
  templateId: string;
  datasetId: string;
  clusterId: string;
  trainTaskId: string;
  requestTaskId: string;
  checkpointId: string;
  /** Names that must never show up in another tenant's responses. */
  secrets: string[];
}

/** A tiny labelled CSV: two inputs, two classes. */
export function tinyCsv(rows = 40): string {
  const lines = ['a,b,label'];
  for (let i = 0; i < rows; i++) lines.push(`${i % 7},${(i * 3) % 5},${i % 2 === 0 ? 'even' : 'odd'}`);
  return `${lines.join('\n')}\n`;
}

export async function uploadCsv(client: Client, projectId: string, datasetId: string, text: string): Promise<Record<string, unknown>> {
  return client.expect(200, 'PUT', `/v1/projects/${projectId}/datasets/${datasetId}/content/csv`, { body: text, headers: { 'content-type': 'text/csv' } });
}

export async function populateProject(admin: Client, owner: Client, tag: string, projectId?: string): Promise<PopulatedProject> {
  const project = projectId ?? (await createProject(admin, `project-${tag}`));
  const secret = (kind: string): string => `${kind}-${tag}-secret`;
  const templateId = str(await owner.expect(201, 'POST', `/v1/projects/${project}/templates`, { json: { name: secret('template'), template: DEFAULT_TEMPLATE } }), 'id');
  const datasetId = await createDataset(owner, project, { name: secret('dataset'), format: 'csv', labelColumn: 'label' });
  assert.equal((await uploadCsv(owner, project, datasetId, tinyCsv())).status, 'ready');
  const clusterId = await createCluster(owner, project, { name: secret('cluster'), templateId });
  const train = await runTask(owner, project, clusterId, { kind: 'train', name: secret('train'), datasetId });
  const request = await runTask(owner, project, clusterId, { kind: 'request', name: secret('request'), datasetId });
  const checkpointId = str(await owner.expect(201, 'POST', `/v1/projects/${project}/checkpoints`, { json: { clusterId, name: secret('checkpoint') } }), 'id');
  return {
    projectId: project,
    templateId,
    datasetId,
    clusterId,
    trainTaskId: str(train.task, 'id'),
    requestTaskId: str(request.task, 'id'),
    checkpointId,
    secrets: [secret('template'), secret('dataset'), secret('cluster'), secret('train'), secret('request'), secret('checkpoint'), templateId, datasetId, clusterId, checkpointId],
  };
}

export interface Sample {
  json?: unknown;
  raw?: { body: string; contentType: string };
  query?: string;
}

/** Valid inputs per operation (ids filled in from `ids`); every route with a body must have one. */
export function samples(ids: { datasetId: string; clusterId: string; templateId: string; requestTaskId: string; userId: string }, unique: string): Record<string, Sample> {
  return {
    login: { json: { name: 'nobody', passphrase: 'nothing-at-all' } },
    createUser: { json: { name: `u-${unique}`, passphrase: 'a-long-passphrase' } },
    changeMyPassphrase: { json: { currentPassphrase: 'wrong-passphrase', passphrase: 'another-passphrase' } },
    updateUser: { json: { name: `renamed-${unique}` } },
    createProject: { json: { name: `p-${unique}` } },
    updateProject: { json: { description: `changed by ${unique}` } },
    setMember: { json: { role: 'member' } },
    createTemplate: { json: { name: `t-${unique}`, template: DEFAULT_TEMPLATE } },
    createDataset: { json: { name: `d-${unique}`, format: 'csv', labelColumn: 'label' } },
    uploadDatasetPart: { raw: { body: tinyCsv(4), contentType: 'text/csv' } },
    createCluster: { json: { name: `c-${unique}`, templateId: ids.templateId } },
    updateCluster: { json: { name: `c-renamed-${unique}` } },
    predict: { json: { inputs: [[3, 4]] } },
    createTask: { json: { kind: 'request', datasetId: ids.datasetId } },
    saveCheckpoint: { json: { clusterId: ids.clusterId, name: `k-${unique}` } },
    restoreCheckpoint: { json: { name: `restored-${unique}` } },
    checkDataset: { query: `taskId=${ids.requestTaskId}` },
    listAuditLog: { query: `userId=${ids.userId}` },
  };
}

/** The route's path with every `{name}` taken from `values` (`part` defaults to csv). */
export function fillPath(route: AnyRoute, values: Record<string, string>): string {
  return route.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = name === 'part' ? (values.part ?? 'csv') : values[name];
    assert.ok(value !== undefined, `no value for {${name}} in ${route.path}`);
    return value;
  });
}

export function sampleRequest(route: AnyRoute, sample: Sample | undefined): { path: string; options: { json?: unknown; body?: string; headers?: Record<string, string> } } {
  if ((route.body || route.upload) && !sample) throw new Error(`no sample input for ${route.operationId}: add one to test/server/api/fixtures.ts`);
  const options: { json?: unknown; body?: string; headers?: Record<string, string> } = {};
  if (sample?.json !== undefined) options.json = sample.json;
  if (sample?.raw) {
    options.body = sample.raw.body;
    options.headers = { 'content-type': sample.raw.contentType };
  }
  return { path: sample?.query ? `?${sample.query}` : '', options };
}
