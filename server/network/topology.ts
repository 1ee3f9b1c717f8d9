/**
 * Hex-grid geometry of a cluster: which hexagon touches which, where the neurons of each
 * hexagon may send their sections (the 86 target slots drawn by a short random walk), the
 * order in which hexagons are processed, and the checks that make a template usable
 * (no cycles, every output fed by some input).
 *
 * Only the types file and the RNG are imported here, so the template parser can call
 * {@link validateTopology} without an import cycle.
 */

import { randUnit, rand32, RngStream } from '../../kernels/rng.js';
import { TemplateError, type ClusterTemplate, type HexagonSpec, type Position, type SourceLocation } from './template-types.js';

/** Number of target hexagons drawn per hexagon (as in OpenHanami). */
export const TARGET_SLOTS = 86;

/** Number of sides of a hexagon cell in the stacked grid: 6 in-plane, 3 below, 3 above. */
export const SIDE_COUNT = 12;

/**
 * The sides a walk may follow, in the order the walk enumerates them. Each strictly
 * increases (column, z) lexicographically, so walks without axons never cycle.
 * Side 2 (straight down) is excluded on purpose: together with side 9 it would let a
 * 3-D walk come back to where it started.
 */
export const FORWARD_SIDES: readonly number[] = Object.freeze([9, 3, 1, 4, 11, 5]);

/** Per side: [dx when the source y is even, dx when it is odd, dy, dz]. */
const SIDE_OFFSETS: readonly (readonly [number, number, number, number])[] = [
  [-1, 0, -1, -1], // 0
  [0, 1, -1, -1], // 1
  [0, 0, 0, -1], // 2
  [0, 1, -1, 0], // 3
  [1, 1, 0, 0], // 4
  [0, 1, 1, 0], // 5
  [-1, 0, -1, 0], // 6
  [-1, -1, 0, 0], // 7
  [-1, 0, 1, 0], // 8
  [0, 0, 0, 1], // 9
  [-1, 0, 1, 1], // 10
  [0, 1, 1, 1], // 11
];

export type HexagonKind = 'input' | 'output' | 'hidden';

export interface Topology {
  /** hexagon indices in processing order (sources before their targets) */
  order: number[];
  /** per hexagon: 86 target hexagon indices drawn by the walk, -1 = no target */
  targets: Int32Array[];
  /** per hexagon: sorted distinct hexagon indices its neurons can possibly connect to */
  reach: number[][];
  /** per hexagon: 'input' | 'output' | 'hidden' */
  kinds: HexagonKind[];
  /** per hexagon: index of the axon target, or its own index */
  axonStart: number[];
}

// ---------------------------------------------------------------------------------------
// Geometry
// ---------------------------------------------------------------------------------------

/** 0 for even y, 1 for odd y; `%` alone would give -1 for negative odd y. */
export function rowParity(y: number): number {
  return ((y % 2) + 2) % 2;
}

/** Horizontal position on the offset grid: odd rows sit half a cell to the right. */
export function columnOf(p: Position): number {
  return 2 * p.x + rowParity(p.y);
}

/** The side on the other end of a shared face. */
export function oppositeSide(side: number): number {
  return SIDE_COUNT - 1 - side;
}

/** The grid cell touching `p` through `side` (0..11). */
export function neighbourPosition(p: Position, side: number): Position {
  const offsets = SIDE_OFFSETS[side];
  if (offsets === undefined) throw new RangeError(`side ${side} is not in 0..${SIDE_COUNT - 1}`);
  const [dxEven, dxOdd, dy, dz] = offsets;
  const dx = rowParity(p.y) === 0 ? dxEven : dxOdd;
  return { x: p.x + dx, y: p.y + dy, z: p.z + dz };
}

/** Map key of a position; also the way positions are written in messages. */
export function formatPosition(p: Position): string {
  return `${p.x},${p.y},${p.z}`;
}

function positionsOf(source: ClusterTemplate | readonly (Position | HexagonSpec)[]): Position[] {
  const items: readonly (Position | HexagonSpec)[] = 'hexagons' in source ? source.hexagons : source;
  return items.map((item) => ('position' in item ? item.position : item));
}

/** Index of every declared position, keyed by {@link formatPosition}. */
function indexPositions(positions: readonly Position[]): Map<string, number> {
  const index = new Map<string, number>();
  positions.forEach((p, i) => {
    if (!index.has(formatPosition(p))) index.set(formatPosition(p), i);
  });
  return index;
}

/** For each hexagon, its 12 neighbours by side: the neighbour's index, or -1 if absent. */
export function neighbours(source: ClusterTemplate | readonly (Position | HexagonSpec)[]): Int32Array[] {
  const positions = positionsOf(source);
  const index = indexPositions(positions);
  return positions.map((p) => {
    const row = new Int32Array(SIDE_COUNT).fill(-1);
    for (let side = 0; side < SIDE_COUNT; side++) {
      row[side] = index.get(formatPosition(neighbourPosition(p, side))) ?? -1;
    }
    return row;
  });
}

/** Existing forward neighbours of each hexagon, in {@link FORWARD_SIDES} order. */
function forwardNeighbourLists(table: readonly Int32Array[]): number[][] {
  return table.map((row) => FORWARD_SIDES.map((side) => row[side] ?? -1).filter((n) => n >= 0));
}

// ---------------------------------------------------------------------------------------
// Template → per-hexagon facts
// ---------------------------------------------------------------------------------------

/** Everything about a template's hexagons that does not depend on the seed. */
interface Layout {
  forward: number[][];
  axonStart: number[];
  kinds: HexagonKind[];
  reach: number[][];
  order: number[];
  maxDistance: number;
}

/** Index of a declared hexagon, or a TemplateError at `loc` (only for hand-built templates;
 *  the parser has already rejected undeclared positions). */
function requireHexagon(index: Map<string, number>, p: Position, what: string, loc: SourceLocation): number {
  const i = index.get(formatPosition(p));
  if (i === undefined) throw new TemplateError(`${what} is on hexagon ${formatPosition(p)} which is not declared`, loc);
  return i;
}

function axonStarts(t: ClusterTemplate, index: Map<string, number>): number[] {
  const starts = t.hexagons.map((_, i) => i);
  for (const axon of t.axons) {
    const from = requireHexagon(index, axon.from, 'axon source', axon.loc);
    starts[from] = requireHexagon(index, axon.to, 'axon target', axon.loc);
  }
  return starts;
}

function hexagonKinds(t: ClusterTemplate, index: Map<string, number>): HexagonKind[] {
  const kinds: HexagonKind[] = t.hexagons.map(() => 'hidden');
  for (const input of t.inputs) kinds[requireHexagon(index, input.position, `input "${input.name}"`, input.loc)] = 'input';
  for (const output of t.outputs) kinds[requireHexagon(index, output.position, `output "${output.name}"`, output.loc)] = 'output';
  return kinds;
}

/**
 * Every hexagon the target walk of `h` can return. Mirrors {@link walkTarget} rule for rule,
 * so reach is exact: a walk may stop at any hexagon other than h, must stop once
 * hops >= D, and passes through h itself (possible only when an axon leads back towards
 * h) without stopping.
 *
 * Breadth-first, so each hexagon is first met with its fewest hops; meeting it again later
 * cannot add anything, since fewer hops leave at least as much of the budget to go on.
 */
function reachOf(h: number, start: number, forward: readonly number[][], maxDistance: number, scratch: ReachScratch): number[] {
  const mark = ++scratch.generation;
  const found: number[] = [];
  let level = [start];
  let hops = start === h ? 0 : 1;
  scratch.seen[start] = mark;
  while (level.length > 0) {
    const next: number[] = [];
    for (const cur of level) {
      if (cur !== h) {
        found.push(cur);
        if (hops >= maxDistance) continue;
      }
      for (const n of forward[cur] ?? []) {
        if (scratch.seen[n] === mark) continue;
        scratch.seen[n] = mark;
        next.push(n);
      }
    }
    level = next;
    hops++;
  }
  return Array.from(Int32Array.from(found).sort()); // typed sort: numeric and much faster
}

/** Visited marks shared by all reach searches of one template, to avoid a Set per hexagon. */
interface ReachScratch {
  seen: Int32Array;
  generation: number;
}

function layoutOf(t: ClusterTemplate): Layout {
  const index = indexPositions(t.hexagons.map((h) => h.position));
  const forward = forwardNeighbourLists(neighbours(t));
  const axonStart = axonStarts(t, index);
  const kinds = hexagonKinds(t, index);
  const maxDistance = t.settings.maxConnectionDistance;
  // Output neurons never send sections, so output hexagons connect nowhere.
  const scratch: ReachScratch = { seen: new Int32Array(t.hexagons.length), generation: 0 };
  const reach = t.hexagons.map((_, h) => (kinds[h] === 'output' ? [] : reachOf(h, axonStart[h] ?? h, forward, maxDistance, scratch)));
  const order = processingOrder(t, reach, axonStart);
  return { forward, axonStart, kinds, reach, order, maxDistance };
}

// ---------------------------------------------------------------------------------------
// Processing order and cycles
// ---------------------------------------------------------------------------------------

/** Binary min-heap of hexagon indices: Kahn's algorithm takes the lowest ready index so
 *  ties are broken by template order. */
class IndexHeap {
  private readonly items: number[] = [];
  get size(): number {
    return this.items.length;
  }
  push(value: number): void {
    const a = this.items;
    a.push(value);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((a[parent] as number) <= value) break;
      a[i] = a[parent] as number;
      i = parent;
    }
    a[i] = value;
  }
  pop(): number {
    const a = this.items;
    const top = a[0] as number;
    const last = a.pop() as number;
    if (a.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= a.length) break;
      const right = left + 1;
      const child = right < a.length && (a[right] as number) < (a[left] as number) ? right : left;
      if ((a[child] as number) >= last) break;
      a[i] = a[child] as number;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/** Topological order of h → reach[h] (Kahn); a leftover cycle becomes a TemplateError. */
function processingOrder(t: ClusterTemplate, reach: readonly number[][], axonStart: readonly number[]): number[] {
  const inDegree = new Array<number>(reach.length).fill(0);
  for (const targets of reach) for (const target of targets) inDegree[target] = (inDegree[target] ?? 0) + 1;
  const ready = new IndexHeap();
  inDegree.forEach((degree, h) => {
    if (degree === 0) ready.push(h);
  });
  const order: number[] = [];
  while (ready.size > 0) {
    const h = ready.pop();
    order.push(h);
    for (const target of reach[h] ?? []) {
      inDegree[target] = (inDegree[target] ?? 0) - 1;
      if (inDegree[target] === 0) ready.push(target);
    }
  }
  if (order.length < reach.length) throw cycleError(t, reach, inDegree, axonStart);
  return order;
}

/**
 * Finds one cycle among the hexagons Kahn's algorithm could not place. Each of them still
 * has a predecessor that was not placed either, so walking predecessors must repeat.
 */
function findCycle(reach: readonly number[][], inDegree: readonly number[]): number[] {
  const stuck = (h: number): boolean => (inDegree[h] ?? 0) > 0;
  const predecessors: number[][] = reach.map(() => []);
  reach.forEach((targets, h) => {
    if (stuck(h)) for (const target of targets) if (stuck(target)) predecessors[target]?.push(h);
  });
  const stepOf = new Map<number, number>();
  const path: number[] = [];
  let cur = inDegree.findIndex((degree) => degree > 0);
  while (!stepOf.has(cur)) {
    stepOf.set(cur, path.length);
    path.push(cur);
    cur = predecessors[cur]?.[0] ?? cur;
  }
  // path walks backwards along edges; the cycle is its tail from the repeated node.
  return path.slice(stepOf.get(cur)).reverse();
}

/**
 * Edges out of a hexagon without an axon strictly increase (column, z), so every cycle
 * contains a hexagon with an axon; the error names the first such axon in the template.
 */
function cycleError(t: ClusterTemplate, reach: readonly number[][], inDegree: readonly number[], axonStart: readonly number[]): TemplateError {
  const cycle = findCycle(reach, inDegree);
  const index = indexPositions(t.hexagons.map((h) => h.position));
  const onCycle = new Set(cycle);
  const axon = t.axons.find((a) => {
    const from = index.get(formatPosition(a.from)) ?? -1;
    return onCycle.has(from) && axonStart[from] !== from;
  });
  const first = axon ? (index.get(formatPosition(axon.from)) ?? 0) : (cycle[0] ?? 0);
  const rotated = [...cycle.slice(cycle.indexOf(first)), ...cycle.slice(0, cycle.indexOf(first)), first];
  const path = rotated.map((h) => formatPosition((t.hexagons[h] as HexagonSpec).position)).join(' -> ');
  const loc = axon?.loc ?? (t.hexagons[first] as HexagonSpec).loc;
  const what = axon ? `axon ${formatPosition(axon.from)} -> ${formatPosition(axon.to)}` : 'hexagon layout';
  return new TemplateError(`${what} creates a cycle: ${path} (each hexagon must be processed before every hexagon it can connect to)`, loc);
}

// ---------------------------------------------------------------------------------------
// Usability checks
// ---------------------------------------------------------------------------------------

/** An input whose hexagon can connect nowhere would feed nothing. */
function checkInputsConnect(t: ClusterTemplate, layout: Layout, index: Map<string, number>): void {
  for (const input of t.inputs) {
    const h = index.get(formatPosition(input.position)) ?? -1;
    if ((layout.reach[h] ?? []).length === 0) {
      throw new TemplateError(
        `input "${input.name}" on hexagon ${formatPosition(input.position)} cannot connect to any hexagon ` +
          `(it has no forward neighbour and no axon; max_connection_distance ${layout.maxDistance})`,
        input.loc,
      );
    }
  }
}

/** Hexagons reachable, transitively through reach, from any input hexagon. */
function reachableFromInputs(layout: Layout): Set<number> {
  const reached = new Set<number>();
  const stack = layout.kinds.flatMap((kind, h) => (kind === 'input' ? [h] : []));
  for (const h of stack) reached.add(h);
  while (stack.length > 0) {
    for (const next of layout.reach[stack.pop() as number] ?? []) {
      if (!reached.has(next)) {
        reached.add(next);
        stack.push(next);
      }
    }
  }
  return reached;
}

function checkOutputsReached(t: ClusterTemplate, layout: Layout, index: Map<string, number>): void {
  const reached = reachableFromInputs(layout);
  for (const output of t.outputs) {
    if (!reached.has(index.get(formatPosition(output.position)) ?? -1)) {
      throw new TemplateError(
        `output "${output.name}" on hexagon ${formatPosition(output.position)} cannot be reached from any input ` + `(max_connection_distance ${layout.maxDistance})`,
        output.loc,
      );
    }
  }
}

function validatedLayout(t: ClusterTemplate): Layout {
  const layout = layoutOf(t);
  const index = indexPositions(t.hexagons.map((h) => h.position));
  checkInputsConnect(t, layout, index);
  checkOutputsReached(t, layout, index);
  return layout;
}

/**
 * Throws a TemplateError if the template cannot work: a cycle through axons, an input that
 * connects nowhere, or an output no input can reach. Independent of the seed.
 */
export function validateTopology(t: ClusterTemplate): void {
  validatedLayout(t);
}

// ---------------------------------------------------------------------------------------
// Target walk
// ---------------------------------------------------------------------------------------

/**
 * Draws the target of slot `slot` of hexagon `h`. Unlike the reference, the hop count
 * really is bounded by D (it was off by one) and every forward side is equally likely
 * (the reference's direction choice was biased).
 */
function walkTarget(h: number, slot: number, seed: number, layout: Layout): number {
  const counter = h * TARGET_SLOTS + slot;
  let cur = layout.axonStart[h] ?? h;
  let hops = cur === h ? 0 : 1;
  let step = 0;
  for (;;) {
    if (cur !== h && (hops >= layout.maxDistance || randUnit(seed, RngStream.hexagonTargets, counter, step++) < 0.5)) {
      return cur;
    }
    const forward = layout.forward[cur] ?? [];
    if (forward.length === 0) return cur === h ? -1 : cur;
    cur = forward[rand32(seed, RngStream.hexagonTargets, counter, step++) % forward.length] as number;
    hops++;
  }
}

function targetSlots(h: number, seed: number, layout: Layout): Int32Array {
  const slots = new Int32Array(TARGET_SLOTS).fill(-1);
  if (layout.kinds[h] === 'output') return slots; // output neurons never send sections
  for (let k = 0; k < TARGET_SLOTS; k++) slots[k] = walkTarget(h, k, seed, layout);
  return slots;
}

/** Validates the template (see {@link validateTopology}) and draws every hexagon's targets. */
export function buildTopology(template: ClusterTemplate, seed: number): Topology {
  const layout = validatedLayout(template);
  return {
    order: layout.order,
    targets: template.hexagons.map((_, h) => targetSlots(h, seed, layout)),
    reach: layout.reach,
    kinds: layout.kinds,
    axonStart: layout.axonStart,
  };
}
