/**
 * Operations endpoints, no user token needed: liveness, readiness, Prometheus metrics and the
 * OpenAPI document itself. Metrics name projects and clusters and show per-route traffic, so
 * on the API's port they answer only with HANAMI_METRICS_TOKEN; HANAMI_METRICS_PORT serves
 * them on a listener of their own (server/api/metrics-listener.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { Type } from '@sinclair/typebox';
import type { Request } from 'express';
import { ApiError } from '../problem.js';
import type { Services } from '../services.js';
import { json, raw, route } from '../route.js';
import { Closed } from '../schemas.js';

const Health = Closed({ status: Type.Literal('ok') }, { title: 'Health' });
const Ready = Closed({ status: Type.Literal('ready'), store: Type.String(), backend: Type.String() }, { title: 'Readiness' });

export const operationRoutes = [
  route({
    method: 'get',
    path: '/healthz',
    operationId: 'getHealth',
    summary: 'Liveness: the process is up',
    tag: 'operations',
    access: 'public',
    responses: { 200: { description: 'Up.', schema: Health } },
    async handler() {
      return json(200, Health, { status: 'ok' });
    },
  }),
  route({
    method: 'get',
    path: '/readyz',
    operationId: 'getReadiness',
    summary: 'Readiness: the store answers and takes writes, and the backend is up',
    description:
      'Answers 503 while the service starts or shuts down, when the store does not answer, or when it does not take writes (a full disk: a 4 KiB write probe every HANAMI_STORE_PROBE_MS, and at once when a request hits a full disk).',
    tag: 'operations',
    access: 'public',
    responses: { 200: { description: 'Ready to serve.', schema: Ready } },
    async handler({ services }) {
      if (!services.accepting) throw new ApiError('not_ready', 'the service is shutting down');
      try {
        await services.store.ping();
      } catch (error) {
        throw new ApiError('not_ready', `the store does not answer: ${(error as Error).message}`);
      }
      const writes = services.storeProbe.current;
      if (!writes.writable) throw new ApiError('not_ready', `the store does not take writes (${writes.reason ?? 'unknown'}; checked at ${writes.checkedAt ?? 'start'})`);
      return json(200, Ready, { status: 'ready', store: 'ok', backend: services.backends.primary.name });
    },
  }),
  route({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics (with HANAMI_METRICS_TOKEN as the bearer token)',
    description:
      'Served on this port only when HANAMI_METRICS_TOKEN is set, to callers sending it as `Authorization: Bearer <token>` (401 otherwise); without it, 404 (metrics name projects and clusters). HANAMI_METRICS_PORT serves them on a separate listener instead.',
    tag: 'operations',
    access: 'public',
    responses: {
      200: { description: 'Prometheus text exposition format.', content: { 'text/plain': Type.String() } },
      401: { description: 'HANAMI_METRICS_TOKEN is set and the request did not send it.', problem: true },
      404: { description: 'Metrics are not served on this port (no HANAMI_METRICS_TOKEN).', problem: true },
    },
    async handler({ services, req }) {
      checkMetricsAccess(services, req);
      const registry = services.metrics.registry;
      return raw(200, registry.contentType, await registry.metrics());
    },
  }),
  route({
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    summary: 'This OpenAPI 3.1 document',
    tag: 'operations',
    access: 'public',
    responses: { 200: { description: 'The document.', schema: Type.Object({}, { additionalProperties: true }) } },
    async handler({ services }) {
      return json(200, Type.Object({}), services.openapi);
    },
  }),
];

/** The metrics token as a bearer token, compared in constant time; 404 when none is configured. */
function checkMetricsAccess(services: Services, req: Request): void {
  const expected = services.config.metricsToken;
  if (expected === undefined) {
    throw new ApiError('not_found', 'metrics are not served on this port: set HANAMI_METRICS_TOKEN (then send it as a bearer token) or HANAMI_METRICS_PORT (a listener of their own)');
  }
  const sent = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
  const a = Buffer.from(sent);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) throw new ApiError('unauthorized', 'GET /metrics needs the metrics token: "Authorization: Bearer <HANAMI_METRICS_TOKEN>"');
}
