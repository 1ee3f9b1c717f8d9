/**
 * The WGSL source of the backend: the generated prelude (./prelude.ts) followed by the kernel
 * files of kernels/ (one per step of the engine). The .wgsl files are read from the source
 * tree at run time (they are not TypeScript, so tsc does not copy them into dist/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { wgslPrelude } from './prelude.js';

/** Kernel files in the order they are concatenated (WGSL does not need declaration before
 *  use at module scope; the order only keeps the module readable). */
export const KERNEL_FILES = [
  'bindings.wgsl',
  'plan.wgsl',
  'rng.wgsl',
  'accumulate.wgsl',
  'input.wgsl',
  'neurons.wgsl',
  'grow.wgsl',
  'forward.wgsl',
  'output.wgsl',
  'output_backward.wgsl',
  'backward.wgsl',
  'reduction.wgsl',
  'sample.wgsl',
] as const;

/** Entry points, by the step they run. */
export const ENTRY_POINTS = [
  'step_input',
  'step_update',
  'step_walk',
  'step_output',
  'step_output_backward',
  'step_backward',
  'step_reduce',
  'train_batch',
  'infer_batch',
  'infer_sequential',
] as const;
export type EntryPoint = (typeof ENTRY_POINTS)[number];

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
