/**
 * The one error middleware: every failure becomes an `application/problem+json` response.
 * Known errors (ours, the validator's, body parsing, the store's, the engine's input errors)
 * map to a 4xx that names the problem; anything else is a 500 whose detail is generic (the
 * cause goes to the log and the error log, tagged with the request id).
 */
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { BindError } from '../network/cluster.js';
import { CheckpointError } from '../network/checkpoint.js';
import { TemplateError } from '../network/template-types.js';
import { BackendUnavailableError } from '../network/select-backend.js';
import { DatasetFormatError } from '../datasets/types.js';
import { BlobTooLargeError, ConflictError, NotFoundError } from '../store/types.js';
import { ClusterBusyError, ClusterHostedElsewhereError, RuntimeStoppingError } from '../tasks/runtime.js';
import { ApiError, PROBLEM_CONTENT_TYPE, problemType, statusTitle, type Problem, type ProblemDetail } from './problem.js';
import { requestState } from './request-state.js';
import type { Services } from './services.js';

interface HttpLikeError {
  status: number;
  message: string;
  type?: string;
  errors?: ProblemDetail[];
  headers?: Record<string, string>;
}

/** Errors of express-openapi-validator, body-parser and http-errors carry a numeric status. */
function asHttpLike(error: unknown): HttpLikeError | undefined {
  if (!(error instanceof Error)) return undefined;
  const e = error as Error & { status?: unknown; statusCode?: unknown; type?: unknown; errors?: unknown; headers?: unknown };
  const status = typeof e.status === 'number' ? e.status : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status === undefined || status < 400 || status > 599) return undefined;
  const out: HttpLikeError = { status, message: e.message };
  if (typeof e.type === 'string') out.type = e.type;
  if (Array.isArray(e.errors)) {
    out.errors = e.errors.flatMap((item: unknown) => {
      if (typeof item !== 'object' || item === null) return [];
      const { path, message } = item as { path?: unknown; message?: unknown };
      return [{ path: typeof path === 'string' ? path : '', message: typeof message === 'string' ? message : 'invalid' }];
    });
  }
  if (typeof e.headers === 'object' && e.headers !== null) {
    out.headers = Object.fromEntries(Object.entries(e.headers).filter((kv): kv is [string, string] => typeof kv[1] === 'string'));
  }
  return out;
}

/** body-parser's `type` names what went wrong with the raw body. */
const BODY_ERRORS: Record<string, { code: string; detail: (e: HttpLikeError) => string }> = {
  'entity.parse.failed': { code: 'malformed_json', detail: (e) => `the body is not valid JSON: ${e.message}` },
  'entity.too.large': { code: 'body_too_large', detail: () => 'the JSON body is larger than the limit (HANAMI_MAX_JSON_BYTES)' },
  'encoding.unsupported': { code: 'unsupported_encoding', detail: (e) => e.message },
  'charset.unsupported': { code: 'unsupported_charset', detail: (e) => e.message },
  'request.aborted': { code: 'request_aborted', detail: () => 'the client aborted the request body' },
  'request.size.invalid': { code: 'bad_content_length', detail: () => 'the body length does not match Content-Length' },
};

function validatorCode(status: number): string {
  switch (status) {
    case 400:
      return 'validation';
    case 404:
      return 'no_route';
    case 405:
      return 'method_not_allowed';
    case 413:
      return 'body_too_large';
    case 415:
      return 'unsupported_media_type';
    default:
      return 'bad_request';
  }
}

/** "/body/name" from the validator's "/body/name" or "request/body/name" paths. */
function fieldOf(errors: ProblemDetail[] | undefined): string | undefined {
  const path = errors?.[0]?.path;
  if (!path) return undefined;
  return path.startsWith('/') ? path : `/${path.replace(/^request\//, '').replace(/\./g, '/')}`;
}

export interface MappedError {
  problem: Omit<Problem, 'requestId'>;
  headers?: Record<string, string>;
  /** Unexpected: log it and record it in the error log. */
  internal: boolean;
}

function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Omit<Problem, 'requestId'> {
  return { type: problemType(code), title: statusTitle(status), status, detail, code, ...extra };
}

export function mapError(error: unknown): MappedError {
  if (error instanceof ApiError) {
    const { errors, retryAfterSeconds, ...location } = error.location;
    const mapped: MappedError = { problem: problem(error.status, error.code, error.message, { ...location, ...(errors ? { errors } : {}) }), internal: false };
    if (retryAfterSeconds !== undefined) mapped.headers = { 'Retry-After': String(retryAfterSeconds) };
    return mapped;
  }
  if (error instanceof NotFoundError) return { problem: problem(404, 'not_found', error.message), internal: false };
  if (error instanceof ConflictError) return { problem: problem(409, 'duplicate', error.message, { field: `/body/${error.field}` }), internal: false };
  if (error instanceof BlobTooLargeError) return { problem: problem(413, 'upload_too_large', `${error.message} (HANAMI_MAX_UPLOAD_BYTES)`), internal: false };
  if (error instanceof TemplateError) return { problem: problem(422, 'bad_template', error.message, { line: error.line, column: error.column }), internal: false };
  if (error instanceof DatasetFormatError) {
    const where: Partial<Problem> = {};
    if (error.byteOffset !== undefined) where.byteOffset = error.byteOffset;
    if (error.row !== undefined) where.row = error.row;
    if (error.column !== undefined) where.column = error.column;
    return { problem: problem(422, 'bad_dataset', error.message, where), internal: false };
  }
  if (error instanceof CheckpointError) return { problem: problem(422, 'bad_checkpoint', error.message), internal: false };
  if (error instanceof BindError) return { problem: problem(422, 'bad_mapping', error.message), internal: false };
  if (error instanceof ClusterBusyError) return { problem: problem(409, 'cluster_busy', error.message), internal: false };
  if (error instanceof ClusterHostedElsewhereError) {
    return { problem: problem(409, 'cluster_hosted_elsewhere', error.message, { owner: error.owner, leaseUntil: error.leaseUntil }), internal: false };
  }
  if (error instanceof BackendUnavailableError) return { problem: problem(409, 'backend_unavailable', error.message), internal: false };
  if (error instanceof RuntimeStoppingError) return { problem: problem(503, 'shutting_down', error.message), internal: false };
  const http = asHttpLike(error);
  if (http && http.status < 500) {
    const body = http.type ? BODY_ERRORS[http.type] : undefined;
    if (body) return { problem: problem(http.status, body.code, body.detail(http)), internal: false };
    // Only validation failures point at a field; a 404/405's "path" is the URL.
    const field = http.status === 400 ? fieldOf(http.errors) : undefined;
    const mapped: MappedError = {
      problem: problem(http.status, validatorCode(http.status), http.message, { ...(field ? { field } : {}), ...(field && http.errors && http.errors.length > 0 ? { errors: http.errors } : {}) }),
      internal: false,
    };
    if (http.headers) mapped.headers = http.headers;
    return mapped;
  }
  return { problem: problem(500, 'internal', 'an internal error occurred; it was logged with this request id'), internal: true };
}

function describe(error: unknown): { message: string; detail: string } {
  if (error instanceof Error) return { message: error.message, detail: error.stack ?? error.message };
  return { message: String(error), detail: '' };
}

export function errorMiddleware(services: Services): ErrorRequestHandler {
  // Express recognizes error middleware by its four parameters, so `_next` must stay.
  return (error: unknown, req: Request, res: Response, _next: NextFunction) => {
    if (res.headersSent) {
      // The response is already under way (a download that broke): all we can do is end it.
      services.logger.warn({ err: error, requestId: requestState(req).requestId }, 'error after the response started');
      res.destroy();
      return;
    }
    const state = requestState(req);
    const mapped = mapError(error);
    if (mapped.internal) {
      const { message, detail } = describe(error);
      services.logger.error({ err: error, requestId: state.requestId, method: req.method, url: req.originalUrl }, 'request failed');
      void services.store.errors
        .append({
          id: randomUUID(),
          time: new Date().toISOString(),
          userId: state.principal?.userId ?? null,
          projectId: state.projectId ?? null,
          requestId: state.requestId,
          component: 'api',
          message: `${req.method} ${state.route ?? req.path}: ${message}`,
          detail,
        })
        .catch((e: unknown) => services.logger.error({ err: e }, 'could not write the error log'));
    }
    for (const [name, value] of Object.entries(mapped.headers ?? {})) res.setHeader(name, value);
    // res.json keeps a Content-Type set before it, and goes through response validation
    // against the shared `default` problem response.
    res.status(mapped.problem.status).type(PROBLEM_CONTENT_TYPE).json({ ...mapped.problem, requestId: state.requestId });
  };
}
