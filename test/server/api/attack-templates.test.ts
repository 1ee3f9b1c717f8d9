/**
 * Issue 13, finding 1: one template froze the whole process. A 30×30×30 block with
 * max_connection_distance 16 (319 KiB, under the body limit) took 12 s on the event loop and
 * 600 MiB; /healthz waited as long. Lists re-parsed every stored template.
 *
 * - The work is bounded before it is done (422 `template_too_large` naming the limit and the
 *   estimate), for templates and for clusters made from template text.
 * - What is admitted is parsed in a worker thread with a time limit: /healthz answers within
 *   200 ms during a maximal template upload, and memory stays bounded.
 * - Lists read the summary stored at creation; older records get theirs once and keep it.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { blockTemplate } from '../../fixtures/templates.js';
import { duringWork, HEALTH_TARGET_MS, withinTries } from './watch.js';
import { assertProblem, createProject, items, obj, request, startTestService, str, waitFor, type Reply, type TestService } from './helpers.js';

const MiB = 1024 * 1024;

describe('attack: templates that freeze the process', () => {
  let t: TestService;
  let P: string;

  before(async () => {
    t = await startTestService();
    P = `/v1/projects/${await createProject(t.admin, 'templates')}`;
  });
  after(() => t.close());

  it("the probe's 30×30×30 block with distance 16 is refused at once, naming the limit and the estimate", async () => {
    const text = blockTemplate(30, 30, 30, 16);
    assert.ok(text.length < 1024 * 1024, 'under the body limit');
    const started = performance.now();
    const { result } = await duringWork(t.url, () => t.admin.post(`${P}/templates`, { name: 'bomb', template: text }));
    const p = assertProblem(result, 422, 'template_too_large');
    assert.deepEqual(p.limit, { name: 'HANAMI_TEMPLATE_MAX_HEXAGONS', value: 10_000 });
    assert.equal(p.estimate, 27_000);
    assert.match(String(p.detail), /27000 hexagons; at most 10000/);
    assert.ok(performance.now() - started < 3000, `refused quickly, took ${Math.round(performance.now() - started)} ms`);
    // The same text as a cluster's template: the same bound.
    assertProblem(await t.admin.post(`${P}/clusters`, { name: 'bomb', template: text }), 422, 'template_too_large');
  });

  it('a template under the hexagon limit whose topology would be too costly is refused by the work estimate', async () => {
    const p = assertProblem(await t.admin.post(`${P}/templates`, { name: 'dense', template: blockTemplate(12, 12, 12, 16) }), 422, 'template_too_large');
    assert.deepEqual(p.limit, { name: 'HANAMI_TEMPLATE_MAX_WORK', value: 2_000_000 });
    assert.ok(Number(p.estimate) > 2_000_000);
    assertProblem(await t.admin.post(`${P}/clusters`, { name: 'dense', template: blockTemplate(12, 12, 12, 16) }), 422, 'template_too_large');
  });

  it('a maximal admitted template is parsed off the event loop: /healthz within 200 ms, RSS under 512 MiB above idle', async () => {
    // 11×11×11 with distance 16: just under HANAMI_TEMPLATE_MAX_WORK (the most work admitted).
    const text = blockTemplate(11, 11, 11, 16);
    await withinTries(3, async (attempt) => {
      global.gc?.();
      const idle = process.memoryUsage().rss;
      const { result, slowestHealthMs, peakRss, polls } = await duringWork(t.url, async () => {
        const replies: Reply[] = [];
        for (let i = 0; i < 3; i++) replies.push(await t.admin.post(`${P}/templates`, { name: `max-${attempt}-${i}`, template: text }));
        replies.push(await t.admin.post(`${P}/clusters`, { name: `max-cluster-${attempt}`, template: text }));
        return replies;
      });
      for (const r of result) assert.ok(r.status === 201, `created: ${r.status} ${r.text.slice(0, 200)}`);
      assert.equal(obj(obj(result[0]?.body).summary).hexagons, 1331);
      assert.ok(polls >= 5, `health was polled during the work (${polls})`);
      assert.ok(peakRss - idle < 512 * MiB, `RSS grew ${Math.round((peakRss - idle) / MiB)} MiB`);
      return slowestHealthMs < HEALTH_TARGET_MS ? undefined : `slowest /healthz ${Math.round(slowestHealthMs)} ms`;
    });
  });

  it('a parse that runs past HANAMI_TEMPLATE_PARSE_TIMEOUT_MS is stopped and refused; the next one works', async () => {
    const slow = await startTestService({ templateParseTimeoutMs: 100, templateMaxWork: 1e12, templateMaxHexagons: 1e6 });
    try {
      const project = `/v1/projects/${await createProject(slow.admin, 'slow')}`;
      const { result, slowestHealthMs } = await duringWork(slow.url, () => slow.admin.post(`${project}/templates`, { name: 'slow', template: blockTemplate(16, 16, 16, 16) }));
      const p = assertProblem(result, 422, 'template_too_large');
      assert.deepEqual(p.limit, { name: 'HANAMI_TEMPLATE_PARSE_TIMEOUT_MS', value: 100 });
      assert.ok(slowestHealthMs < 1000, `/healthz during the parse: ${Math.round(slowestHealthMs)} ms`);
      assert.equal((await slow.admin.post(`${project}/templates`, { name: 'small', template: blockTemplate(2, 2, 1, 1) })).status, 201);
    } finally {
      await slow.close();
    }
  });

  it('a list never parses: summaries are stored at creation; older records get theirs once', async () => {
    const created = obj((await t.admin.post(`${P}/templates`, { name: 'fresh', template: blockTemplate(2, 2, 2, 2) })).body);
    const stored = await t.service.services.store.templates.get(str(created, 'projectId'), str(created, 'id'));
    assert.deepEqual(stored.summary, { hexagons: 8, inputs: ['a'], outputs: ['b'] }, 'the summary is in the record');
    const listed = items(obj((await t.admin.get(`${P}/templates?limit=1000`)).body));
    // A record as an older version stored it: canonical text, no summary; big enough that
    // parsing it on the event loop would stall for seconds.
    const projectId = String(listed[0]?.projectId);
    // (12×12×12 with distance 16: about a second to parse each, 20 KB of text.)
    const legacy = blockTemplate(12, 12, 12, 16);
    const ids: string[] = [];
    for (let i = 0; i < 300; i++) {
      const id = randomUUID();
      ids.push(id);
      await t.service.services.store.templates.create({ id, projectId, name: `legacy-${i}`, text: legacy, createdAt: new Date().toISOString(), createdBy: 'admin' });
    }
    for (let round = 0; round < 2; round++) {
      const { result, slowestHealthMs } = await duringWork(t.url, async () => {
        const pages = [await t.admin.get(`${P}/templates`)];
        pages.push(await t.admin.get(`${P}/templates/${ids[0]}`));
        return pages;
      });
      assert.equal(result[0]?.status, 200);
      const page = items(obj(result[0]?.body)).filter((x) => String(x.name).startsWith('legacy-'));
      assert.ok(page.length >= 90, `a default page of legacy records, got ${page.length}`);
      for (const x of page) assert.deepEqual(x.summary, { hexagons: 1728, inputs: ['a'], outputs: ['b'] });
      // A long page is still a long JSON answer; what must not happen is seconds of parsing.
      assert.ok(slowestHealthMs < 1000, `round ${round}: /healthz during the list ${Math.round(slowestHealthMs)} ms`);
    }
    // Written back in the background, one record per turn of the event loop.
    const after = await waitFor(
      () => t.service.services.store.templates.get(projectId, ids[80]!),
      (r) => r.summary !== undefined,
      'the summary written back',
      10_000,
    );
    assert.deepEqual(after.summary, { hexagons: 1728, inputs: ['a'], outputs: ['b'] });
  });

  it('health probes answer while another client uploads the largest body', async () => {
    // 1 MiB of hexagon lines: refused by the prescan, the body parsed within the JSON limit.
    const lines = ['version: 1', 'hexagons:'];
    for (let bytes = 0; bytes < 900 * 1024; bytes += lines[lines.length - 1]!.length + 1) lines.push(`    ${lines.length},1,1`);
    const { result, slowestHealthMs } = await duringWork(t.url, () => request(t.url, 'POST', `${P}/templates`, { token: t.admin.token, json: { name: 'wide', template: lines.join('\n') } }));
    assertProblem(result, 422, 'template_too_large');
    assert.ok(slowestHealthMs < 1000, `/healthz ${Math.round(slowestHealthMs)} ms`);
  });
});
