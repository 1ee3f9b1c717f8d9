/**
 * Backend selection per host, with the adapter simulated: `auto` takes WebGPU only on a
 * hardware adapter; no adapter, a software adapter, a driver that fails or hangs all end on
 * the CPU with a log line (or, for an explicit strict `webgpu`, a BackendUnavailableError);
 * and a service configured for WebGPU on a host without one still starts.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { AdapterDescription } from '../../../kernels/webgpu/gpu.js';
import { isSoftwareAdapter } from '../../../kernels/webgpu/gpu.js';
import type { Backend } from '../../../kernels/contract.js';
import { BackendUnavailableError, type WebGpuProbe, availableBackends, describeBackends, probeWebGpu, selectBackend } from '../../../server/network/select-backend.js';
import { startTestService } from '../api/helpers.js';

const HARDWARE: AdapterDescription = { vendor: 'nvidia', architecture: 'ada', device: '2684', description: 'NVIDIA GeForce RTX 4090', software: false, summary: 'NVIDIA GeForce RTX 4090' };
const LAVAPIPE: AdapterDescription = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)',
  software: true,
  summary: 'llvmpipe: Mesa 25.0.7 (LLVM 15.0.6) (software)',
};

const probes: Record<string, WebGpuProbe> = {
  none: { status: 'none', reason: 'no WebGPU adapter was found' },
  software: { status: 'software', adapter: LAVAPIPE, reason: 'the WebGPU adapter is a software rasterizer (llvmpipe)' },
  hardware: { status: 'hardware', adapter: HARDWARE, reason: 'WebGPU adapter: NVIDIA GeForce RTX 4090' },
  failed: { status: 'failed', reason: 'WebGPU failed to start: libvulkan.so.1: cannot open shared object file' },
};

/** A stand-in for the WebGPU backend (no device needed to test the choice). */
function fakeWebGpu(): Backend {
  return {
    name: 'webgpu',
    description: 'WebGPU on NVIDIA GeForce RTX 4090',
    threads: 1,
    train: () => Promise.reject(new Error('not used')),
    predict: () => Promise.reject(new Error('not used')),
    close: () => Promise.resolve(),
  };
}

async function choose(choice: 'auto' | 'cpu' | 'webgpu', probe: WebGpuProbe, extra: Parameters<typeof selectBackend>[1] = {}): Promise<{ name: string; reason: string; lines: string[] }> {
  const lines: string[] = [];
  const { backend, selection } = await selectBackend(choice, {
    threads: 1,
    log: (line) => lines.push(line),
    probe: async () => probe,
    openWebGpu: async () => fakeWebGpu(),
    ...extra,
  });
  await backend.close();
  assert.equal(selection.chosen, backend.name);
  return { name: backend.name, reason: selection.reason, lines };
}

describe('backend selection', () => {
  it('auto: WebGPU on a hardware adapter, logged with the adapter', async () => {
    const r = await choose('auto', probes.hardware!);
    assert.equal(r.name, 'webgpu');
    assert.equal(r.lines.length, 1);
    assert.match(r.lines[0]!, /backend webgpu \(requested auto\).*RTX 4090/);
  });

  it('auto: a software adapter (lavapipe) does not count as hardware; webgpu forces it', async () => {
    const auto = await choose('auto', probes.software!);
    assert.equal(auto.name, 'cpu');
    assert.match(auto.lines[0]!, /backend cpu \(requested auto\).*software.*HANAMI_BACKEND=webgpu/);
    const forced = await choose('webgpu', probes.software!);
    assert.equal(forced.name, 'webgpu');
  });

  for (const status of ['none', 'failed'] as const) {
    it(`no usable adapter (${status}): auto and webgpu fall back to the CPU with a clear log line; strict webgpu refuses`, async () => {
      const auto = await choose('auto', probes[status]!);
      assert.equal(auto.name, 'cpu');
      assert.match(auto.lines[0]!, status === 'none' ? /no WebGPU adapter/ : /libvulkan/);
      const webgpu = await choose('webgpu', probes[status]!);
      assert.equal(webgpu.name, 'cpu');
      assert.match(webgpu.lines[0]!, /requested webgpu.*falling back to the CPU/);
      await assert.rejects(choose('webgpu', probes[status]!, { strict: true }), BackendUnavailableError);
    });
  }

  it('a driver that fails or hangs while the device opens: CPU, logged, no crash', async () => {
    const failing = await choose('auto', probes.hardware!, { openWebGpu: () => Promise.reject(new Error('VK_ERROR_DEVICE_LOST')) });
    assert.equal(failing.name, 'cpu');
    assert.match(failing.lines[0]!, /RTX 4090 failed: VK_ERROR_DEVICE_LOST; falling back to the CPU/);
    const hanging = await choose('auto', probes.hardware!, { openWebGpu: () => new Promise<Backend>(() => {}), timeoutMs: 50 });
    assert.equal(hanging.name, 'cpu');
    assert.match(hanging.lines[0]!, /did not answer within 50 ms/);
    await assert.rejects(choose('webgpu', probes.hardware!, { strict: true, openWebGpu: () => Promise.reject(new Error('VK_ERROR_INITIALIZATION_FAILED')) }), /VK_ERROR_INITIALIZATION_FAILED/);
  });

  it('cpu never probes', async () => {
    const r = await choose('cpu', probes.hardware!, { probe: () => Promise.reject(new Error('probed')) });
    assert.equal(r.name, 'cpu');
  });

  it('HANAMI_DISABLE_WEBGPU=1 takes WebGPU off the host without loading the driver', async () => {
    const probe = await probeWebGpu({ env: { HANAMI_DISABLE_WEBGPU: '1' } });
    assert.equal(probe.status, 'disabled');
    const r = await selectBackend('auto', { threads: 1, env: { HANAMI_DISABLE_WEBGPU: '1' }, log: () => {} });
    assert.equal(r.backend.name, 'cpu');
    assert.match(r.selection.reason, /HANAMI_DISABLE_WEBGPU/);
    await r.backend.close();
  });

  it('availableBackends and describeBackends report what the host offers and why', async () => {
    for (const [status, auto] of [
      ['hardware', 'webgpu'],
      ['software', 'cpu'],
      ['none', 'cpu'],
    ] as const) {
      const a = await availableBackends({ threads: 3, probe: async () => probes[status]! });
      assert.equal(a.auto, auto);
      const cpu = a.backends.find((b) => b.name === 'cpu')!;
      assert.equal(cpu.available, true);
      const webgpu = a.backends.find((b) => b.name === 'webgpu')!;
      assert.equal(webgpu.available, status !== 'none');
      if (status !== 'none') assert.equal(webgpu.hardware, status === 'hardware');
    }
    const { selection, backend } = await selectBackend('auto', { threads: 1, log: () => {}, probe: async () => probes.software! });
    await backend.close();
    const described = describeBackends(selection);
    assert.equal(described.configured, 'auto');
    assert.equal(described.active, 'cpu');
    assert.match(String(described.reason), /software/);
  });

  it('adapter info naming a software rasterizer is software', () => {
    assert.equal(isSoftwareAdapter({ vendor: 'mesa', architecture: '', device: '', description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }), true);
    assert.equal(isSoftwareAdapter({ vendor: 'google', architecture: '', device: '', description: 'SwiftShader Device (Subzero)' }), true);
    assert.equal(isSoftwareAdapter({ vendor: 'microsoft', architecture: '', device: '', description: 'Microsoft Basic Render Driver' }), true);
    assert.equal(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'ada', device: '', description: 'NVIDIA GeForce RTX 4090' }), false);
    assert.equal(isSoftwareAdapter({ vendor: 'apple', architecture: 'metal-3', device: '', description: '' }, true), true, 'the adapter says it is a fallback adapter');
  });
});

describe('a service on a host without a WebGPU adapter', () => {
  const saved = process.env.HANAMI_DISABLE_WEBGPU;
  after(() => {
    if (saved === undefined) delete process.env.HANAMI_DISABLE_WEBGPU;
    else process.env.HANAMI_DISABLE_WEBGPU = saved;
  });

  for (const backend of ['auto', 'webgpu'] as const) {
    it(`starts on the CPU when configured for ${backend}`, async () => {
      process.env.HANAMI_DISABLE_WEBGPU = '1';
      const service = await startTestService({ backend });
      try {
        assert.equal(service.service.services.backends.primary.name, 'cpu');
      } finally {
        await service.close();
      }
    });
  }
});
