/**
 * The WGSL source of the backend: the generated prelude (./prelude.ts) followed by the kernel
 * files of kernels/, one per step of the engine, as kernels/steps.ts lists them (WGSL needs no
 * declaration before use at module scope: their order only keeps the module readable). The
 * .wgsl files are read from the source tree at run time (they are not TypeScript, so tsc does
 * not copy them into dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ENTRY_POINTS, type EntryPoint, KERNEL_FILES } from '../steps.js';
import { wgslPrelude } from './prelude.js';

// The files and entry points come from the step registry: a kernel file or entry point
// exists for the backend only once it is listed there with its CPU twin and twin test.
export { ENTRY_POINTS, type EntryPoint, KERNEL_FILES };

/** The folder holding the .wgsl files: kernels/ beside this file's source, whether it runs
 *  from the source tree (kernels/webgpu/) or compiled (dist/kernels/webgpu/). */
export function kernelDirectory(): string {
  const candidates = [new URL('../', import.meta.url), new URL('../../../kernels/', import.meta.url)];
  for (const url of candidates) {
    const dir = fileURLToPath(url);
    if (existsSync(`${dir}forward.wgsl`)) return dir;
  }
  throw new Error(`the WGSL kernels were not found (looked in ${candidates.map((u) => fileURLToPath(u)).join(', ')})`);
}

let cached: string | undefined;

/** The whole shader module source. */
export function shaderSource(): string {
  if (cached) return cached;
  const dir = kernelDirectory();
  const parts = [wgslPrelude(), ...KERNEL_FILES.map((f) => `// ---- ${f} ----\n${readFileSync(`${dir}${f}`, 'utf8')}`)];
  cached = parts.join('\n');
  return cached;
}
