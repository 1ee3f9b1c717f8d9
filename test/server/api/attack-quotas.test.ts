/**
 * Issue 13, finding 9: nothing bounded how much a member could create or store in a project.
 * Now per-project quotas limit datasets, templates and clusters (429 `quota_exceeded`) and
 * the stored bytes of dataset parts and checkpoints (413 `storage_quota_exceeded`), and
 * every such problem names the quota and the usage now.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { defaultConfig } from '../../../server/config.js';
import { assertProblem, createProject, memberOf, obj, startTestService, type Client, type TestService } from './helpers.js';
import { tinyCsv } from './fixtures.js';
import { createCluster, createDataset, runTask } from './workflow.js';

describe('attack: filling a project', () => {
  let t: TestService;
  let member: Client;
  let projectId: string;
  let P: string;

  before(async () => {
    t = await startTestService({ quotaTemplates: 2, quotaDatasets: 3, quotaClusters: 1, quotaBytes: 64 * 1024 });
    projectId = await createProject(t.admin, 'quotas');
    P = `/v1/projects/${projectId}`;
    member = await memberOf(t.admin, projectId, 'filler');
  });
  after(() => t.close());

  it('templates, datasets and clusters: 429 quota_exceeded naming the quota and the usage', async () => {
    for (let i = 0; i < 2; i++) await member.expect(201, 'POST', `${P}/templates`, { json: { name: `t${i}`, template: DEFAULT_TEMPLATE } });
    const p = assertProblem(await member.post(`${P}/templates`, { name: 't2', template: DEFAULT_TEMPLATE }), 429, 'quota_exceeded');
    assert.deepEqual(p.limit, { name: 'HANAMI_QUOTA_TEMPLATES', value: 2 });
    assert.equal(p.usage, 2);
    await createCluster(member, projectId, { name: 'c0', template: DEFAULT_TEMPLATE });
    const c = assertProblem(await member.post(`${P}/clusters`, { name: 'c1', template: DEFAULT_TEMPLATE }), 429, 'quota_exceeded');
    assert.deepEqual(c.limit, { name: 'HANAMI_QUOTA_CLUSTERS', value: 1 });
    assert.equal(c.usage, 1);
    for (let i = 0; i < 3; i++) await createDataset(member, projectId, { name: `d${i}`, format: 'csv', labelColumn: 'label' });
    const d = assertProblem(await member.post(`${P}/datasets`, { name: 'd3', format: 'csv' }), 429, 'quota_exceeded');
    assert.deepEqual(d.limit, { name: 'HANAMI_QUOTA_DATASETS', value: 3 });
    assert.equal(d.usage, 3);
    // Deleting one makes room again.
    const listed = obj((await member.get(`${P}/templates`)).body);
    await member.expect(204, 'DELETE', `${P}/templates/${String(obj((listed.items as unknown[])[0]).id)}`);
    await member.expect(201, 'POST', `${P}/templates`, { json: { name: 't2', template: DEFAULT_TEMPLATE } });
  });

  it('stored bytes: uploads stop at what the quota leaves (declared or streamed), checkpoints too; 413 with the usage', async () => {
    const datasets = (obj((await member.get(`${P}/datasets`)).body).items as Record<string, unknown>[]).map((x) => String(x.id));
    const first = tinyCsv(4000); // ~34 KiB of the 64 KiB
    const ok = await member.send('PUT', `${P}/datasets/${datasets[0]}/content/csv`, { body: first, headers: { 'content-type': 'text/csv' } });
    assert.equal(ok.status, 200, ok.text.slice(0, 200));
    // Declared: refused before reading.
    const declared = assertProblem(
      await member.send('PUT', `${P}/datasets/${datasets[1]}/content/csv`, { body: tinyCsv(4000), headers: { 'content-type': 'text/csv' } }),
      413,
      'storage_quota_exceeded',
    );
    assert.deepEqual(declared.limit, { name: 'HANAMI_QUOTA_BYTES', value: 64 * 1024 });
    assert.equal(declared.usage, first.length);
    // Streamed (no length): cut where the quota ends.
    const body = Readable.from([Buffer.from(tinyCsv(4000))]);
    const streamed = assertProblem(await member.send('PUT', `${P}/datasets/${datasets[1]}/content/csv`, { body, headers: { 'content-type': 'text/csv' } }), 413, 'storage_quota_exceeded');
    assert.equal(streamed.usage, first.length);
    const record = obj((await member.get(`${P}/datasets/${datasets[1]}`)).body);
    assert.equal(record.status, 'failed');
    assert.match(String(record.error), /storage quota/);
    assert.deepEqual(record.parts, []);
  });

  it('a checkpoint that would not fit is refused before it is stored', async () => {
    const csv = tinyCsv(1200);
    const tight = await startTestService({ quotaBytes: csv.length + 100 });
    try {
      const project = await createProject(tight.admin, 'tight');
      const dataset = await createDataset(tight.admin, project, { name: 'd', format: 'csv', labelColumn: 'label' });
      await tight.admin.expect(200, 'PUT', `/v1/projects/${project}/datasets/${dataset}/content/csv`, { body: csv, headers: { 'content-type': 'text/csv' } });
      const cluster = await createCluster(tight.admin, project, { name: 'c', template: DEFAULT_TEMPLATE });
      await runTask(tight.admin, project, cluster, { kind: 'train', datasetId: dataset });
      const k = assertProblem(await tight.admin.post(`/v1/projects/${project}/checkpoints`, { clusterId: cluster, name: 'k' }), 413, 'storage_quota_exceeded');
      assert.equal(k.usage, csv.length);
      assert.match(String(k.detail), /a checkpoint of \d+ bytes would take the project over its storage quota/);
      assert.deepEqual((obj((await tight.admin.get(`/v1/projects/${project}/checkpoints`)).body).items as unknown[]).length, 0);
    } finally {
      await tight.close();
    }
  });

  it('defaults are generous and documented', () => {
    const c = defaultConfig();
    assert.deepEqual([c.quotaDatasets, c.quotaTemplates, c.quotaClusters, c.quotaBytes], [1000, 1000, 100, 10 * 1024 ** 3]);
  });
});
