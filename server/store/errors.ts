/**
 * Helpers shared by both Store implementations: turning driver errors into our error classes
 * (so no driver error ever leaves the store), and normalising page requests.
 */
import { StoreError, type Page, type Paged } from './types.js';

export const DEFAULT_PAGE_LIMIT = 100;
export const MAX_PAGE_LIMIT = 1000;

/** A page request with both fields resolved: offset ≥ 0, 1 ≤ limit ≤ 1000 (default 100).
 *  Out-of-range values are clamped rather than rejected: the API validates what users send,
 *  so anything odd here comes from our own code and clamping keeps queries bounded. */
export function resolvePage(page: Page | undefined): { offset: number; limit: number } {
  const offset = wholeNumberOr(page?.offset, 0);
  const limit = wholeNumberOr(page?.limit, DEFAULT_PAGE_LIMIT);
  return { offset: Math.max(0, offset), limit: Math.min(MAX_PAGE_LIMIT, Math.max(1, limit)) };
}

function wholeNumberOr(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.floor(value) : fallback;
}

export function pagedResult<T>(items: T[], total: number, page: { offset: number; limit: number }): Paged<T> {
  return { items, total, offset: page.offset, limit: page.limit };
}

/** A StoreError that keeps the driver's error as `cause` (for logs) without exposing its type. */
export function wrapDriverError(backend: string, operation: string, cause: unknown): StoreError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  const error = new StoreError(`${backend}: ${operation} failed: ${detail}`);
  Object.defineProperty(error, 'cause', { value: cause, enumerable: false, configurable: true, writable: true });
  return error;
}

/** Passes our own errors through and wraps everything else. */
export function asStoreError(backend: string, operation: string, error: unknown): StoreError {
  return error instanceof StoreError ? error : wrapDriverError(backend, operation, error);
}

export function closedStoreError(): StoreError {
  return new StoreError('the store is closed');
}

export function notInitialisedError(): StoreError {
  return new StoreError('the store is not initialised: call init() first');
}
