/**
 * The compute pipelines, created once per device: one shader module (kernels/*.wgsl behind
 * the generated prelude), one bind group layout shared by every entry point, one pipeline per
 * entry point. Compilation errors surface here, at device start, not in the middle of a job.
 */
import { ENTRY_POINTS, type EntryPoint, shaderSource } from './shaders.js';
import { ShaderStage } from './gpu.js';

export interface GpuPipelines {
  bindGroupLayout: GPUBindGroupLayout;
  pipelines: Record<EntryPoint, GPUComputePipeline>;
}

/** Binding numbers (kernels/bindings.wgsl). */
export const Binding = {
  batch: 0,
  plan: 1,
  sections: 2,
  neurons: 3,
  pages: 4,
  links: 5,
  cells: 6,
  accum: 7,
  walks: 8,
  outcells: 9,
  growth: 10,
  samples: 11,
} as const;
export type BindingName = keyof typeof Binding;

const READ_ONLY: ReadonlySet<BindingName> = new Set(['plan', 'samples']);

export async function createPipelines(device: GPUDevice): Promise<GpuPipelines> {
  device.pushErrorScope('validation');
  const code = shaderSource();
  const module = device.createShaderModule({ code, label: 'hanami kernels' });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const lines = code.split('\n');
    throw new Error(`WGSL compilation failed:\n${errors.map((m) => `line ${m.lineNum}: ${m.message}\n  ${lines[m.lineNum - 1] ?? ''}`).join('\n')}`);
  }
  const entries: GPUBindGroupLayoutEntry[] = (Object.entries(Binding) as [BindingName, number][]).map(([name, binding]) => ({
    binding,
    visibility: ShaderStage.COMPUTE,
    buffer: { type: name === 'batch' ? 'uniform' : READ_ONLY.has(name) ? 'read-only-storage' : 'storage' },
  }));
  const bindGroupLayout = device.createBindGroupLayout({ entries, label: 'hanami bindings' });
  const layout = device.createPipelineLayout({ bindGroupLayouts: [bindGroupLayout] });
  const pipelines = {} as Record<EntryPoint, GPUComputePipeline>;
  for (const entryPoint of ENTRY_POINTS) {
    pipelines[entryPoint] = await device.createComputePipelineAsync({ layout, compute: { module, entryPoint }, label: entryPoint });
  }
  const error = await device.popErrorScope();
  if (error) throw new Error(`creating the WebGPU pipelines failed: ${error.message}`);
  return { bindGroupLayout, pipelines };
}
