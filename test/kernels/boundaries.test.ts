/**
 * The two backends import nothing from each other (docs/architecture.md, "Rooms"): the import
 * graph of the sources of kernels/ and cpu-fallback/, read from the files themselves.
 *
 * - kernels/** imports only kernels/ files (and packages: node builtins, `webgpu`);
 * - kernels/ outside kernels/webgpu/ (layout, state, growth, rng, the contract, the step
 *   registry) imports nothing from kernels/webgpu/ and no package but node builtins: it is
 *   what both backends share;
 * - cpu-fallback/** imports only cpu-fallback/ files, kernels/ files outside kernels/webgpu/
 *   and node builtins;
 * - so, transitively, nothing cpu-fallback/ loads reaches kernels/webgpu/, and nothing
 *   kernels/ loads reaches cpu-fallback/.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

/** The repository root (this file runs from dist/test/kernels/). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface Imports {
  /** Source files imported (paths from the root). */
  files: string[];
  /** Package specifiers (node:fs, webgpu, ...). */
  packages: string[];
}

function sourcesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const path = `${dir}/${name}`;
    if (statSync(join(ROOT, path)).isDirectory()) out.push(...sourcesUnder(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Static imports and re-exports, dynamic imports, and worker scripts (`new URL('./x.js',
 *  import.meta.url)`) of one source file. */
function importsOf(file: string): Imports {
  const text = readFileSync(join(ROOT, file), 'utf8');
  const specifiers = [
    ...[...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/gms)].map((m) => m[1]!),
    ...[...text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)].map((m) => m[1]!),
    ...[...text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!),
    ...[...text.matchAll(/new URL\(\s*['"](\.{1,2}\/[^'"]+\.js)['"]\s*,\s*import\.meta\.url\s*\)/g)].map((m) => m[1]!),
  ];
  const files: string[] = [];
  const packages: string[] = [];
  for (const spec of specifiers) {
    if (!spec.startsWith('.')) {
      packages.push(spec);
      continue;
    }
    const target = relative(ROOT, join(ROOT, dirname(file), spec)).replace(/\.js$/, '.ts');
    assert.ok(existsSync(join(ROOT, target)), `${file}: "${spec}" resolves to ${target}, which does not exist`);
    files.push(target);
  }
  return { files, packages };
}

const inKernels = (f: string): boolean => f.startsWith('kernels/');
const inWebGpu = (f: string): boolean => f.startsWith('kernels/webgpu/');
const inCpu = (f: string): boolean => f.startsWith('cpu-fallback/');
const isNodeBuiltin = (p: string): boolean => p.startsWith('node:');

const KERNELS = sourcesUnder('kernels');
const CPU = sourcesUnder('cpu-fallback');

test('the rooms have sources to check', () => {
  assert.ok(KERNELS.some(inWebGpu) && KERNELS.some((f) => !inWebGpu(f)) && CPU.length > 3, `${KERNELS.length} kernels/, ${CPU.length} cpu-fallback/ files`);
});

test('kernels/ imports only kernels/ files', () => {
  for (const file of KERNELS) {
    const { files } = importsOf(file);
    assert.deepEqual(
      files.filter((f) => !inKernels(f)),
      [],
      `${file} imports outside kernels/`,
    );
  }
});

test('the shared part of kernels/ imports nothing of kernels/webgpu/ and no package but node builtins', () => {
  for (const file of KERNELS.filter((f) => !inWebGpu(f))) {
    const { files, packages } = importsOf(file);
    assert.deepEqual(files.filter(inWebGpu), [], `${file} imports the WebGPU backend`);
    assert.deepEqual(
      packages.filter((p) => !isNodeBuiltin(p)),
      [],
      `${file} imports packages`,
    );
  }
});

test('cpu-fallback/ imports only its own files, the shared part of kernels/, and node builtins', () => {
  for (const file of CPU) {
    const { files, packages } = importsOf(file);
    assert.deepEqual(
      files.filter((f) => !inCpu(f) && !(inKernels(f) && !inWebGpu(f))),
      [],
      `${file} imports outside its room and the shared kernels`,
    );
    assert.deepEqual(
      packages.filter((p) => !isNodeBuiltin(p)),
      [],
      `${file} imports packages`,
    );
  }
});

test('transitively, the CPU backend never loads kernels/webgpu/, and kernels/ never loads cpu-fallback/', () => {
  const reach = (start: string[]): Set<string> => {
    const seen = new Set<string>();
    const todo = [...start];
    while (todo.length > 0) {
      const file = todo.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      todo.push(...importsOf(file).files);
    }
    return seen;
  };
  assert.deepEqual([...reach(CPU)].filter(inWebGpu), [], 'kernels/webgpu/ files loaded by cpu-fallback/');
  assert.deepEqual([...reach(KERNELS)].filter(inCpu), [], 'cpu-fallback/ files loaded by kernels/');
  // The graph is read right: the CPU backend does load the contract, its worker and the layout.
  const cpu = reach(['cpu-fallback/backend.ts']);
  for (const f of ['kernels/contract.ts', 'cpu-fallback/worker.ts', 'kernels/layout.ts']) assert.ok(cpu.has(f), `cpu-fallback/backend.ts reaches ${f}`);
  assert.ok(reach(['kernels/webgpu/backend.ts']).has('kernels/contract.ts'), 'the WebGPU backend reaches the contract');
});
