/**
 * The WGSL declarations are generated from kernels/layout.ts and kernels/webgpu/records.ts:
 * every record field appears at its offset, every numeric constant with its value, and the
 * kernels use the generated names only (a kernel must not hard-code what layout.ts defines).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as layout from '../../../kernels/layout.js';
import { GPU_RECORDS } from '../../../kernels/webgpu/records.js';
import { wgslField, wgslPrelude } from '../../../kernels/webgpu/prelude.js';
import { KERNEL_FILES, kernelDirectory, shaderSource } from '../../../kernels/webgpu/shaders.js';

function structFields(source: string, name: string): string[] {
  const body = new RegExp(`struct ${name} \\{([^}]*)\\}`).exec(source);
  assert.ok(body, `struct ${name} is declared`);
  return body[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.replace(/\/\/.*/, '').trim());
}

test("record structs have the layout descriptors' fields, types and order", () => {
  const source = wgslPrelude();
  for (const record of [layout.SECTION_RECORD, layout.NEURON_RECORD, ...GPU_RECORDS.map((r) => r.layout)]) {
    assert.deepEqual(
      structFields(source, record.name),
      record.fields.map((f) => `${wgslField(f.name)}: ${f.type},`),
      record.name,
    );
  }
  assert.deepEqual(
    structFields(source, 'SynapsePage'),
    layout.SYNAPSE_PAGE_COLUMNS.map((c) => `${wgslField(c.name)}: array<${c.type}, ${layout.SYNAPSES_PER_PAGE}>,`),
  );
  // The page columns in PAGE_*_COLUMN order, so pages[p] has the bytes of a host page.
  assert.deepEqual(
    layout.SYNAPSE_PAGE_COLUMNS.map((c) => c.name),
    ['weight', 'border', 'meta'],
  );
  assert.equal(layout.PAGE_WEIGHT_COLUMN, 0);
  assert.equal(layout.PAGE_BORDER_COLUMN, 1);
  assert.equal(layout.PAGE_META_COLUMN, 2);
});

test('every numeric constant of layout.ts is declared with its value', () => {
  const source = wgslPrelude();
  let count = 0;
  for (const [name, value] of Object.entries(layout)) {
    if (typeof value !== 'number') continue;
    const m = new RegExp(`^const ${name} = (.*);$`, 'm').exec(source);
    assert.ok(m, `${name} is declared`);
    assert.equal(Number(m[1]), value, name);
    count++;
  }
  assert.ok(count > 40);
  for (const [key, value] of Object.entries(layout.SectionKind)) assert.match(source, new RegExp(`^const SECTION_KIND_${key.toUpperCase()} = ${value};$`, 'm'));
});

test('the kernels do not hard-code layout values', () => {
  const dir = kernelDirectory();
  for (const file of KERNEL_FILES) {
    const text = readFileSync(`${dir}${file}`, 'utf8').replace(/\/\/.*$/gm, '');
    // Sizes, learning rates and growth constants only ever appear by name.
    for (const literal of ['65536', '128u', '1.5', '1.3', '0.49', '0.05', '0.7', '300', '0.2']) assert.ok(!text.includes(literal), `${file} contains ${literal}`);
  }
  assert.ok(shaderSource().startsWith(wgslPrelude()));
});
