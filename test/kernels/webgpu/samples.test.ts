/**
 * Whole samples on the GPU (kernels/sample.wgsl: train_batch, infer_batch, infer_sequential)
 * with the host's growth phase (kernels/webgpu/trainer.ts), against cpu-fallback/engine.ts.
 * With one sample per batch nothing waits for the end of a batch, so the GPU must grow exactly
 * the CPU's network; larger batches defer growth that needs the allocator, and must still
 * leave a consistent network.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ExecutionContext } from '../../../cpu-fallback/context.js';
import { predictRows, trainRows } from '../../../cpu-fallback/engine.js';
import { outputWidth } from '../../../kernels/contract.js';
import { COUNTER, FREE_SECTION, SECTION_STRIDE, SEC_KIND, SEC_SYN_COUNT, SEC_SYN_OFFSET, SEC_SYN_PAGE, SEC_TOLERANCE, REDUCTION_INTERVAL, packMeta } from '../../../kernels/layout.js';
import type { NetworkState } from '../../../kernels/state.js';
import { GpuNetwork } from '../../../kernels/webgpu/network.js';
import { predictOnGpu } from '../../../kernels/webgpu/predictor.js';
import { batchSizeAt, trainOnGpu } from '../../../kernels/webgpu/trainer.js';
import { decodeCheckpoint, encodeCheckpoint } from '../../../server/network/checkpoint.js';
import { type GpuHarness, openHarness } from '../../fixtures/gpu.js';
import { TOLERANCE, TwinSteps, assertSameNetwork, close, cloneState } from '../../fixtures/gpu-twin.js';
import { handSection, lineState, rowsOf } from '../../fixtures/network.js';
import { randomNetwork, randomRows, seededRandom } from '../../fixtures/random-network.js';

const harness = await openHarness();
const skip = typeof harness === 'string' ? harness : false;
after(() => {
  if (typeof harness !== 'string') harness.close();
});

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** Synapses counted from the sections, which must match the counter. */
function countedSynapses(state: NetworkState): number {
  let n = 0;
  for (let s = 0; s < state.counters[COUNTER.sectionCount]!; s++) {
    const o = s * SECTION_STRIDE;
    if (!(state.sectionsI32[o + SEC_KIND]! & FREE_SECTION)) n += state.sectionsI32[o + SEC_SYN_COUNT]!;
  }
  return n;
}

describe('whole samples on the GPU against the CPU engine', { skip }, () => {
  const H = harness as GpuHarness;
  const twins = new TwinSteps('test/kernels/webgpu/samples.test.ts');

  async function trainGpu(state: NetworkState, data: ReturnType<typeof randomRows>, rows: number[], maxBatch: number): Promise<void> {
    const network = new GpuNetwork(H.context, H.pipelines, state, H.counters);
    try {
      network.load(state, data.inputMap);
      await trainOnGpu(H.session, network, state, data, { rows, maxBatch });
    } finally {
      network.destroy();
    }
  }

  for (const variant of ['plain', 'reduction', 'spiking'] as const) {
    const reduction = variant === 'reduction';
    twins.it(
      ['train-batch'],
      `one sample per batch grows exactly the CPU's network${variant === 'plain' ? '' : variant === 'reduction' ? ' (reduction every 100 samples)' : ' (spiking)'}`,
      async () => {
        for (const seed of [5, 23]) {
          const original = variant === 'spiking' ? randomNetwork({ seed, cooldown: 1.7, refractory: 2 }) : randomNetwork({ seed, reduction });
          // The random networks are not meant to learn anything: their weights soon run away,
          // f32/f64 differences grow with them and flip near-ties (a neuron at u ≈ 0), after
          // which the networks legitimately differ. Ten samples stay clear of that.
          const rows = 10;
          if (reduction) {
            // A reduction pass falls after the 5th sample; low activity counts give it work.
            original.counters[COUNTER.samplesTrained] = REDUCTION_INTERVAL - 5;
            const random = seededRandom(seed);
            for (const page of original.pages) for (let i = 0; i < page.used; i++) page.meta[i] = packMeta(page.meta[i]! & 0xff, Math.floor(random() * 3));
          }
          const data = randomRows(original, rows, seed + 7);
          const cpu = cloneState(original);
          trainRows(new ExecutionContext(cpu), cpu, data, 0, rows);
          const gpu = cloneState(original);
          const before = { ...H.counters };
          await trainGpu(gpu, data, range(rows), 1);
          assert.equal(H.counters.batches - before.batches, rows, 'one batch per sample');
          for (const grown of ['sectionCount', 'outputRowCount', 'slotsReserved', 'splits'] as const) {
            assert.ok(cpu.counters[COUNTER[grown]]! > original.counters[COUNTER[grown]]!, `the network grew: ${grown}`);
          }
          if (reduction) assert.ok(cpu.counters[COUNTER.synapsesRemoved]! > 0, 'reduction removed synapses');
          // Each kernel agrees within 1e-5; over ten samples of learning the f32/f64 differences
          // compound (deltas multiply them), so whole runs are compared within 1e-4.
          assertSameNetwork(gpu, cpu, 1e-4);
        }
      },
    );
  }

  it('larger batches defer allocator growth and still leave a consistent network', async () => {
    const original = randomNetwork({ seed: 9, reduction: true });
    // Past the warm-up: batches of 32 (ending at every reduction point).
    original.counters[COUNTER.samplesTrained] = 10_000;
    assert.equal(batchSizeAt(10_000, 32, true), 32);
    const data = randomRows(original, 300, 31);
    const gpu = cloneState(original);
    const before = { ...H.counters };
    await trainGpu(gpu, data, range(300), 32);
    const batches = H.counters.batches - before.batches;
    assert.ok(batches >= 300 / 32 && batches <= 300 / 32 + 4, `${batches} batches`);
    assert.equal(H.counters.droppedRequests - before.droppedRequests, 0);
    assert.equal(gpu.counters[COUNTER.samplesTrained], 10_300);
    assert.equal(countedSynapses(gpu), gpu.counters[COUNTER.synapseCount]);
    assert.ok(gpu.counters[COUNTER.synapseCount]! > original.counters[COUNTER.synapseCount]!);
    // The checkpoint codec checks every index, chain, run and count.
    const restored = decodeCheckpoint(encodeCheckpoint(gpu, { template: '' })).state;
    assert.equal(restored.counters[COUNTER.synapseCount], gpu.counters[COUNTER.synapseCount]);
    // And the network it grew is close to the CPU's in size.
    const cpu = cloneState(original);
    trainRows(new ExecutionContext(cpu), cpu, data, 0, 300);
    const ratio = gpu.counters[COUNTER.synapseCount]! / cpu.counters[COUNTER.synapseCount]!;
    assert.ok(ratio > 0.9 && ratio < 1.1, `synapses GPU / CPU = ${ratio}`);
  });

  it('a section that must move asks only for the potential beyond what its batch already asked for', async () => {
    // One input neuron, one full section of 4 synapses covering 40 (no spare slot, no
    // adaptation). Within one batch: 50 leaves 10, 55 leaves 15 (5 beyond), 48 leaves 8.
    const build = (): NetworkState => {
      const state = lineState({ inputs: 1, outputs: 2, mode: 'class' });
      handSection(
        state,
        0,
        [1, 2, 3, 4].map((t) => ({ border: 10, weight: 0.1, target: t })),
        { tolerance: 0 },
      );
      state.counters[COUNTER.samplesTrained] = 10_000;
      return state;
    };
    const gpu = build();
    const data = rowsOf(gpu, [[50], [55], [48]], { labels: [0, 1, 0] });
    await trainGpu(gpu, data, range(3), 256);
    const cpu = build();
    trainRows(new ExecutionContext(cpu), cpu, data, 0, 3);
    const borders = (state: NetworkState): number[] => {
      const page = state.pages[state.sectionsI32[SEC_SYN_PAGE]!]!;
      const first = state.sectionsI32[SEC_SYN_OFFSET]!;
      return Array.from(page.border.subarray(first, first + state.sectionsI32[SEC_SYN_COUNT]!));
    };
    assert.deepEqual(borders(cpu), [10, 10, 10, 10, 10, 5]);
    assert.deepEqual(borders(gpu), borders(cpu));
    assert.equal(gpu.sectionsF32[SEC_TOLERANCE], 0);
  });

  twins.it(['infer-batch'], "inference: many samples in parallel (one workgroup each) give the CPU's outputs", async () => {
    for (const seed of [2, 44]) {
      const state = randomNetwork({ seed });
      const data = randomRows(state, 300, seed);
      const width = outputWidth(state);
      const cpu = new Float32Array(300 * width);
      predictRows(new ExecutionContext(state), state, data, 0, 300, cpu);
      const network = new GpuNetwork(H.context, H.pipelines, state, H.counters);
      try {
        network.load(state, data.inputMap);
        for (const batch of [1, 64, 300]) {
          const gpu = new Float32Array(300 * width);
          const before = H.counters.dispatches;
          await predictOnGpu(H.session, network, state, data, gpu, { from: 0, to: 300, batch });
          assert.equal(H.counters.dispatches - before, Math.ceil(300 / batch), 'one dispatch per batch');
          for (let i = 0; i < gpu.length; i++) close(gpu[i]!, cpu[i]!, `seed ${seed} batch ${batch} output ${i}`, TOLERANCE, 3);
        }
      } finally {
        network.destroy();
      }
    }
  });

  twins.it(['infer-sequential'], 'inference on a spiking network runs in order and carries the potentials back to the host', async () => {
    const original = randomNetwork({ seed: 12, cooldown: 1.5, refractory: 3 });
    const data = randomRows(original, 40, 3);
    const width = outputWidth(original);
    const cpu = cloneState(original);
    const cpuOut = new Float32Array(40 * width);
    const ctx = new ExecutionContext(cpu);
    predictRows(ctx, cpu, data, 0, 20, cpuOut.subarray(0, 20 * width));
    predictRows(ctx, cpu, data, 20, 40, cpuOut.subarray(20 * width));
    const gpu = cloneState(original);
    const network = new GpuNetwork(H.context, H.pipelines, gpu, H.counters);
    try {
      network.load(gpu, data.inputMap);
      const out = new Float32Array(40 * width);
      await predictOnGpu(H.session, network, gpu, data, out, { from: 0, to: 40, batch: 16 });
      for (let i = 0; i < out.length; i++) close(out[i]!, cpuOut[i]!, `output ${i}`, 1e-4, 3);
      assertSameNetwork(gpu, cpu, 1e-4);
    } finally {
      network.destroy();
    }
  });

  twins.checkAll();
});
