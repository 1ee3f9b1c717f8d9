/**
 * Issue 13, finding 11, end to end: a refused direct `train` on a fresh cluster (here
 * `classes-required`) used to leave it half-built (input sized, output not), and the next
 * `request` answered ok:true with empty outputs instead of `not-trained`.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { createProject, memberOf, startTestService, type TestService } from '../api/helpers.js';
import { createCluster } from '../api/workflow.js';

let svc: TestService;

before(async () => {
  svc = await startTestService();
});

after(async () => {
  await svc.close();
});

function raw(token: string): Promise<Socket> {
  const socket = connectSocket(`${svc.url}/v1/io`, { auth: { token }, transports: ['websocket'], reconnection: false });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

interface Ack {
  ok: boolean;
  error?: { code: string };
  outputs?: Buffer;
}

test('a refused first train leaves the cluster untrained: request answers not-trained, and a good train then works', async () => {
  const projectId = await createProject(svc.admin, 'half-built');
  const member = await memberOf(svc.admin, projectId, 'half-builder');
  const clusterId = await createCluster(member, projectId, { name: 'fresh', template: DEFAULT_TEMPLATE, seed: 3 });
  await member.expect(200, 'PATCH', `/v1/projects/${projectId}/clusters/${clusterId}`, { json: { mode: 'direct' } });
  const socket = await raw(member.token!);
  try {
    assert.equal(((await socket.emitWithAck('attach', { projectId, clusterId })) as Ack).ok, true);
    const input = Array.from({ length: 16 }, (_, i) => i);
    const refused = (await socket.emitWithAck('train', { input, label: 1 })) as Ack;
    assert.equal(refused.ok, false);
    assert.equal(refused.error?.code, 'classes-required');
    const asked = (await socket.emitWithAck('request', input)) as Ack;
    assert.equal(asked.ok, false, `request on a cluster that never learned answered ${JSON.stringify(asked)}`);
    assert.equal(asked.error?.code, 'not-trained');
    // The refusal did not fix a size either: the next train may use another input width.
    const wider = Array.from({ length: 20 }, (_, i) => i);
    const trained = (await socket.emitWithAck('train', { input: wider, label: 1, classes: 3 })) as Ack;
    assert.equal(trained.ok, true, JSON.stringify(trained));
    const answered = (await socket.emitWithAck('request', wider)) as Ack;
    assert.equal(answered.ok, true);
    assert.equal(answered.outputs?.byteLength, 3 * 4);
  } finally {
    socket.close();
  }
});
