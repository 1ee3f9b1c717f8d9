/**
 * Route definitions: one object per operation holding its path, access rule, TypeBox schemas
 * and handler. The Express router (app.ts) and the OpenAPI document (openapi.ts) are both
 * built from the same list, so a route cannot exist without documentation or vice versa.
 */
import type { Static, TObject, TSchema } from '@sinclair/typebox';
import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import type { HttpMethod } from './document.js';
import type { Services } from './services.js';
import type { RoleName } from '../auth/policy.js';

export type { HttpMethod } from './document.js';

/**
 * Who may call a route:
 * - `public`: no token (login, health, metrics, the document itself);
 * - `user`: any valid token; the policy decides per route in the `global` domain;
 * - `project`: the path has `{projectId}`; the caller must be a member of that project (or
 *   an admin), and the policy decides for the caller's role in that project.
 */
export type Access = 'public' | 'user' | 'project';

export interface ResponseSpec {
  description: string;
  /** Body schema of an application/json response. */
  schema?: TSchema;
  /** Other representations by content type (CSV, binary downloads). */
  content?: Record<string, TSchema>;
  /** An error status worth naming on its own: the shared problem+json body. */
  problem?: boolean;
}

/** A raw streamed request body (dataset files): never parsed or buffered by middleware. */
export interface UploadSpec {
  contentTypes: string[];
  description: string;
}

/** The authenticated caller, with their role in the route's domain. */
export interface Principal {
  userId: string;
  name: string;
  isAdmin: boolean;
  role: RoleName;
}

export interface HandlerContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  /** Null only on public routes. */
  principal: Principal | null;
  requestId: string;
  services: Services;
  /** For streamed uploads and downloads. */
  req: Request;
  res: Response;
}

export type Reply =
  | { kind: 'json'; status: number; body: unknown }
  | { kind: 'raw'; status: number; contentType: string; body: Buffer | string | Readable; headers?: Record<string, string> }
  | { kind: 'empty'; status: 204 };

/** A JSON reply whose body is checked against the response schema's static type. */
export function json<S extends TSchema>(status: number, _schema: S, body: Static<S>): Reply {
  return { kind: 'json', status, body };
}

export function noContent(): Reply {
  return { kind: 'empty', status: 204 };
}

export function raw(status: number, contentType: string, body: Buffer | string | Readable, headers?: Record<string, string>): Reply {
  return headers ? { kind: 'raw', status, contentType, body, headers } : { kind: 'raw', status, contentType, body };
}

export interface RouteDef<P extends TObject, Q extends TObject, B extends TSchema> {
  method: HttpMethod;
  /** OpenAPI form: `/v1/projects/{projectId}`. */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  /** JSON request body. */
  body?: B;
  upload?: UploadSpec;
  /** Documented statuses besides the shared `default` problem response. */
  responses: Record<number, ResponseSpec>;
  /** Method syntax on purpose: handlers are checked against their own route's schemas. */
  handler(ctx: HandlerContext<Static<P>, Static<Q>, Static<B>>): Promise<Reply>;
}

/** A route with its schema types erased, as the router and the document builder see it. */
export interface AnyRoute {
  method: HttpMethod;
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: TObject;
  query?: TObject;
  body?: TSchema;
  upload?: UploadSpec;
  responses: Record<number, ResponseSpec>;
  handler(ctx: HandlerContext<unknown, unknown, unknown>): Promise<Reply>;
}

/** Declares a route; the generic parameters come from its schemas. */
export function route<P extends TObject, Q extends TObject, B extends TSchema>(def: RouteDef<P, Q, B>): AnyRoute {
  return def;
}

/** `/v1/projects/{projectId}` → `/v1/projects/:projectId` (Express 5 / path-to-regexp 8). */
export function expressPath(openApiPath: string): string {
  return openApiPath.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');
}

/** The caller of a route that needs a token (the guard has authenticated them). */
export function requirePrincipal(principal: Principal | null): Principal {
  if (!principal) throw new Error('a token-protected route ran without a principal');
  return principal;
}
