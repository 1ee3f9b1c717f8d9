/**
 * The one error middleware: every failure becomes an `application/problem+json` response.
 * Known errors (ours, the validator's, body parsing, the store's, the engine's input errors)
 * map to a 4xx that names the problem; anything else is a 500 whose detail is generic (the
 * cause goes to the log and the error log, tagged with the request id). Validation failures
 * and 415s say what the request had and what the operation allows, read from the OpenAPI
 * document (validation-errors.ts); a browser that finds no route gets an HTML page
 * (not-found.ts).
 */
import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler, NextFunction, Request, Response } from 'express';
import { DomainError } from '../errors.js';
import { BindError } from '../network/binding.js';
import { fullCode, isStorageFull } from '../store/write-probe.js';
import { ApiError, PROBLEM_CONTENT_TYPE, problemType, statusTitle, type Problem } from './problem.js';
import { noRouteDetail, prefersHtml, sendNotFoundPage } from './not-found.js';
import type { HttpMethod } from './route.js';
import { requestState } from './request-state.js';
import type { Services } from './services.js';
import { cut, cutQuoted, explainFailures, foundText, rawFailures, RequestValidationError, type RawFailure, type RequestInput } from './validation-errors.js';

interface HttpLikeError {
  status: number;
  message: string;
  type?: string;
  /** The validator's `errors[]` as it sent them (path, message, errorCode). */
  errors?: unknown[];
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
  if (Array.isArray(e.errors)) out.errors = e.errors;
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

/** The request an error happened on: its operation in the document, its input, its address. */
export interface ErrorContext extends RequestInput {
  method: string;
  path: string;
  contentType?: string | undefined;
}

const NO_CONTEXT: ErrorContext = { body: undefined, query: undefined, params: undefined, method: 'GET', path: '/' };

/** Validation failures point at a request part; a failure whose path is the URL (a malformed URI) does not. */
const FIELD_PATH = /^\/?(?:request\/)?(body|query|params|headers)(?:[/.]|$)/;

/** 400: every failure with the field, what it had and what it takes; the first one also on top. */
function validationProblem(failures: RawFailure[], context: ErrorContext, fallback: string): Omit<Problem, 'requestId'> {
  const items = explainFailures(
    failures.filter((f) => FIELD_PATH.test(f.path)),
    context,
  );
  const first = items[0];
  if (!first) return problem(400, 'validation', fallback);
  return problem(400, 'validation', items.map((i) => i.message).join('; '), {
    field: first.path,
    ...(first.found !== undefined ? { found: first.found } : {}),
    ...(first.allowed ? { allowed: first.allowed } : {}),
    errors: items,
  });
}

/** The media types the operation's body may have, from the document. */
function mediaTypesOf(operation: Record<string, unknown> | undefined): string[] {
  const body = operation?.requestBody;
  const content = typeof body === 'object' && body !== null ? (body as { content?: unknown }).content : undefined;
  return typeof content === 'object' && content !== null ? Object.keys(content) : [];
}

/** 415: what the request said it sent, and what the operation takes. */
function mediaTypeProblem(context: ErrorContext): Omit<Problem, 'requestId'> {
  const types = mediaTypesOf(context.operation);
  const sent = context.contentType?.split(';')[0]?.trim();
  const takes = types.length > 0 ? `; ${context.method} ${cut(context.path)} takes ${types.join(', ')}` : '';
  const detail = sent ? `unsupported media type ${foundText(sent)}${takes}` : `the request has no Content-Type header${takes}`;
  return problem(415, 'unsupported_media_type', detail, {
    field: '/headers/content-type',
    ...(sent ? { found: foundText(sent) } : {}),
    ...(types.length > 0 ? { allowed: { mediaTypes: types } } : {}),
  });
}

/** The validator's "malformed uri'": a path segment it could not percent-decode. */
function malformedUriDetail(path: string): string {
  return `the path ${cut(path)} is not a valid URI: every "%" must be followed by two hexadecimal digits (a literal "%" is written %25)`;
}

export interface MappedError {
  problem: Omit<Problem, 'requestId'>;
  headers?: Record<string, string>;
  /** Unexpected: log it and record it in the error log. */
  internal: boolean;
}

function problem(status: number, code: string, detail: string, extra: Partial<Problem> = {}): Omit<Problem, 'requestId'> {
  // No echo of the client's text over FOUND_MAX_CHARS, whoever wrote the message (validation
  // and media-type details cut their echoes themselves, and may hold a cut, unclosed quote).
  const safe = code === 'validation' || code === 'unsupported_media_type' ? detail : cutQuoted(detail);
  return { type: problemType(code), title: statusTitle(status), status, detail: safe, code, ...extra };
}

export function mapError(raised: unknown, context: ErrorContext = NO_CONTEXT): MappedError {
  const error = raised instanceof BindError ? raised.asDomainError() : raised;
  // Every error of the vocabulary (server/errors.ts) translates the same way: its code, its
  // status, its message and where it points.
  // `internal` (a store that failed, say) is a bug or an outage: its message is for the log.
  if (error instanceof DomainError && error.code !== 'internal') {
    const { errors, retryAfterSeconds, ...location }: ApiError['location'] = error instanceof ApiError ? error.location : error.details;
    const mapped: MappedError = { problem: problem(error.status, error.code, error.message, { ...location, ...(errors ? { errors } : {}) }), internal: false };
    if (retryAfterSeconds !== undefined) mapped.headers = { 'Retry-After': String(retryAfterSeconds) };
    return mapped;
  }
  if (error instanceof RequestValidationError) return { problem: validationProblem(error.failures, context, error.message), internal: false };
  const http = asHttpLike(error);
  if (http && http.status < 500) {
    const body = http.type ? BODY_ERRORS[http.type] : undefined;
    const mapped: MappedError = { problem: problem(http.status, validatorCode(http.status), http.message), internal: false };
    if (body) mapped.problem = problem(http.status, body.code, body.detail(http));
    // The validator's "malformed uri", or the router's own "Failed to decode param" (the
    // per-route authentication runs before the validator): neither message is echoed.
    else if (http.status === 400 && (http.message.startsWith('malformed uri') || http.message.startsWith('Failed to decode param')))
      mapped.problem = problem(400, 'validation', malformedUriDetail(context.path));
    else if (http.status === 400) mapped.problem = validationProblem(rawFailures(http.errors ?? []), context, http.message);
    else if (http.status === 404) mapped.problem = problem(404, 'no_route', noRouteDetail(context.method, context.path));
    else if (http.status === 405)
      mapped.problem = problem(405, 'method_not_allowed', `${context.method} is not allowed on ${cut(context.path)}${http.headers?.Allow ? `; it takes ${http.headers.Allow}` : ''}`);
    else if (http.status === 415) mapped.problem = mediaTypeProblem(context);
    if (http.headers) mapped.headers = http.headers;
    return mapped;
  }
  // A full disk is not a bug: say so, and what to do (the partial write was removed).
  if (isStorageFull(error)) {
    return {
      problem: problem(507, 'insufficient_storage', `the service's storage is full (${fullCode(error)}): nothing of this request was stored; retry once space has been freed`),
      internal: false,
    };
  }
  return { problem: problem(500, 'internal', 'an internal error occurred; it was logged with this request id'), internal: true };
}

/** What the validator matched (set by its metadata middleware on documented paths). */
interface OpenApiMatch {
  openApiRoute?: unknown;
  pathParams?: unknown;
}

function errorContext(req: Request, services: Services): ErrorContext {
  const match = (req as Request & { openapi?: OpenApiMatch }).openapi;
  const route = typeof match?.openApiRoute === 'string' ? match.openApiRoute : undefined;
  const operation = route ? services.openapi.paths[route]?.[req.method.toLowerCase() as HttpMethod] : undefined;
  const contentType = req.headers['content-type'];
  return {
    operation,
    body: req.body as unknown,
    query: req.query,
    // The router resets req.params for each layer; the validator's match keeps them.
    params: match?.pathParams ?? req.params,
    method: req.method,
    path: req.path,
    contentType,
  };
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
    const mapped = mapError(error, errorContext(req, services));
    if (mapped.problem.code === 'insufficient_storage') {
      // /readyz reports the store unwritable at once; the next write probe decides again.
      services.storeProbe.sawFull(error);
      services.logger.error({ err: error, requestId: state.requestId, method: req.method, url: req.originalUrl.slice(0, 256) }, 'the store is full');
    }
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
    // Someone typed an address into a browser: a page with a way on beats raw JSON.
    if (mapped.problem.code === 'no_route' && prefersHtml(req)) {
      sendNotFoundPage(res, req.method, req.path, state.requestId);
      return;
    }
    // res.json keeps a Content-Type set before it, and goes through response validation
    // against the shared `default` problem response.
    res
      .status(mapped.problem.status)
      .type(PROBLEM_CONTENT_TYPE)
      .json({ ...mapped.problem, requestId: state.requestId });
  };
}
