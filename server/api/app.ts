/**
 * The Express app, built from the route table in a fixed middleware order:
 *   request id + metrics/access/audit hooks → `/` redirect → Swagger UI (/docs) → per route:
 *   authentication and strict query numbers (before-validation.ts) → JSON body parser (size
 *   cap) → OpenAPI validation of requests and responses → per route: authorization, handler
 *   → not-found → the problem+json error middleware.
 * Authentication runs before validation: a caller without a valid token gets 401 whatever
 * the request holds, and their body is never parsed (docs/architecture.md, "Authentication
 * before validation", says why the order changed).
 */
import { randomUUID } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import * as OpenApiValidator from 'express-openapi-validator';
import swaggerUi from 'swagger-ui-express';
import { errorMiddleware } from './errors.js';
import { beforeValidation } from './before-validation.js';
import { authorize } from './guard.js';
import type { OpenApiDocument } from './document.js';
import { homeRedirect } from './home.js';
import { DOCS_PATH, noRouteDetail } from './not-found.js';
import { ApiError } from './problem.js';
import { requestState, setRequestState, type RequestState } from './request-state.js';
import { expressPath, type AnyRoute, type Reply } from './route.js';
import type { Services } from './services.js';
import { memoizeValidatorRouteCompilation } from './validator-route-cache.js';

type ValidatorOptions = Parameters<typeof OpenApiValidator.middleware>[0];

function deepCopy(document: OpenApiDocument): unknown {
  return JSON.parse(JSON.stringify(document));
}

/** Paths served outside the route table (static Swagger UI assets); `/` (home.ts) is a redirect. */
export const UNDOCUMENTED_PREFIXES = [DOCS_PATH] as const;

/** A client's own request id is echoed in every answer, so it is short (like every echo). */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

function startRequest(services: Services) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers['x-request-id'];
    const requestId = typeof incoming === 'string' && REQUEST_ID_PATTERN.test(incoming) ? incoming : randomUUID();
    const state: RequestState = { requestId, startedAt: process.hrtime.bigint() };
    setRequestState(req, state);
    res.setHeader('X-Request-Id', requestId);
    // 'close' comes for finished responses and for connections the client dropped.
    res.on('close', () => finishRequest(services, req, res, state));
    next();
  };
}

/** Status recorded for a request whose client went away before the answer (nginx's convention). */
const CLIENT_CLOSED = 499;

const LOGIN_ROUTE = '/v1/auth/login';

function finishRequest(services: Services, req: Request, res: Response, state: RequestState): void {
  const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
  const route = state.route ?? 'unmatched';
  const status = res.writableFinished ? res.statusCode : CLIENT_CLOSED;
  services.metrics.observeRequest(req.method, route, status, seconds);
  services.logger.debug({ requestId: state.requestId, method: req.method, route, status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
  // Audited: every change an authenticated caller asks for, refused ones too, and every
  // login attempt. Not reads (they would drown the log) and not anonymous junk (anyone could
  // fill the log with it; the metrics count it).
  const isChange = req.method !== 'GET' && req.method !== 'HEAD' && req.method !== 'OPTIONS';
  if (isChange && (state.principal || route === LOGIN_ROUTE)) {
    void services.store.audit
      .append({
        id: randomUUID(),
        time: new Date().toISOString(),
        userId: state.principal?.userId ?? state.actingUserId ?? null,
        projectId: state.projectId ?? null,
        method: req.method,
        path: req.path.slice(0, 1024),
        status,
        requestId: state.requestId,
      })
      .catch((e: unknown) => services.logger.error({ err: e }, 'could not write the audit log'));
  }
}

function send(res: Response, reply: Reply, services: Services): void {
  switch (reply.kind) {
    case 'json':
      res.status(reply.status).json(reply.body);
      return;
    case 'empty':
      res.status(204).end();
      return;
    case 'raw': {
      res.status(reply.status).type(reply.contentType);
      for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
      if (reply.body instanceof Readable) {
        pipeline(reply.body, res, (error) => {
          if (error) services.logger.warn({ err: error }, 'download interrupted');
        });
      } else {
        res.send(reply.body);
      }
      return;
    }
  }
}

function handlerFor(route: AnyRoute, services: Services) {
  const pattern = expressPath(route.path);
  return async (req: Request, res: Response): Promise<void> => {
    const state = requestState(req);
    state.route = pattern;
    if (route.access === 'project' && typeof req.params.projectId === 'string') state.projectId = req.params.projectId;
    const principal = await authorize(route, req, res, services);
    state.principal = principal;
    const reply = await route.handler({
      params: req.params,
      query: req.query,
      body: route.body ? (req.body as unknown) : undefined,
      principal,
      requestId: state.requestId,
      services,
      req,
      res,
    });
    send(res, reply, services);
  };
}

/** The app for `routes`; `services.openapi` must be the document built from the same routes. */
export function createApp(services: Services, routes: readonly AnyRoute[]): Express {
  memoizeValidatorRouteCompilation();
  const document = services.openapi;
  const app = express();
  app.disable('x-powered-by');
  // ETags would hash every JSON body; clients here poll small documents and gain nothing.
  app.set('etag', false);
  // Whose X-Forwarded-For names the client (req.ip): nobody's unless configured.
  app.set('trust proxy', services.config.trustProxy);
  app.use(startRequest(services));
  app.use(homeRedirect);

  const swaggerOptions = { customSiteTitle: 'Hanami API', swaggerOptions: { persistAuthorization: false, displayRequestDuration: true } };
  app.use('/docs', swaggerUi.serveFiles(document, swaggerOptions), swaggerUi.setup(document, swaggerOptions));

  const validator = OpenApiValidator.middleware({
    // A deep copy: the validator annotates the document it is given. Its typing of 3.1
    // documents demands fields that are optional in the specification (info.summary).
    apiSpec: deepCopy(document) as ValidatorOptions['apiSpec'],
    validateRequests: { allowUnknownQueryParameters: false },
    validateResponses: true,
    // passport authenticates (guard.ts); the validator only checks shapes.
    validateSecurity: false,
    ignorePaths: new RegExp(`^(${UNDOCUMENTED_PREFIXES.join('|')})(/|$)`),
    fileUploader: false,
  });
  // The validator's first two middlewares find the operation (path parameters, metadata);
  // authentication and the strict reading of query numbers go right after them, before the
  // body is parsed or validated (before-validation.ts).
  const [pathParams, metadata, ...validation] = validator;
  if (pathParams?.name !== 'pathParamsMiddleware' || metadata?.name !== 'metadataMiddleware') {
    throw new Error('express-openapi-validator changed the order of its middlewares: check server/api/before-validation.ts');
  }
  app.use(pathParams, metadata, beforeValidation(routes, services));
  app.use(express.json({ limit: services.config.maxJsonBytes, type: ['application/json', 'application/*+json'] }));
  app.use(...validation);

  for (const route of routes) app[route.method](expressPath(route.path), handlerFor(route, services));

  app.use((req: Request, _res: Response, next: NextFunction) => next(new ApiError('no_route', noRouteDetail(req.method, req.path))));
  app.use(errorMiddleware(services));
  return app;
}
