/**
 * Tenancy, walked over every route of the route table:
 * 1. a project-admin of project B calls every project route of project A (with A's real
 *    ids and valid inputs): always 403/404, never A's data;
 * 2. the same user calls B's routes with A's resource ids in the path, body or query: the
 *    lookups are scoped by project, so always 4xx, never A's data;
 * 3. the user-level routes show them nothing of A;
 * and afterwards every resource of A is still there.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ROUTES } from '../../../server/api/routes.js';
import type { AnyRoute } from '../../../server/api/route.js';
import { assertProblem, createProject, memberOf, type Client, type Reply, type TestService, startTestService, storeVariants } from './helpers.js';
import { fillPath, populateProject, sampleRequest, samples, type PopulatedProject } from './fixtures.js';

/** A's names and ids in a response, except those the request itself sent (echoed in "X not found"). */
function leaks(r: Reply, a: PopulatedProject, sent: string): string[] {
  return a.secrets.filter((s) => r.text.includes(s) && !sent.includes(s));
}

function idsOf(p: PopulatedProject, extra: Record<string, string> = {}): Record<string, string> {
  return { projectId: p.projectId, templateId: p.templateId, datasetId: p.datasetId, clusterId: p.clusterId, taskId: p.requestTaskId, checkpointId: p.checkpointId, ...extra };
}

for (const variant of storeVariants()) {
  describe(`tenancy: every route as a user of another project (${variant.name} store)`, () => {
    let t: TestService;
    let a: PopulatedProject;
    let b: PopulatedProject;
    let outsider: Client;
    let insiderId: string;

    before(async () => {
      t = await startTestService(variant.config);
      const projectA = await createProject(t.admin, 'tenant-a');
      const projectB = await createProject(t.admin, 'tenant-b');
      const insider = await memberOf(t.admin, projectA, 'insider');
      insiderId = insider.userId;
      outsider = await memberOf(t.admin, projectB, 'outsider', 'project-admin');
      a = await populateProject(t.admin, insider, 'a', projectA);
      b = await populateProject(t.admin, outsider, 'b', projectB);
    });
    after(() => t.close());

    const projectRoutes = (): AnyRoute[] => ROUTES.filter((r) => r.access === 'project');

    it('refuses every project route of project A (403/404, no data)', async () => {
      const failures: string[] = [];
      const inputs = samples({ ...a, userId: insiderId }, 'walk1');
      for (const route of projectRoutes()) {
        const { path: query, options } = sampleRequest(route, inputs[route.operationId]);
        const path = fillPath(route, idsOf(a, { userId: insiderId })) + query;
        const r = await outsider.send(route.method.toUpperCase(), path, options);
        if (r.status !== 403 && r.status !== 404) failures.push(`${route.operationId}: ${r.status} ${r.text.slice(0, 200)}`);
        else assertProblem(r, r.status);
        const leaked = leaks(r, a, path + JSON.stringify(options));
        if (leaked.length > 0) failures.push(`${route.operationId} leaked ${leaked.join(', ')}`);
      }
      assert.deepEqual(failures, []);
    });

    it("scopes every lookup by project: A's ids under project B are not found", async () => {
      const failures: string[] = [];
      const inputs = samples({ ...a, userId: insiderId }, 'walk2');
      let walked = 0;
      for (const route of projectRoutes()) {
        const sample = inputs[route.operationId];
        const foreignInPath = /\{(templateId|datasetId|clusterId|taskId|checkpointId)\}/.test(route.path);
        const foreignInInput = JSON.stringify(sample ?? {}).includes(a.datasetId) || JSON.stringify(sample ?? {}).match(new RegExp(`${a.clusterId}|${a.templateId}|${a.requestTaskId}`)) !== null;
        if (!foreignInPath && !foreignInInput) continue;
        walked++;
        const { path: query, options } = sampleRequest(route, sample);
        const path = fillPath(route, idsOf(a, { projectId: b.projectId, userId: insiderId })) + query;
        const r = await outsider.send(route.method.toUpperCase(), path, options);
        if (r.status < 400 || r.status >= 500) failures.push(`${route.operationId} ${path}: ${r.status} ${r.text.slice(0, 200)}`);
        const leaked = leaks(r, a, path + JSON.stringify(options));
        if (leaked.length > 0) failures.push(`${route.operationId} leaked ${leaked.join(', ')}`);
      }
      assert.ok(walked >= 20, `walked ${walked} routes`);
      assert.deepEqual(failures, []);
    });

    it("refuses A's ids inside B's own resources", async () => {
      const B = `/v1/projects/${b.projectId}`;
      assertProblem(await outsider.get(`${B}/datasets/${b.datasetId}/check?taskId=${a.requestTaskId}`), 404, 'not_found');
      assertProblem(await outsider.get(`${B}/clusters/${b.clusterId}/tasks/${a.requestTaskId}`), 404, 'not_found');
      assertProblem(await outsider.get(`${B}/clusters/${b.clusterId}/tasks/${a.requestTaskId}/results`), 404, 'not_found');
      assertProblem(await outsider.post(`${B}/clusters`, { name: 'x', templateId: a.templateId }), 404, 'not_found');
      assertProblem(await outsider.post(`${B}/clusters/${b.clusterId}/tasks`, { kind: 'request', datasetId: a.datasetId }), 404, 'not_found');
      assertProblem(await outsider.post(`${B}/checkpoints`, { clusterId: a.clusterId, name: 'stolen' }), 404, 'not_found');
      assertProblem(await outsider.post(`${B}/checkpoints/${b.checkpointId}/restore`, { clusterId: a.clusterId }), 404, 'not_found');
      // B's tasks are not reachable through A's cluster id either.
      assertProblem(await outsider.get(`${B}/clusters/${a.clusterId}/tasks/${b.requestTaskId}`), 404, 'not_found');
    });

    it('shows nothing of A on the routes outside projects', async () => {
      const failures: string[] = [];
      const inputs = samples({ ...b, userId: insiderId }, 'walk3');
      for (const route of ROUTES.filter((r) => r.access === 'user')) {
        const { path: query, options } = sampleRequest(route, inputs[route.operationId]);
        const path = fillPath(route, { userId: insiderId }) + query;
        const r = await outsider.send(route.method.toUpperCase(), path, options);
        if (r.status >= 500) failures.push(`${route.operationId}: ${r.status}`);
        const leaked = [...leaks(r, a, path + JSON.stringify(options)), ...(r.text.includes(a.projectId) ? [a.projectId] : [])];
        if (leaked.length > 0) failures.push(`${route.operationId} leaked ${leaked.join(', ')}`);
      }
      assert.deepEqual(failures, []);
    });

    it("leaves A's resources intact", async () => {
      const insider = await memberOf(t.admin, a.projectId, 'insider-2');
      const A = `/v1/projects/${a.projectId}`;
      await insider.expect(200, 'GET', `${A}/templates/${a.templateId}`);
      const dataset = await insider.expect(200, 'GET', `${A}/datasets/${a.datasetId}`);
      assert.equal(dataset.status, 'ready');
      await insider.expect(200, 'GET', `${A}/clusters/${a.clusterId}`);
      await insider.expect(200, 'GET', `${A}/clusters/${a.clusterId}/tasks/${a.requestTaskId}/results`);
      await insider.expect(200, 'GET', `${A}/checkpoints/${a.checkpointId}`);
      const members = await insider.expect(200, 'GET', `${A}/members`);
      assert.equal(members.total, 2);
    });
  });
}
