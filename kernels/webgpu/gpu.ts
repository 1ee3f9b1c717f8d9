/// <reference types="@webgpu/types" />
/**
 * Opening a WebGPU device on npm `webgpu` (Dawn's Node bindings), and what we need to know
 * about the adapter: its description, whether it is a software rasterizer, its limits.
 *
 * Dawn keeps the process alive while a `create()` handle or a device lives
 * (dawn-gpu/node-webgpu#17, #18): the handle is held only by an open GpuContext, and
 * closeGpu() destroys the device and drops the handle.
 */
import { ignoreFailure } from '../background.js';
import { pcgHash } from '../rng.js';

/** GPUBufferUsage / GPUMapMode flag values (fixed by the WebGPU specification), so the
 *  backend does not have to install Dawn's globals on globalThis. */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;
export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;
export const ShaderStage = { COMPUTE: 0x4 } as const;

/** Storage buffers one kernel binds (kernels/bindings.wgsl). */
export const STORAGE_BINDINGS = 11;

export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The adapter says it is a fallback adapter, or its info names a software rasterizer
   *  (lavapipe/llvmpipe, SwiftShader, WARP). */
  software: boolean;
  /** One line for logs and reports. */
  summary: string;
}

export interface GpuContext {
  /** Dawn's instance; dropped on close so the process can exit. */
  gpu: GPU | undefined;
  adapter: GPUAdapter;
  device: GPUDevice;
  adapterInfo: AdapterDescription;
  /** The limits the device was created with (read from the adapter, never assumed). */
  maxStorageBindingBytes: number;
  maxBufferBytes: number;
  maxWorkgroupsPerDimension: number;
  /** Set when the device is lost (driver reset, destroyed): every later use fails. */
  lost: string | undefined;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|microsoft basic render|\bwarp\b/i;

/** Whether adapter info describes a software implementation. */
export function isSoftwareAdapter(info: { vendor: string; architecture: string; device: string; description: string }, isFallbackAdapter = false): boolean {
  return isFallbackAdapter || SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
}

export function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info;
  const fallbackFlag = (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false;
  const plain = { vendor: info.vendor ?? '', architecture: info.architecture ?? '', device: info.device ?? '', description: info.description ?? '' };
  const software = isSoftwareAdapter(plain, fallbackFlag);
  const name = plain.description || [plain.vendor, plain.architecture, plain.device].filter(Boolean).join(' ') || 'unnamed adapter';
  return { ...plain, software, summary: `${name}${software ? ' (software)' : ''}` };
}

interface WebGpuModule {
  create(options: string[]): GPU;
}

/** Loads Dawn (the native module) only when a WebGPU backend is asked for. */
async function loadDawn(): Promise<WebGpuModule> {
  const module = (await import('webgpu')) as unknown as WebGpuModule;
  return module;
}

export class GpuUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuUnavailableError';
  }
}

/** Finds an adapter without opening a device (for reports and backend selection). Resolves
 *  undefined when there is none. */
export async function findAdapter(): Promise<{ gpu: GPU; adapter: GPUAdapter } | undefined> {
  const dawn = await loadDawn();
  const gpu = dawn.create([]);
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return undefined;
  return { gpu, adapter };
}

/** Opens a device with the limits the kernels need, and checks that it computes: a small
 *  shader hashes integers that are compared with kernels/rng.ts on the host, so a driver that
 *  compiles but computes wrongly is refused here rather than training garbage later. */
export async function openGpu(found?: { gpu: GPU; adapter: GPUAdapter }): Promise<GpuContext> {
  const source = found ?? (await findAdapter());
  if (!source) throw new GpuUnavailableError('no WebGPU adapter was found');
  const { gpu, adapter } = source;
  const limits = adapter.limits;
  if (limits.maxStorageBuffersPerShaderStage < STORAGE_BINDINGS) {
    throw new GpuUnavailableError(`the adapter allows ${limits.maxStorageBuffersPerShaderStage} storage buffers per shader stage; the kernels bind ${STORAGE_BINDINGS}`);
  }
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxStorageBuffersPerShaderStage: STORAGE_BINDINGS,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
    },
  });
  const context: GpuContext = {
    gpu,
    adapter,
    device,
    adapterInfo: describeAdapter(adapter),
    maxStorageBindingBytes: device.limits.maxStorageBufferBindingSize,
    maxBufferBytes: device.limits.maxBufferSize,
    maxWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
    lost: undefined,
  };
  ignoreFailure(
    device.lost.then((info) => {
      context.lost ??= `the WebGPU device was lost (${info.reason}): ${info.message}`;
    }),
    'device.lost never rejects',
  );
  // A validation or out-of-memory error outside an error scope would otherwise pass
  // silently and leave a job computing on garbage: it makes the device unusable instead.
  device.addEventListener('uncapturederror', (event) => {
    context.lost ??= `WebGPU error: ${event.error.message}`;
  });
  try {
    await smokeTest(device);
  } catch (e) {
    closeGpu(context);
    throw e;
  }
  return context;
}

/** Destroys the device and drops Dawn's handle. */
export function closeGpu(context: GpuContext): void {
  if (!context.lost) context.lost = 'the WebGPU device was closed';
  context.device.destroy();
  context.gpu = undefined;
}

const SMOKE_VALUES = 256;

async function smokeTest(device: GPUDevice): Promise<void> {
  device.pushErrorScope('validation');
  const module = device.createShaderModule({
    code: `
@group(0) @binding(0) var<storage, read_write> out: array<u32>;
fn pcg_hash(input: u32) -> u32 {
  let state = input * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  out[id.x] = pcg_hash(id.x * 2654435761u);
}`,
  });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const storage = device.createBuffer({ size: SMOKE_VALUES * 4, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: SMOKE_VALUES * 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: storage } }] }));
    pass.dispatchWorkgroups(SMOKE_VALUES / 64);
    pass.end();
    encoder.copyBufferToBuffer(storage, 0, read, 0, SMOKE_VALUES * 4);
    device.queue.submit([encoder.finish()]);
    const error = await device.popErrorScope();
    if (error) throw new GpuUnavailableError(`the WebGPU driver rejected a trivial shader: ${error.message}`);
    await read.mapAsync(MapMode.READ);
    const got = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (let i = 0; i < SMOKE_VALUES; i++) {
      const expected = pcgHash(Math.imul(i, 2654435761) >>> 0);
      if (got[i] !== expected) throw new GpuUnavailableError(`the WebGPU driver computes wrongly (integer hash ${i}: ${got[i]} instead of ${expected})`);
    }
  } finally {
    storage.destroy();
    read.destroy();
  }
}
