/**
 * The OpenAPI 3.1 document, assembled from the route definitions (never written by hand).
 * The same object feeds express-openapi-validator, Swagger UI and GET /openapi.json.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import type { OpenApiDocument } from './document.js';
import type { AnyRoute } from './route.js';
import { PROBLEM_CONTENT_TYPE } from './problem.js';
import { ProblemSchema } from './schemas.js';

export type { OpenApiDocument } from './document.js';

/** TypeBox schemas carry symbol keys; the document is plain JSON. */
function plain(schema: TSchema): Record<string, unknown> {
  return JSON.parse(JSON.stringify(schema)) as Record<string, unknown>;
}

function parameters(where: 'path' | 'query', schema: TObject | undefined): Record<string, unknown>[] {
  if (!schema) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, property]) => {
    const p = plain(property);
    const description = typeof p.description === 'string' ? p.description : undefined;
    return {
      name,
      in: where,
      required: where === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: p,
    };
  });
}

function requestBody(route: AnyRoute): Record<string, unknown> | undefined {
  if (route.body) return { required: true, content: { 'application/json': { schema: plain(route.body) } } };
  if (route.upload) {
    const binary = { type: 'string', format: 'binary' };
    return {
      required: true,
      description: route.upload.description,
      content: Object.fromEntries(route.upload.contentTypes.map((type) => [type, { schema: binary }])),
    };
  }
  return undefined;
}

function responses(route: AnyRoute): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [status, spec] of Object.entries(route.responses)) {
    const content: Record<string, unknown> = {};
    if (spec.schema) content['application/json'] = { schema: plain(spec.schema) };
    for (const [type, schema] of Object.entries(spec.content ?? {})) content[type] = { schema: plain(schema) };
    if (spec.problem) content[PROBLEM_CONTENT_TYPE] = { schema: { $ref: '#/components/schemas/Problem' } };
    out[status] = Object.keys(content).length > 0 ? { description: spec.description, content } : { description: spec.description };
  }
  // Every status the app may send must be documented (response validation enforces it):
  // errors of every kind share one problem response.
  out.default = { $ref: '#/components/responses/Problem' };
  return out;
}

function operation(route: AnyRoute): Record<string, unknown> {
  const body = requestBody(route);
  return {
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: route.access === 'public' ? [] : [{ bearerAuth: [] }],
    parameters: [...parameters('path', route.params), ...parameters('query', route.query)],
    ...(body ? { requestBody: body } : {}),
    responses: responses(route),
  };
}

export const TAGS: { name: string; description: string }[] = [
  { name: 'auth', description: 'Log in and renew tokens.' },
  { name: 'users', description: 'Accounts (admins manage them; everybody manages their own passphrase).' },
  { name: 'projects', description: 'Projects are the tenants: every resource below belongs to one.' },
  { name: 'members', description: 'Who belongs to a project, with which role.' },
  { name: 'templates', description: 'Cluster templates, validated when stored.' },
  { name: 'datasets', description: 'IDX (MNIST) and CSV datasets: streamed uploads, downloads, accuracy checks.' },
  { name: 'clusters', description: 'Networks created from templates.' },
  { name: 'tasks', description: 'Train and request tasks, queued per cluster.' },
  { name: 'checkpoints', description: 'Saved cluster states: restore, download.' },
  { name: 'logs', description: 'Audit log and error log.' },
  { name: 'system', description: 'Version, backend, hosts.' },
  { name: 'operations', description: 'Health, readiness, metrics and this document.' },
];

export function buildOpenApiDocument(routes: readonly AnyRoute[], version: string): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of routes) {
    const item = (paths[route.path] ??= {});
    if (item[route.method]) throw new Error(`duplicate route ${route.method.toUpperCase()} ${route.path}`);
    item[route.method] = operation(route);
  }
  const operationIds = routes.map((r) => r.operationId);
  const duplicate = operationIds.find((id, i) => operationIds.indexOf(id) !== i);
  if (duplicate) throw new Error(`duplicate operationId ${duplicate}`);
  return {
    openapi: '3.1.0',
    info: {
      title: 'Hanami',
      version,
      description:
        'A multi-tenant service hosting growing neural networks. Log in with `POST /v1/auth/login`, then send the token as `Authorization: Bearer <token>` (the Authorize button). Errors are `application/problem+json` (RFC 9457).',
    },
    servers: [{ url: '/' }],
    tags: TAGS,
    paths,
    webhooks: {},
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
      schemas: { Problem: plain(ProblemSchema) },
      responses: {
        Problem: {
          description: 'An error, as RFC 9457 problem details.',
          content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } },
        },
      },
    },
  };
}
