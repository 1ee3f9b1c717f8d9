/**
 * Issue 13, finding 6: /metrics was public on the API's port and showed project and cluster
 * ids and per-route traffic to anyone. Now, by default, the API's port does not serve it;
 * HANAMI_METRICS_TOKEN opens it there for a bearer of that token, and HANAMI_METRICS_PORT
 * serves it on a listener of its own (the Helm chart's ServiceMonitor and the Ansible role
 * scrape that one).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { ConfigError, loadConfig } from '../../../server/config.js';
import { assertProblem, createProject, request, startTestService, type TestService } from './helpers.js';
import { createCluster } from './workflow.js';

async function withProject(t: TestService): Promise<string> {
  const project = await createProject(t.admin, 'metrics-secret');
  await createCluster(t.admin, project, { name: 'c', template: DEFAULT_TEMPLATE });
  return project;
}

describe('attack: metrics on the public port', () => {
  it('by default the API port does not serve /metrics, to anyone', async () => {
    const t = await startTestService();
    try {
      const project = await withProject(t);
      for (const r of [await request(t.url, 'GET', '/metrics'), await t.admin.get('/metrics')]) {
        assertProblem(r, 404, 'not_found');
        assert.ok(!r.text.includes(project), 'no project id');
        assert.ok(!r.text.includes('hanami_http_request_duration_seconds'), 'no traffic figures');
      }
      assert.equal(t.service.metricsUrl, undefined, 'no metrics listener unless configured');
    } finally {
      await t.close();
    }
  });

  it('HANAMI_METRICS_TOKEN: only a bearer of the token reads them on the API port', async () => {
    const token = 'scraper-token-0123456789';
    const t = await startTestService({ metricsToken: token });
    try {
      await withProject(t);
      assertProblem(await request(t.url, 'GET', '/metrics'), 401, 'unauthorized');
      assertProblem(await request(t.url, 'GET', '/metrics', { token: 'wrong-token-0123456789' }), 401, 'unauthorized');
      assertProblem(await t.admin.get('/metrics'), 401, 'unauthorized');
      const ok = await request(t.url, 'GET', '/metrics', { token });
      assert.equal(ok.status, 200);
      assert.match(ok.text, /hanami_http_request_duration_seconds_count/);
    } finally {
      await t.close();
    }
  });

  it('HANAMI_METRICS_PORT: a listener of their own, serving nothing else', async () => {
    const t = await startTestService({ metricsHost: '127.0.0.1', metricsPort: 0 });
    try {
      await withProject(t);
      const url = t.service.metricsUrl;
      assert.ok(url);
      const r = await fetch(url);
      assert.equal(r.status, 200);
      assert.match(await r.text(), /hanami_process_resident_memory_bytes \d+/);
      assert.equal((await fetch(url.replace('/metrics', '/v1/projects'))).status, 404);
      assertProblem(await request(t.url, 'GET', '/metrics'), 404, 'not_found');
    } finally {
      await t.close();
    }
    await assert.rejects(fetch(t.service.metricsUrl!), 'the listener stops with the service');
  });

  it('settings: port and token read and checked', () => {
    const c = loadConfig({ HANAMI_METRICS_PORT: '9464', HANAMI_METRICS_HOST: '0.0.0.0', HANAMI_METRICS_TOKEN: 'x'.repeat(16) });
    assert.equal(c.metricsPort, 9464);
    assert.equal(c.metricsHost, '0.0.0.0');
    assert.equal(loadConfig({}).metricsPort, undefined);
    assert.equal(loadConfig({}).metricsHost, '127.0.0.1');
    assert.throws(() => loadConfig({ HANAMI_METRICS_TOKEN: 'short' }), ConfigError);
  });
});
