/**
 * What runs for a documented route before its request is parsed and validated:
 *
 * 1. **Authentication** (non-public routes): the bearer token is checked first, so a caller
 *    without a valid token learns nothing about the route (not its schema's complaints, not
 *    whether the body would parse) and costs no body parsing. Who the token stands for is
 *    kept in the request state; the guard (guard.ts) then decides the role and the policy
 *    after validation, as before.
 * 2. **Numbers in the query are plain decimal.** express-openapi-validator always coerces
 *    query strings with AJV's `coerceTypes`, which reads them with JavaScript's `+x`: `0x10`
 *    is 16, `0o20`, `1e1`, `+16` and ` 16 ` pass too, and `1e999` becomes Infinity. A query
 *    integer here must be digits (an optional `-`, no leading zeros) and a safe integer;
 *    anything else is a 400 naming the parameter, before the validator can coerce it.
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import type { NextFunction, Request, Response } from 'express';
import { ApiError, type ProblemDetail } from './problem.js';
import { requestState } from './request-state.js';
import type { AnyRoute } from './route.js';
import type { Services } from './services.js';
import { allowedBy, describeSchema, foundText } from './validation-errors.js';

const PLAIN_INTEGER = /^-?(0|[1-9][0-9]*)$/;
const PLAIN_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?$/;

function numericKind(schema: TSchema): 'integer' | 'number' | undefined {
  const type = (schema as { type?: unknown }).type;
  return type === 'integer' || type === 'number' ? type : undefined;
}

/** The parameters of a query schema that are numbers, by name. */
function numericParameters(query: TObject | undefined): [string, TSchema, 'integer' | 'number'][] {
  if (!query) return [];
  return Object.entries(query.properties).flatMap(([name, schema]): [string, TSchema, 'integer' | 'number'][] => {
    const kind = numericKind(schema);
    return kind ? [[name, schema, kind]] : [];
  });
}

/** Whether `text` is a number as the API writes them: decimal digits, nothing else. */
export function isPlainDecimal(text: string, kind: 'integer' | 'number'): boolean {
  if (kind === 'integer') return PLAIN_INTEGER.test(text) && Number.isSafeInteger(Number(text));
  return PLAIN_NUMBER.test(text) && text.length <= 32 && Number.isFinite(Number(text));
}

function decimalProblem(name: string, value: string, schema: TSchema, kind: 'integer' | 'number'): ApiError {
  const path = `/query/${name}`;
  const words = kind === 'integer' ? 'a plain decimal integer (digits, an optional leading "-"; no hex, octal, exponent, "+", spaces or leading zeros)' : 'a plain decimal number';
  const message = `${path} must be written as ${words}: ${describeSchema(schema)} (found ${foundText(value)})`;
  const allowed = allowedBy(schema);
  const item: ProblemDetail = { path, message, found: foundText(value), allowed };
  return new ApiError('validation', message, { field: path, found: item.found, allowed, errors: [item] });
}

/** Refuses numeric query parameters that are not plain decimal (see the file comment). */
export function checkQueryNumbers(route: AnyRoute, query: unknown): void {
  if (typeof query !== 'object' || query === null) return;
  for (const [name, schema, kind] of numericParameters(route.query)) {
    const value = (query as Record<string, unknown>)[name];
    // Arrays (a repeated parameter) and missing values are the validator's to report.
    if (typeof value === 'string' && !isPlainDecimal(value, kind)) throw decimalProblem(name, value, schema, kind);
  }
}

/** What the validator's metadata middleware leaves on a request of a documented path. */
interface OpenApiMatch {
  openApiRoute?: unknown;
}

/**
 * One middleware for every route, run between the validator's route lookup (its metadata
 * middleware, which finds the operation once; the lookup is memoized) and the body parser:
 * it finds our route for the operation in a map, so the check costs no second routing pass.
 */
export function beforeValidation(routes: readonly AnyRoute[], services: Services) {
  const byOperation = new Map<string, { route: AnyRoute; hasNumbers: boolean }>();
  for (const route of routes) byOperation.set(`${route.method.toUpperCase()} ${route.path}`, { route, hasNumbers: numericParameters(route.query).length > 0 });
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const match = (req as Request & { openapi?: OpenApiMatch }).openapi;
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const found = typeof match?.openApiRoute === 'string' ? byOperation.get(`${method} ${match.openApiRoute}`) : undefined;
    if (found) {
      if (found.route.access !== 'public') requestState(req).user = await services.authenticator.authenticate(req, res);
      if (found.hasNumbers) checkQueryNumbers(found.route, req.query);
    }
    next();
  };
}
