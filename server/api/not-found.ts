/**
 * What a request for no known address gets. API clients get the `no_route` problem, whose
 * detail says where the API is described; a browser (it prefers HTML to JSON) gets a small
 * page with links to the same places instead of raw JSON. The page is static apart from the
 * method, path and request id, which are HTML-escaped, and it is served under a CSP that
 * allows nothing to load or run.
 */
import type { Request, Response } from 'express';
import { cut } from './validation-errors.js';

/** Where people start: Swagger UI, and the document it shows. */
export const DOCS_PATH = '/docs';
export const DOCUMENT_PATH = '/openapi.json';

export function noRouteDetail(method: string, path: string): string {
  return `no route ${method} ${cut(path)}; the API lives under /v1: see ${DOCS_PATH} (Swagger UI) or ${DOCUMENT_PATH} (the OpenAPI document)`;
}

/**
 * Whether the client would rather read HTML than JSON: browsers list text/html first; curl,
 * fetch and API clients send no preference (`*\/*`) or ask for JSON and keep the problem.
 */
export function prefersHtml(req: Request): boolean {
  return req.accepts([PROBLEM_JSON, 'application/json', 'text/html']) === 'text/html';
}

const PROBLEM_JSON = 'application/problem+json';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

/** Nothing on the page loads or runs anything; it cannot be framed. */
const PAGE_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export function notFoundPage(method: string, path: string, requestId: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Not found · Hanami</title>
</head>
<body>
<h1>Not found</h1>
<p>This Hanami service has nothing at <code>${escapeHtml(method)} ${escapeHtml(cut(path))}</code>.</p>
<p>The API lives under <code>/v1</code>. Browse it with <a href="${DOCS_PATH}">Swagger UI at ${DOCS_PATH}</a>, or read <a href="${DOCUMENT_PATH}">the OpenAPI document at ${DOCUMENT_PATH}</a>.</p>
<p><small>Request id ${escapeHtml(requestId)}</small></p>
</body>
</html>
`;
}

export function sendNotFoundPage(res: Response, method: string, path: string, requestId: string): void {
  res.status(404).setHeader('Content-Security-Policy', PAGE_POLICY);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.type('html').send(notFoundPage(method, path, requestId));
}
