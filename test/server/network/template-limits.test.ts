/**
 * The template limits (server/network/template-limits.ts): the hexagon prescan counts what
 * the parser would read, before it reads it; the work estimate bounds the real topology
 * from above; and the canonical-text summary equals what a parse gives.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { interfacesOfCanonicalText, parseTemplate, readCanonicalInterfaces, templateToJson, templateToText } from '../../../server/network/template.js';
import { estimateTemplateWork, HEXAGON_WORK, prescanTemplate, TemplateTooLargeError } from '../../../server/network/template-limits.js';
import { buildTopology } from '../../../server/network/topology.js';
import { blockTemplate } from '../../fixtures/templates.js';

const NO_LIMITS = { maxHexagons: Number.MAX_SAFE_INTEGER, maxWork: Number.MAX_SAFE_INTEGER };

describe('template limits', () => {
  it('the prescan counts hexagons in text and JSON without parsing, and refuses over the limit', () => {
    const text = blockTemplate(4, 3, 2, 2);
    const commented = text.replace('hexagons:\n', 'hexagons:   # the grid\n    # a comment line\n\n');
    for (const t of [text, commented, templateToJson(parseTemplate(text))]) {
      prescanTemplate(t, { maxHexagons: 24, maxWork: 1 });
      assert.throws(
        () => prescanTemplate(t, { maxHexagons: 23, maxWork: 1 }),
        (e: unknown) => e instanceof TemplateTooLargeError && e.details.estimate === 24 && e.details.limit?.name === 'HANAMI_TEMPLATE_MAX_HEXAGONS',
      );
    }
  });

  it('the estimate is an upper bound of the real work, and not wildly above it for blocks', () => {
    const cases: [number, number, number, number][] = [
      [3, 3, 3, 1],
      [4, 4, 4, 4],
      [6, 6, 6, 16],
      [12, 12, 1, 16],
      [5, 8, 3, 7],
    ];
    for (const [nx, ny, nz, d] of cases) {
      const t = parseTemplate(blockTemplate(nx, ny, nz, d));
      const topology = buildTopology(t, 1);
      const real = t.hexagons.length * HEXAGON_WORK + topology.reach.reduce((sum, r) => sum + r.length, 0);
      const { work } = estimateTemplateWork(t);
      assert.ok(work >= real, `${nx}x${ny}x${nz} d${d}: estimate ${work} >= real ${real}`);
      assert.ok(work <= real * 8, `${nx}x${ny}x${nz} d${d}: estimate ${work} within 8x of real ${real}`);
    }
  });

  it('parseTemplate with limits refuses before building the topology, naming limit and estimate', () => {
    const big = blockTemplate(12, 12, 12, 16);
    const started = performance.now();
    assert.throws(
      () => parseTemplate(big, { maxHexagons: 10_000, maxWork: 2_000_000 }),
      (e: unknown) => e instanceof TemplateTooLargeError && e.details.limit?.name === 'HANAMI_TEMPLATE_MAX_WORK' && (e.details.estimate ?? 0) > 2_000_000,
    );
    assert.ok(performance.now() - started < 2000, 'refused without doing the work');
    assert.doesNotThrow(() => parseTemplate(big, NO_LIMITS));
  });

  it('the summary read from canonical text equals the parse', () => {
    const texts = [DEFAULT_TEMPLATE, blockTemplate(3, 2, 2, 3), 'version: 1\nhexagons:\n  1,1\n  2,1\n  3,1\ninputs:\n  x: 1,1 (binary)\n  y: 2,1\noutputs:\n  out_1: 3,1 (int)\n'];
    for (const text of texts) {
      const t = parseTemplate(text);
      const canonical = templateToText(t);
      const expected = { hexagons: t.hexagons.length, inputs: t.inputs.map((i) => i.name), outputs: t.outputs.map((o) => o.name) };
      assert.deepEqual(readCanonicalInterfaces(canonical), expected);
      assert.deepEqual(interfacesOfCanonicalText(templateToJson(t)), expected, 'other forms fall back to a parse');
    }
  });
});
