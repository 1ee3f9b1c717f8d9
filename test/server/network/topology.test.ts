import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { parseTemplate } from '../../../server/network/template.js';
import { TemplateError, type ClusterTemplate, type Position } from '../../../server/network/template-types.js';
import { FORWARD_SIDES, SIDE_COUNT, TARGET_SLOTS, buildTopology, columnOf, neighbourPosition, neighbours, oppositeSide } from '../../../server/network/topology.js';

/** A straight line of hexagons x = 1..n at y = 1, z = 1 with an input on the first. */
function lineTemplate(n: number, opts: { distance?: number; output?: number; axons?: string } = {}): ClusterTemplate {
  const hexagons = Array.from({ length: n }, (_, i) => ` ${i + 1},1,1`).join('\n');
  return parseTemplate(
    `version: 1\nsettings:\n max_connection_distance: ${opts.distance ?? 1}\nhexagons:\n${hexagons}\n` +
      (opts.axons ? `axons:\n${opts.axons}\n` : '') +
      `inputs:\n in: 1,1,1\noutputs:\n out: ${opts.output ?? n},1,1\n`,
  );
}

/** A w × h × d block of hexagons starting at (0,0,0), input at the origin, output at the far corner. */
function blockTemplate(w: number, h: number, d: number, distance: number): ClusterTemplate {
  const hexagons: string[] = [];
  for (let z = 0; z < d; z++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) hexagons.push(` ${x},${y},${z}`);
  return parseTemplate(`version: 1\nsettings:\n max_connection_distance: ${distance}\nhexagons:\n${hexagons.join('\n')}\n` + `inputs:\n in: 0,0,0\noutputs:\n out: ${w - 1},${h - 1},${d - 1}\n`);
}

function indexOf(t: ClusterTemplate, x: number, y: number, z: number): number {
  return t.hexagons.findIndex((h) => h.position.x === x && h.position.y === y && h.position.z === z);
}

function samplePositions(): Position[] {
  const positions: Position[] = [];
  for (let x = -2; x <= 2; x++) for (let y = -3; y <= 3; y++) for (let z = -1; z <= 1; z++) positions.push({ x, y, z });
  return positions;
}

function errorOf(fn: () => unknown): TemplateError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof TemplateError, String(error));
    return error;
  }
  assert.fail('expected a TemplateError');
}

describe('hex grid geometry', () => {
  it('matches the side table for even and odd rows', () => {
    assert.deepEqual(neighbourPosition({ x: 2, y: 2, z: 1 }, 0), { x: 1, y: 1, z: 0 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 1, z: 1 }, 0), { x: 2, y: 0, z: 0 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 2, z: 1 }, 5), { x: 2, y: 3, z: 1 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 1, z: 1 }, 5), { x: 3, y: 2, z: 1 });
    assert.deepEqual(neighbourPosition({ x: 2, y: -1, z: 1 }, 5), { x: 3, y: 0, z: 1 }); // -1 is odd
    assert.deepEqual(neighbourPosition({ x: 2, y: 1, z: 1 }, 4), { x: 3, y: 1, z: 1 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 1, z: 1 }, 7), { x: 1, y: 1, z: 1 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 1, z: 1 }, 9), { x: 2, y: 1, z: 2 });
    assert.deepEqual(neighbourPosition({ x: 2, y: 0, z: 1 }, 10), { x: 1, y: 1, z: 2 });
  });

  it('returns through the opposite side, for both row parities and negative rows', () => {
    for (const p of samplePositions()) {
      for (let side = 0; side < SIDE_COUNT; side++) {
        assert.deepEqual(neighbourPosition(neighbourPosition(p, side), oppositeSide(side)), p, `side ${side} from ${JSON.stringify(p)}`);
      }
    }
  });

  it('gives 12 distinct neighbours, none of them the cell itself', () => {
    for (const p of samplePositions()) {
      const keys = new Set(Array.from({ length: SIDE_COUNT }, (_, s) => JSON.stringify(neighbourPosition(p, s))));
      assert.equal(keys.size, SIDE_COUNT);
      assert.ok(!keys.has(JSON.stringify(p)));
    }
  });

  it('forward sides strictly increase (column, z) and all others strictly decrease it', () => {
    const key = (p: Position): [number, number] => [columnOf(p), p.z];
    const compare = (a: [number, number], b: [number, number]): number => (a[0] !== b[0] ? a[0] - b[0] : a[1] - b[1]);
    for (const p of samplePositions()) {
      for (let side = 0; side < SIDE_COUNT; side++) {
        const delta = compare(key(neighbourPosition(p, side)), key(p));
        if (FORWARD_SIDES.includes(side)) assert.ok(delta > 0, `forward side ${side} from ${JSON.stringify(p)}`);
        else assert.ok(delta < 0, `side ${side} from ${JSON.stringify(p)}`);
      }
    }
    assert.deepEqual([...FORWARD_SIDES], [9, 3, 1, 4, 11, 5]);
  });

  it('builds a symmetric neighbour table with -1 for missing cells', () => {
    const t = blockTemplate(4, 4, 3, 1);
    const table = neighbours(t);
    assert.equal(table.length, t.hexagons.length);
    table.forEach((row, i) => {
      assert.equal(row.length, SIDE_COUNT);
      row.forEach((n, side) => {
        if (n >= 0) assert.equal(table[n]?.[oppositeSide(side)], i);
      });
    });
    const corner = table[indexOf(t, 0, 0, 0)] as Int32Array;
    assert.equal(corner[7], -1);
    assert.equal(corner[4], indexOf(t, 1, 0, 0));
    // Same answer from bare positions and from hexagon specs.
    assert.deepEqual(neighbours(t.hexagons.map((h) => h.position)), table);
    assert.deepEqual(neighbours(t.hexagons), table);
  });
});

describe('buildTopology: target walk', () => {
  it('with distance 1 on a line, targets the next hexagon only', () => {
    const t = lineTemplate(5, { output: 4 });
    const topo = buildTopology(t, 7);
    assert.equal(topo.targets.length, 5);
    for (let i = 0; i < 3; i++) assert.deepEqual([...(topo.targets[i] as Int32Array)], new Array<number>(TARGET_SLOTS).fill(i + 1));
    // Index 3 is the output hexagon; index 4 has no forward neighbour.
    assert.deepEqual([...(topo.targets[3] as Int32Array)], new Array<number>(TARGET_SLOTS).fill(-1));
    assert.deepEqual([...(topo.targets[4] as Int32Array)], new Array<number>(TARGET_SLOTS).fill(-1));
    assert.deepEqual(topo.reach, [[1], [2], [3], [], []]);
    assert.deepEqual(topo.kinds, ['input', 'hidden', 'hidden', 'output', 'hidden']);
    assert.deepEqual(topo.axonStart, [0, 1, 2, 3, 4]);
  });

  it('with distance 2 splits about evenly between one and two hops', () => {
    const t = lineTemplate(10, { distance: 2 });
    let near = 0;
    let total = 0;
    for (let seed = 0; seed < 10; seed++) {
      const topo = buildTopology(t, seed);
      for (let h = 0; h < 8; h++) {
        const slots = [...(topo.targets[h] as Int32Array)];
        assert.ok(
          slots.every((target) => target === h + 1 || target === h + 2),
          `hexagon ${h}: ${slots.join(',')}`,
        );
        const ones = slots.filter((target) => target === h + 1).length;
        assert.ok(ones > 20 && ones < 66, `hexagon ${h} seed ${seed}: ${ones} of 86 at one hop`);
        near += ones;
        total += slots.length;
      }
      // Next to the end there is nowhere further to go.
      assert.deepEqual([...(topo.targets[8] as Int32Array)], new Array<number>(TARGET_SLOTS).fill(9));
    }
    assert.ok(Math.abs(near / total - 0.5) < 0.05, `fraction at one hop: ${near / total}`);
  });

  it('with distance 3 stops at 1, 2, 3 hops with probability 1/2, 1/4, 1/4', () => {
    const t = lineTemplate(12, { distance: 3 });
    const counts = [0, 0, 0, 0];
    for (let seed = 0; seed < 20; seed++) {
      const topo = buildTopology(t, seed);
      for (let h = 0; h < 8; h++) for (const target of topo.targets[h] as Int32Array) counts[target - h] = (counts[target - h] ?? 0) + 1;
    }
    const total = 20 * 8 * TARGET_SLOTS;
    assert.equal(counts[0], 0);
    assert.ok(Math.abs((counts[1] as number) / total - 0.5) < 0.03, counts.join(','));
    assert.ok(Math.abs((counts[2] as number) / total - 0.25) < 0.03, counts.join(','));
    assert.ok(Math.abs((counts[3] as number) / total - 0.25) < 0.03, counts.join(','));
  });

  it('chooses evenly among the six forward sides', () => {
    const t = blockTemplate(4, 4, 3, 1);
    const h = indexOf(t, 1, 1, 1);
    const table = neighbours(t)[h] as Int32Array;
    const forward = FORWARD_SIDES.map((side) => table[side] as number);
    assert.ok(forward.every((n) => n >= 0));
    const counts = new Map<number, number>();
    for (let seed = 0; seed < 20; seed++) {
      for (const target of buildTopology(t, seed).targets[h] as Int32Array) counts.set(target, (counts.get(target) ?? 0) + 1);
    }
    assert.deepEqual(
      [...counts.keys()].sort((a, b) => a - b),
      [...forward].sort((a, b) => a - b),
    );
    const expected = (20 * TARGET_SLOTS) / 6;
    for (const count of counts.values()) assert.ok(Math.abs(count - expected) < expected * 0.25, `${count} vs ${expected}`);
  });

  it('is deterministic per seed and differs between seeds', () => {
    const t = blockTemplate(4, 4, 3, 3);
    const a = buildTopology(t, 42);
    const b = buildTopology(t, 42);
    const c = buildTopology(t, 43);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a.targets, c.targets);
    assert.deepEqual(a.reach, c.reach);
    assert.deepEqual(a.order, c.order);
  });

  it('only draws targets in reach, and over many seeds draws all of reach', () => {
    for (const distance of [1, 2, 3]) {
      const t = blockTemplate(4, 3, 3, distance);
      const seen = t.hexagons.map(() => new Set<number>());
      for (let seed = 0; seed < 40; seed++) {
        const topo = buildTopology(t, seed);
        topo.targets.forEach((slots, h) => {
          for (const target of slots) if (target >= 0) seen[h]?.add(target);
        });
      }
      const reach = buildTopology(t, 0).reach;
      reach.forEach((targets, h) =>
        assert.deepEqual(
          [...(seen[h] as Set<number>)].sort((x, y) => x - y),
          targets,
          `hexagon ${h}, D ${distance}`,
        ),
      );
    }
  });

  it('starts at the axon target and walks D - 1 further hops', () => {
    const one = buildTopology(lineTemplate(6, { axons: ' 1,1,1 -> 4,1,1' }), 3);
    assert.deepEqual([...(one.targets[0] as Int32Array)], new Array<number>(TARGET_SLOTS).fill(3));
    assert.deepEqual(one.axonStart, [3, 1, 2, 3, 4, 5]);
    assert.deepEqual(one.reach[0], [3]);
    const two = buildTopology(lineTemplate(6, { distance: 2, axons: ' 1,1,1 -> 4,1,1' }), 3);
    assert.deepEqual(two.reach[0], [3, 4]);
    assert.ok([...(two.targets[0] as Int32Array)].every((target) => target === 3 || target === 4));
  });

  it('passes through its own hexagon when an axon leads back before it', () => {
    // Hexagon 3 sends its axon back to the output hexagon 2; a walk continuing from 2 reaches
    // 3 itself, may not stop there, and goes on to 4.
    const t = lineTemplate(4, { distance: 2, output: 2, axons: ' 3,1,1 -> 2,1,1' });
    const topo = buildTopology(t, 1);
    assert.deepEqual(topo.reach, [[1, 2], [], [1, 3], []]);
    assert.deepEqual(new Set(topo.targets[2]), new Set([1, 3]));
    assert.deepEqual(topo.order, [0, 2, 1, 3]);
  });
});

describe('buildTopology: order and validation', () => {
  it('orders sources before targets whatever the template order', () => {
    const t = parseTemplate('version: 1\nhexagons:\n 4,1,1\n 2,1,1\n 1,1,1\n 3,1,1\ninputs:\n i: 1,1,1\noutputs:\n o: 4,1,1\n');
    assert.deepEqual(buildTopology(t, 0).order, [2, 1, 3, 0]);
  });

  it('breaks ties by template order', () => {
    const t = parseTemplate('version: 1\nhexagons:\n 2,3,1\n 1,1,1\n 1,3,1\n 2,1,1\ninputs:\n a: 1,1,1\n b: 1,3,1\noutputs:\n c: 2,1,1\n d: 2,3,1\n');
    assert.deepEqual(buildTopology(t, 0).order, [1, 2, 0, 3]);
  });

  it('puts every hexagon before those it can reach in a 3-D block', () => {
    const t = blockTemplate(4, 4, 3, 3);
    const topo = buildTopology(t, 5);
    assert.deepEqual(
      [...topo.order].sort((a, b) => a - b),
      t.hexagons.map((_, i) => i),
    );
    const rank = new Map(topo.order.map((h, i) => [h, i]));
    topo.reach.forEach((targets, h) => {
      for (const target of targets) assert.ok((rank.get(h) as number) < (rank.get(target) as number));
    });
  });

  it('reports a cycle at an axon on it', () => {
    const t = lineTemplate(4);
    const withCycle: ClusterTemplate = {
      ...t,
      axons: [{ from: { x: 3, y: 1, z: 1 }, to: { x: 1, y: 1, z: 1 }, loc: { line: 20, column: 4 } }],
    };
    // hexagon 1 is the input: 1 -> 2 -> 3 -> (axon) 1
    const error = errorOf(() => buildTopology(withCycle, 0));
    assert.equal(error.line, 20);
    assert.equal(error.column, 4);
    assert.match(error.message, /axon 3,1,1 -> 1,1,1 creates a cycle: 3,1,1 -> 1,1,1 -> 2,1,1 -> 3,1,1/);
  });

  it('reports unreachable outputs and inputs that connect nowhere', () => {
    const t = lineTemplate(5);
    const gap: ClusterTemplate = { ...t, hexagons: t.hexagons.filter((h) => h.position.x !== 3) };
    const unreachable = errorOf(() => buildTopology(gap, 0));
    assert.equal(unreachable.message, `line ${t.outputs[0]?.loc.line}, column ${t.outputs[0]?.loc.column}: output "out" on hexagon 5,1,1 cannot be reached from any input (max_connection_distance 1)`);
    const isolated: ClusterTemplate = { ...t, hexagons: t.hexagons.filter((h) => h.position.x !== 2) };
    const input = errorOf(() => buildTopology(isolated, 0));
    assert.equal(input.line, t.inputs[0]?.loc.line);
    assert.match(input.message, /input "in" on hexagon 1,1,1 cannot connect to any hexagon/);
  });

  it('lets a longer connection distance reach further, but never across gaps', () => {
    const text = 'version: 1\nsettings:\n max_connection_distance: 3\nhexagons:\n 1,1,1\n 2,1,1\n 3,1,1\n 4,1,1\ninputs:\n i: 1,1,1\noutputs:\n o: 4,1,1\n';
    assert.deepEqual(buildTopology(parseTemplate(text), 0).reach[0], [1, 2, 3]);
    assert.throws(() => parseTemplate(text.replace(' 3,1,1\n', '')), TemplateError);
  });

  it('gives output hexagons no targets and no reach', () => {
    const topo = buildTopology(blockTemplate(3, 3, 2, 2), 9);
    const out = topo.kinds.indexOf('output');
    assert.deepEqual(topo.reach[out], []);
    assert.ok([...(topo.targets[out] as Int32Array)].every((target) => target === -1));
  });
});
