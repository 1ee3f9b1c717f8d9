/**
 * Bounds on the work a template costs, checked before the work is done.
 *
 * Parsing is linear in the text, but building the topology is not: every hexagon's reach (the
 * hexagons its target walk can end on) is found by a breadth-first search of up to
 * `max_connection_distance` forward hops, and kept. A dense 30×30×30 block with distance 16
 * is only 319 KiB of text, yet its reach lists hold tens of millions of entries: 12 s on the
 * event loop and 600 MiB. So two checks run first:
 *
 * 1. {@link prescanTemplate}, on the raw text, before anything is allocated: an upper bound
 *    of the hexagon count (entry lines of the `hexagons:` block, or elements of the JSON
 *    `"hexagons"` array), against `maxHexagons`. The parser's own allocations are linear in
 *    what passes.
 * 2. {@link estimateTemplateWork}, on the parsed template, before the topology is built: an
 *    upper bound of the reach entries, `Σ over non-output hexagons of min(hexagons − 1, the
 *    forward cone of max_connection_distance hops that fits in the template's bounding
 *    box)`, plus HEXAGON_WORK per hexagon (its neighbour table and bookkeeping), against
 *    `maxWork`.
 *
 * Both refuse with `template_too_large` (422) naming the limit, its setting and the estimate.
 */
import { createScanner } from 'jsonc-parser';
import { DomainError } from '../errors.js';
import type { ClusterTemplate } from './template-types.js';
import { FORWARD_SIDES, formatPosition, neighbourPosition } from './topology.js';
import type { Position } from './template-types.js';

/** The limits (server/config.ts has their defaults and docs/configuration.md their story). */
export interface TemplateLimits {
  /** Hexagons in one template (HANAMI_TEMPLATE_MAX_HEXAGONS). */
  maxHexagons: number;
  /** Reach entries plus neighbour slots the topology may need (HANAMI_TEMPLATE_MAX_WORK). */
  maxWork: number;
}

/**
 * What one hexagon costs besides its reach, in reach entries: its 12 neighbour lookups (by
 * position key), its place in the processing order and its share of the checks. Measured: a
 * 30×30×30 block with distance 1 (27,000 hexagons, reach ≤ 6) takes about as long as
 * 2 million reach entries of a distance-16 block.
 */
export const HEXAGON_WORK = 64;

/** What a template would cost. */
export interface TemplateWork {
  hexagons: number;
  /** Upper bound of one hexagon's reach. */
  reachBound: number;
  /** HEXAGON_WORK per hexagon plus the reach entries (upper bound). */
  work: number;
}

export class TemplateTooLargeError extends DomainError {
  constructor(message: string, limit: { name: string; value: number }, estimate: number) {
    super('template_too_large', message, { limit, estimate });
    this.name = 'TemplateTooLargeError';
  }
}

// ---------------------------------------------------------------------------------------
// 1. Before parsing: the hexagon count, from the raw text

/** Entry lines of the text syntax's `hexagons:` block (comments and blank lines skipped). */
function textHexagonLines(text: string): number {
  let count = 0;
  let inHexagons = false;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    let line = text.slice(start, end);
    const hash = line.indexOf('#');
    if (hash >= 0) line = line.slice(0, hash);
    line = line.trim();
    if (line !== '') {
      const header = /^([A-Za-z_]+)\s*:$/.exec(line);
      if (header) inHexagons = header[1] === 'hexagons';
      else if (inHexagons) count++;
    }
    start = end + 1;
  }
  return count;
}

/** Elements of the top-level `"hexagons"` array of a JSON template (scanned, not parsed). */
function jsonHexagonElements(text: string): number {
  const scanner = createScanner(text, true);
  let depth = 0;
  let key: string | undefined;
  let inHexagons = false;
  let count = 0;
  let expectValue = false;
  for (let token = scanner.scan(); token !== 17 /* EOF */; token = scanner.scan()) {
    switch (token) {
      case 1: // {
      case 3: // [
        if (inHexagons && depth === 2 && expectValue) {
          count++;
          expectValue = false;
        }
        if (depth === 1 && token === 3 && key === 'hexagons') {
          inHexagons = true;
          expectValue = true;
        }
        depth++;
        break;
      case 2: // }
      case 4: // ]
        depth--;
        if (depth === 1) inHexagons = false;
        break;
      case 5: // ,
        if (inHexagons && depth === 2) expectValue = true;
        break;
      case 10: // string
        if (depth === 1) key = scanner.getTokenValue();
        else if (inHexagons && depth === 2 && expectValue) {
          count++;
          expectValue = false;
        }
        break;
      default:
        if (inHexagons && depth === 2 && expectValue && token !== 15 && token !== 14 && token !== 12 && token !== 13) {
          count++;
          expectValue = false;
        }
    }
  }
  return count;
}

/**
 * An upper bound of the template's hexagons, found without building anything: refused when
 * over `maxHexagons`. (Malformed text is left to the parser, which reports it with its line.)
 */
export function prescanTemplate(text: string, limits: TemplateLimits): void {
  const hexagons = /^\s*\{/.test(text) ? jsonHexagonElements(text) : textHexagonLines(text);
  if (hexagons > limits.maxHexagons) {
    throw new TemplateTooLargeError(
      `the template declares ${hexagons} hexagons; at most ${limits.maxHexagons} are allowed (HANAMI_TEMPLATE_MAX_HEXAGONS)`,
      { name: 'HANAMI_TEMPLATE_MAX_HEXAGONS', value: limits.maxHexagons },
      hexagons,
    );
  }
}

// ---------------------------------------------------------------------------------------
// 2. Before the topology: the reach entries

/** Per distance: the forward-walk offsets (dx, dy, dz) from an even and from an odd row. */
const coneCache = new Map<number, Position[][]>();

/** Every offset a walk of up to `distance` forward hops reaches from (0, parity, 0). */
function coneOffsets(distance: number): Position[][] {
  let cached = coneCache.get(distance);
  if (cached) return cached;
  cached = [0, 1].map((parity) => {
    const origin = { x: 0, y: parity, z: 0 };
    const seen = new Set([formatPosition(origin)]);
    const offsets: Position[] = [];
    let level = [origin];
    for (let hop = 0; hop < distance; hop++) {
      const next: Position[] = [];
      for (const p of level) {
        for (const side of FORWARD_SIDES) {
          const q = neighbourPosition(p, side);
          const key = formatPosition(q);
          if (seen.has(key)) continue;
          seen.add(key);
          next.push(q);
          offsets.push({ x: q.x, y: q.y - parity, z: q.z });
        }
      }
      level = next;
    }
    return offsets;
  });
  coneCache.set(distance, cached);
  return cached;
}

/** The largest forward cone that fits in a box of these extents (max − min per axis). */
function coneInBox(distance: number, extent: Position): number {
  let best = 0;
  for (const offsets of coneOffsets(distance)) {
    let n = 0;
    for (const o of offsets) if (Math.abs(o.x) <= extent.x && Math.abs(o.y) <= extent.y && Math.abs(o.z) <= extent.z) n++;
    best = Math.max(best, n);
  }
  return best;
}

/** An upper bound of what building this template's topology costs (see the file comment). */
export function estimateTemplateWork(t: ClusterTemplate): TemplateWork {
  const hexagons = t.hexagons.length;
  const min = { x: Infinity, y: Infinity, z: Infinity };
  const max = { x: -Infinity, y: -Infinity, z: -Infinity };
  for (const { position: p } of t.hexagons) {
    min.x = Math.min(min.x, p.x);
    min.y = Math.min(min.y, p.y);
    min.z = Math.min(min.z, p.z);
    max.x = Math.max(max.x, p.x);
    max.y = Math.max(max.y, p.y);
    max.z = Math.max(max.z, p.z);
  }
  const extent = hexagons === 0 ? { x: 0, y: 0, z: 0 } : { x: max.x - min.x + 1, y: max.y - min.y, z: max.z - min.z };
  const outputs = new Set(t.outputs.map((o) => formatPosition(o.position))).size;
  const reachBound = Math.min(Math.max(0, hexagons - 1), coneInBox(t.settings.maxConnectionDistance, extent));
  return { hexagons, reachBound, work: hexagons * HEXAGON_WORK + Math.max(0, hexagons - outputs) * reachBound };
}

/** Refuses a parsed template whose topology would cost more than `maxWork`. */
export function checkTemplateWork(t: ClusterTemplate, limits: TemplateLimits): TemplateWork {
  const work = estimateTemplateWork(t);
  if (work.hexagons > limits.maxHexagons) {
    throw new TemplateTooLargeError(
      `the template has ${work.hexagons} hexagons; at most ${limits.maxHexagons} are allowed (HANAMI_TEMPLATE_MAX_HEXAGONS)`,
      { name: 'HANAMI_TEMPLATE_MAX_HEXAGONS', value: limits.maxHexagons },
      work.hexagons,
    );
  }
  if (work.work > limits.maxWork) {
    throw new TemplateTooLargeError(
      `building this template's topology would take up to ${work.work} steps (${work.hexagons} hexagons, each reaching up to ${work.reachBound} others ` +
        `within max_connection_distance ${t.settings.maxConnectionDistance}); at most ${limits.maxWork} are allowed (HANAMI_TEMPLATE_MAX_WORK). ` +
        'Use fewer hexagons or a shorter max_connection_distance',
      { name: 'HANAMI_TEMPLATE_MAX_WORK', value: limits.maxWork },
      work.work,
    );
  }
  return work;
}
