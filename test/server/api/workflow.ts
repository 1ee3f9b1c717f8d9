/**
 * Building blocks of the workflow tests (acceptance, durability, MongoDB): upload a dataset
 * part, run a task to its end while watching its progress, fetch results.
 */
import assert from 'node:assert/strict';
import { createReadStream, statSync } from 'node:fs';
import { type Client, items, num, obj, str, waitFor } from './helpers.js';

export async function createDataset(client: Client, projectId: string, body: Record<string, unknown>): Promise<string> {
  return str(await client.expect(201, 'POST', `/v1/projects/${projectId}/datasets`, { json: body }), 'id');
}

/** Streams a file as the raw body of a part upload. */
export async function uploadFile(client: Client, projectId: string, datasetId: string, part: string, path: string, contentType = 'application/octet-stream'): Promise<Record<string, unknown>> {
  return client.expect(200, 'PUT', `/v1/projects/${projectId}/datasets/${datasetId}/content/${part}`, {
    body: createReadStream(path),
    headers: { 'content-type': contentType, 'content-length': String(statSync(path).size) },
  });
}

/** An IDX dataset from an images file and (optionally) its labels file. */
export async function uploadIdx(client: Client, projectId: string, name: string, images: string, labels?: string): Promise<string> {
  const id = await createDataset(client, projectId, { name, format: 'idx' });
  await uploadFile(client, projectId, id, 'images', images);
  if (labels) {
    const ready = await uploadFile(client, projectId, id, 'labels', labels);
    assert.equal(ready.status, 'ready');
  }
  return id;
}

export interface FinishedTask {
  task: Record<string, unknown>;
  /** Progress values seen while polling (done counts). */
  progressSeen: number[];
  statesSeen: string[];
}

/** Submits a task and polls it until it ends; the task must finish. */
export async function runTask(client: Client, projectId: string, clusterId: string, body: Record<string, unknown>): Promise<FinishedTask> {
  const created = await client.expect(202, 'POST', `/v1/projects/${projectId}/clusters/${clusterId}/tasks`, { json: body });
  assert.equal(created.state, 'queued');
  const taskId = str(created, 'id');
  const progressSeen: number[] = [];
  const statesSeen: string[] = [];
  const task = await waitFor(
    () => client.expect(200, 'GET', `/v1/projects/${projectId}/clusters/${clusterId}/tasks/${taskId}`),
    (t) => {
      progressSeen.push(num(obj(t.progress), 'done'));
      statesSeen.push(str(t, 'state'));
      return ['finished', 'failed', 'cancelled'].includes(str(t, 'state'));
    },
    `task ${taskId}`,
    120_000,
    20,
  );
  assert.equal(task.state, 'finished', `task ended ${String(task.state)}: ${String(task.error)}`);
  return { task, progressSeen, statesSeen };
}

export async function jsonResults(client: Client, projectId: string, clusterId: string, taskId: string): Promise<Record<string, unknown>> {
  return client.expect(200, 'GET', `/v1/projects/${projectId}/clusters/${clusterId}/tasks/${taskId}/results?format=json`);
}

export async function createCluster(client: Client, projectId: string, body: Record<string, unknown>): Promise<string> {
  return str(await client.expect(201, 'POST', `/v1/projects/${projectId}/clusters`, { json: body }), 'id');
}

export async function listItems(client: Client, path: string): Promise<Record<string, unknown>[]> {
  return items(await client.expect(200, 'GET', path));
}
