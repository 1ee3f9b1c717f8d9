/**
 * Operations endpoints, no token needed: liveness, readiness, Prometheus metrics and the
 * OpenAPI document itself.
 */
import { Type } from '@sinclair/typebox';
import { ApiError } from '../problem.js';
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
    summary: 'Readiness: the store answers and the backend is up',
    description: 'Answers 503 while the service starts or shuts down, or when the store does not answer.',
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
      return json(200, Ready, { status: 'ready', store: 'ok', backend: services.backends.primary.name });
    },
  }),
  route({
    method: 'get',
    path: '/metrics',
    operationId: 'getMetrics',
    summary: 'Prometheus metrics',
    tag: 'operations',
    access: 'public',
    responses: { 200: { description: 'Prometheus text exposition format.', content: { 'text/plain': Type.String() } } },
    async handler({ services }) {
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
