/**
 * The service's own address (`/`): someone who types it into a browser is sent where they can
 * start. Today that is Swagger UI; a dashboard will take `/` over later, which is a change of
 * HOME_TARGET (or of this handler) only.
 */
import type { NextFunction, Request, Response } from 'express';
import { DOCS_PATH } from './not-found.js';

/** Where `/` sends people. */
export const HOME_TARGET = DOCS_PATH;

/**
 * `GET /` and `HEAD /` → 302 to HOME_TARGET. A middleware rather than a route: `/` is not an
 * operation of the API, so it stays out of the document (and out of the route/document
 * parity test), like `/docs`.
 */
export function homeRedirect(req: Request, res: Response, next: NextFunction): void {
  if (req.path !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) {
    next();
    return;
  }
  res.redirect(302, HOME_TARGET);
}
