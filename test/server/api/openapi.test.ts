/**
 * The OpenAPI document and the routes agree: every Express route is documented and every
 * documented operation is routed, each operation is complete (id, tags, problem response,
 * security, path parameters), and the document is served at /openapi.json.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UNDOCUMENTED_PREFIXES } from '../../../server/api/app.js';
import { expressPath } from '../../../server/api/route.js';
import { ROUTES } from '../../../server/api/routes.js';
import { assertProblem, obj, request, startTestService, type TestService } from './helpers.js';

interface RouterLayer {
  route?: { path: unknown; methods: Record<string, boolean> };
}

/** "GET /v1/projects/:projectId" for every route registered on the Express router. */
function expressRoutes(t: TestService): string[] {
  const router = (t.service.app as unknown as { router: { stack: RouterLayer[] } }).router;
  return router.stack.flatMap((layer) => {
    if (!layer.route) return [];
    const path = layer.route.path;
    assert.equal(typeof path, 'string', 'routes are plain string paths');
    return Object.keys(layer.route.methods).map((m) => `${m.toUpperCase()} ${String(path)}`);
  });
}

function documentedOperations(doc: Record<string, unknown>): string[] {
  return Object.entries(obj(doc.paths)).flatMap(([path, item]) => Object.keys(obj(item)).map((m) => `${m.toUpperCase()} ${expressPath(path)}`));
}

describe('OpenAPI document', () => {
  let t: TestService;
  before(async () => {
    t = await startTestService();
  });
  after(() => t.close());

  it('documents exactly the routes Express serves', () => {
    const served = expressRoutes(t).sort();
    const documented = documentedOperations(t.service.services.openapi as unknown as Record<string, unknown>).sort();
    assert.ok(served.length >= 40, `expected the whole API, found ${served.length} routes`);
    assert.deepEqual(served, documented);
    assert.deepEqual(new Set(served).size, served.length, 'no route is registered twice');
  });

  it('serves the document at /openapi.json', async () => {
    const r = await request(t.url, 'GET', '/openapi.json');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, JSON.parse(JSON.stringify(t.service.services.openapi)));
  });

  it('describes every operation completely', () => {
    const doc = t.service.services.openapi;
    assert.equal(doc.openapi, '3.1.0');
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const where = `${method.toUpperCase()} ${path}`;
        const operation = obj(op);
        assert.equal(typeof operation.operationId, 'string', `${where}: operationId`);
        assert.ok(!ids.has(String(operation.operationId)), `${where}: unique operationId`);
        ids.add(String(operation.operationId));
        assert.ok(String(operation.summary).length > 0, `${where}: summary`);
        assert.equal((operation.tags as unknown[]).length, 1, `${where}: one tag`);
        const responses = obj(operation.responses);
        assert.deepEqual(responses.default, { $ref: '#/components/responses/Problem' }, `${where}: errors documented`);
        assert.ok(
          Object.keys(responses).some((s) => /^2\d\d$/.test(s)),
          `${where}: a success response`,
        );
        const params = (operation.parameters as Record<string, unknown>[]).filter((p) => p.in === 'path').map((p) => p.name);
        const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        assert.deepEqual(params, inPath, `${where}: every path parameter documented`);
        const route = ROUTES.find((r) => r.path === path && r.method === method);
        assert.ok(route, `${where}: from the route table`);
        assert.deepEqual(operation.security, route.access === 'public' ? [] : [{ bearerAuth: [] }], `${where}: security`);
        const body = operation.requestBody as Record<string, unknown> | undefined;
        if (body && obj(body.content)['application/json']) {
          const schema = obj(obj(obj(body.content)['application/json']).schema);
          assert.equal(schema.additionalProperties, false, `${where}: unknown body fields are refused`);
        }
      }
    }
  });

  it('answers undocumented paths and methods with problems', async () => {
    assertProblem(await request(t.url, 'GET', '/v1/nothing-here'), 404);
    assertProblem(await request(t.url, 'DELETE', '/v1/system'), 405, 'method_not_allowed');
    const docs = await request(t.url, 'GET', `${UNDOCUMENTED_PREFIXES[0]}/`);
    assert.equal(docs.status, 200, 'Swagger UI is the one undocumented prefix');
    assert.match(docs.text, /swagger-ui/);
  });
});

describe('the error vocabulary', () => {
  it('every code of server/errors.ts is documented in docs/api.md, and Socket.IO spells the same codes', async () => {
    const { ERROR_STATUS, socketCode, codeOfSocketCode } = await import('../../../server/errors.js');
    const { readFileSync } = await import('node:fs');
    const api = readFileSync(new URL('../../../../docs/api.md', import.meta.url), 'utf8');
    const undocumented = Object.keys(ERROR_STATUS).filter((code) => !api.includes(`\`${code}\``));
    assert.deepEqual(undocumented, [], 'codes missing from docs/api.md "Errors"');
    for (const code of Object.keys(ERROR_STATUS) as (keyof typeof ERROR_STATUS)[]) assert.equal(codeOfSocketCode(socketCode(code)), code);
  });
});
