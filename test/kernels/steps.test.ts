/**
 * The step registry (kernels/steps.ts) against the sources it describes: every WGSL file and
 * compute entry point is listed, every TypeScript twin it names is exported where it says, and
 * every twin test file names its steps (whether they then passed is checked inside those
 * files, by TwinSteps.checkAll of test/fixtures/gpu-twin.ts).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ENGINE_STEPS, ENTRY_POINTS, KERNEL_FILES, SHARED_KERNEL_FILES } from '../../kernels/steps.js';

/** The repository root (this file runs from dist/test/kernels/). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function source(path: string): string {
  return readFileSync(`${ROOT}${path}`, 'utf8');
}

/** Names of the `@compute` functions of a WGSL source. */
function computeEntryPoints(wgsl: string): string[] {
  return [...wgsl.matchAll(/@compute\b[^{;]*?\bfn\s+([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

test('step ids and entry points are unique', () => {
  const ids = ENGINE_STEPS.map((s) => s.id);
  assert.deepEqual([...new Set(ids)], ids);
  assert.deepEqual([...new Set(ENTRY_POINTS)], [...ENTRY_POINTS]);
});

test('every .wgsl file of kernels/ is in the registry, and every file the registry names exists', () => {
  const onDisk = readdirSync(`${ROOT}kernels`)
    .filter((f) => f.endsWith('.wgsl'))
    .sort();
  assert.deepEqual([...KERNEL_FILES].sort(), onDisk);
});

test('every compute entry point of every .wgsl file is listed for its file, and only those', () => {
  for (const file of KERNEL_FILES) {
    const found = computeEntryPoints(source(`kernels/${file}`)).sort();
    const listed = ENGINE_STEPS.filter((s) => s.wgsl === file && s.entryPoint !== null)
      .map((s) => s.entryPoint as string)
      .sort();
    assert.deepEqual(found, listed, `${file}: entry points in the file vs the registry`);
  }
  const stepFiles: string[] = ENGINE_STEPS.map((s) => s.wgsl);
  for (const shared of SHARED_KERNEL_FILES) assert.ok(!stepFiles.includes(shared.wgsl), `${shared.wgsl} is shared, not a step's`);
  // A step without an entry point of its own runs inside another's: its file must be a step file.
  for (const step of ENGINE_STEPS.filter((s) => s.entryPoint === null)) assert.deepEqual(computeEntryPoints(source(`kernels/${step.wgsl}`)), [], step.id);
});

test('every TypeScript twin the registry names is an exported function of its module', async () => {
  for (const step of ENGINE_STEPS) {
    assert.ok(step.typescript.length > 0, `${step.id} names its CPU twin`);
    for (const twin of step.typescript) {
      assert.ok(existsSync(`${ROOT}${twin.module}`), `${step.id}: ${twin.module} exists`);
      const compiled = new URL(`../../${twin.module.replace(/\.ts$/, '.js')}`, import.meta.url);
      const module = (await import(compiled.href)) as Record<string, unknown>;
      for (const name of twin.functions) assert.equal(typeof module[name], 'function', `${step.id}: ${twin.module} exports ${name}`);
    }
  }
});

test('every twin test file names the steps the registry assigns to it, and checks they passed', () => {
  const files = [...new Set(ENGINE_STEPS.map((s) => s.twinTest))];
  for (const file of files) {
    const text = source(file);
    assert.ok(text.includes(`new TwinSteps('${file}')`), `${file} records its steps under its own name`);
    assert.ok(text.includes('twins.checkAll()'), `${file} checks that its steps passed`);
    // The step lists of `twins.it([...], title, ...)` calls (conditional lists included).
    const named = new Set<string>();
    for (const call of text.split('twins.it(').slice(1)) {
      const head = call.slice(0, call.indexOf('async'));
      for (const list of head.match(/\[[^\]]*\]/g) ?? []) for (const m of list.matchAll(/'([a-z-]+)'/g)) named.add(m[1]!);
    }
    const assigned = ENGINE_STEPS.filter((s) => s.twinTest === file).map((s) => s.id);
    assert.deepEqual(
      assigned.filter((id) => !named.has(id)),
      [],
      `${file}: registry steps without a twin test`,
    );
    assert.deepEqual(
      [...named].filter((id) => !assigned.includes(id as (typeof assigned)[number])),
      [],
      `${file}: twin tests of steps the registry puts elsewhere`,
    );
  }
});
