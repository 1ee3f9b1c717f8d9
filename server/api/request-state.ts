/**
 * Per-request facts collected on the way (route pattern, caller, project), read by the
 * metrics, access log and audit log when the response finishes. Kept in a WeakMap rather
 * than on `res.locals` (typed `any`) so every access stays typed.
 */
import type { Request } from 'express';
import type { AuthenticatedUser } from '../auth/authenticate.js';
import type { Principal } from './route.js';

export interface RequestState {
  requestId: string;
  startedAt: bigint;
  /** Route pattern (Express form), once a route matched. */
  route?: string;
  principal?: Principal | null;
  /** Who the bearer token stands for, once it was checked (before validation). */
  user?: AuthenticatedUser;
  projectId?: string;
  /** A user the request acted as without a token (login). */
  actingUserId?: string;
}

const states = new WeakMap<Request, RequestState>();

export function setRequestState(req: Request, state: RequestState): void {
  states.set(req, state);
}

export function requestState(req: Request): RequestState {
  let state = states.get(req);
  if (!state) {
    state = { requestId: 'unknown', startedAt: process.hrtime.bigint() };
    states.set(req, state);
  }
  return state;
}
