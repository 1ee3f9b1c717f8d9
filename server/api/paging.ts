/** Page parameters as the store takes them, and store pages as the API returns them. */
import type { Page, Paged } from '../store/types.js';

export function pageOf(query: { offset?: number | undefined; limit?: number | undefined }): Page {
  return { offset: query.offset ?? 0, limit: query.limit ?? 100 };
}

export function mapPage<T, U>(page: Paged<T>, view: (item: T) => U): { items: U[]; total: number; offset: number; limit: number } {
  return { items: page.items.map(view), total: page.total, offset: page.offset, limit: page.limit };
}

/** Reads every page of a store list (for start-up scans and small admin views). */
export async function readAll<T>(list: (page: Page) => Promise<Paged<T>>): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ;) {
    const page = await list({ offset, limit: 1000 });
    out.push(...page.items);
    offset += page.items.length;
    if (page.items.length === 0 || offset >= page.total) return out;
  }
}
