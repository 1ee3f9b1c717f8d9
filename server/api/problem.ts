/**
 * API errors as RFC 9457 problem details. Handlers throw `ApiError`s, the layers below
 * `DomainError`s (server/errors.ts: the one vocabulary of codes and statuses); one error
 * middleware (errors.ts) turns every failure into an `application/problem+json` response of
 * this shape, so clients parse one error format.
 */

import { DomainError, type ErrorCode, type LimitDetail } from '../errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Where a problem is, when the input has a place to point at. */
export interface ProblemLocation {
  /** JSON pointer-ish path of the offending field (`/body/name`, `/query/limit`). */
  field?: string;
  /** Template text position (1-based). */
  line?: number;
  column?: number;
  /** Dataset files: byte offset in the (decompressed) file, or CSV row (line) and column. */
  byteOffset?: number;
  row?: number;
  /** The limit or quota that was hit (its setting and value). */
  limit?: LimitDetail;
  /** `template_too_large`: the estimated work. */
  estimate?: number;
  /** Quotas: the usage now. */
  usage?: number;
}

/**
 * What a field accepts, in JSON Schema's words where it has them (taken from the OpenAPI
 * document), so a client can show or check it without parsing `detail`.
 */
export interface Allowed {
  type?: string;
  enum?: (string | number | boolean | null)[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minItems?: number;
  maxItems?: number;
  /** The fields an object takes (an unknown field), or the query parameters an operation takes. */
  fields?: string[];
  /** The fields an object must have (a missing field). */
  required?: string[];
  /** The media types an operation's body may have (415). */
  mediaTypes?: string[];
}

export interface ProblemDetail {
  path: string;
  message: string;
  /** What the request had there, as JSON text cut after FOUND_MAX_CHARS characters; absent when it had nothing. */
  found?: string | undefined;
  allowed?: Allowed;
}

export interface Problem extends ProblemLocation {
  type: string;
  title: string;
  status: number;
  detail: string;
  /** Stable machine-readable code (listed in docs/api.md). */
  code: string;
  requestId?: string;
  /** Every validation failure (the first is also `field`, `found`, `allowed`). */
  errors?: ProblemDetail[];
  /** Validation and 415: what the request had, as JSON text (cut), and what is allowed. */
  found?: string | undefined;
  allowed?: Allowed;
  /** `cluster_hosted_elsewhere`: the instance hosting the cluster and its lease end. */
  owner?: string;
  leaseUntil?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
  507: 'Insufficient Storage',
};

export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? 'Server Error' : 'Client Error');
}

/** `type` URIs name the code; they are identifiers, documented in docs/api.md. */
export function problemType(code: string): string {
  return `urn:hanami:problem:${code}`;
}

/** An error a handler raises on purpose: a code of the vocabulary (server/errors.ts, which
 *  gives its status), a message for humans, and where the problem is. Validation failures
 *  also say what was found and what is allowed. */
export class ApiError extends DomainError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly location: ProblemLocation & { errors?: ProblemDetail[]; found?: string | undefined; allowed?: Allowed; retryAfterSeconds?: number } = {},
    status?: 403,
  ) {
    super(code, message, location, status);
    this.name = 'ApiError';
  }
}

export const badRequest = (code: ErrorCode, message: string, location?: ProblemLocation): ApiError => new ApiError(code, message, location);
export const forbidden = (message: string): ApiError => new ApiError('forbidden', message);
export const notFound = (kind: string, id: string): ApiError => new ApiError('not_found', `${kind} ${id} not found`);
export const conflict = (code: ErrorCode, message: string, location?: ProblemLocation): ApiError => new ApiError(code, message, location);
export const unprocessable = (code: ErrorCode, message: string, location?: ProblemLocation): ApiError => new ApiError(code, message, location);
