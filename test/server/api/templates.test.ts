/**
 * Stored templates take their text as `template`, the name clusters use; `text` is its
 * deprecated alias (exactly one of the two), and responses carry `template`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { parseTemplate, templateToText } from '../../../server/network/template.js';
import { assertProblem, createProject, items, obj, str, type TestService, startTestService } from './helpers.js';
import { createCluster } from './workflow.js';

describe('stored templates', () => {
  let t: TestService;
  let project: string;
  let P: string;
  const canonical = templateToText(parseTemplate(DEFAULT_TEMPLATE));

  before(async () => {
    t = await startTestService();
    project = await createProject(t.admin, 'templates');
    P = `/v1/projects/${project}`;
  });
  after(() => t.close());

  it('take the text in `template`, like clusters, and answer with `template`', async () => {
    const stored = await t.admin.expect(201, 'POST', `${P}/templates`, { json: { name: 'line', template: DEFAULT_TEMPLATE } });
    assert.equal(stored.template, canonical);
    assert.equal(stored.text, undefined, 'no second copy under the old name');
    assert.deepEqual(obj(stored.summary).inputs, ['input']);
    assert.equal((await t.admin.expect(200, 'GET', `${P}/templates/${str(stored, 'id')}`)).template, canonical);
    assert.equal(items(await t.admin.expect(200, 'GET', `${P}/templates`))[0]?.template, canonical);
    const cluster = await createCluster(t.admin, project, { name: 'from stored', templateId: str(stored, 'id') });
    assert.equal((await t.admin.expect(200, 'GET', `${P}/clusters/${cluster}`)).template, canonical, 'the same field name on both');
  });

  it('still take the deprecated `text`', async () => {
    const stored = await t.admin.expect(201, 'POST', `${P}/templates`, { json: { name: 'old client', text: DEFAULT_TEMPLATE } });
    assert.equal(stored.template, canonical);
    const schema = obj(obj(obj(obj(obj(t.service.services.openapi.paths[`/v1/projects/{projectId}/templates`]?.post).requestBody).content)['application/json']).schema);
    assert.equal(obj(obj(schema.properties).text).deprecated, true, 'the document marks it deprecated');
  });

  it('want exactly one of `template` and `text`', async () => {
    const both = assertProblem(await t.admin.post(`${P}/templates`, { name: 'both', template: DEFAULT_TEMPLATE, text: DEFAULT_TEMPLATE }), 400, 'template_choice');
    assert.equal(both.field, '/body/template');
    assert.match(String(both.detail), /"template".*"text"/);
    assertProblem(await t.admin.post(`${P}/templates`, { name: 'neither' }), 400, 'template_choice');
  });
});
