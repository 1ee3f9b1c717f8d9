/**
 * Each WGSL kernel against its CPU twin (cpu-fallback/steps.ts, kernels/growth.ts) on
 * randomized networks and inputs: the GPU starts from exactly the state the CPU step started
 * from (network and scratch uploaded), runs one entry point, and must produce the same
 * structure and values within TOLERANCE (1e-5 relative, test/fixtures/gpu-twin.ts).
 */
import assert from 'node:assert/strict';
import { after, describe } from 'node:test';
import { ExecutionContext } from '../../../cpu-fallback/context.js';
import { loadRow } from '../../../cpu-fallback/engine.js';
import { backwardOutputs, backwardSections, computeOutputs, finishDeltas, forwardSections, updateNeurons } from '../../../cpu-fallback/steps.js';
import type { BoundData } from '../../../kernels/contract.js';
import { GrowthKind, appendSynapse, reduceNetwork } from '../../../kernels/growth.js';
import {
  COUNTER,
  META_COUNTER_SHIFT,
  NEURONS_PER_BLOCK,
  SECTION_STRIDE,
  SEC_SYN_CAPACITY,
  SEC_SYN_COUNT,
  SEC_SYN_OFFSET,
  SEC_SYN_PAGE,
  FREE_SECTION,
  SEC_KIND,
  packMeta,
} from '../../../kernels/layout.js';
import type { NetworkState } from '../../../kernels/state.js';
import { releaseEmptied } from '../../../kernels/webgpu/growth-log.js';
import { type GpuHarness, openHarness } from '../../fixtures/gpu.js';
import { TOLERANCE, TwinGpu, TwinSteps, assertSameNetwork, close, cloneState, copyScratch } from '../../fixtures/gpu-twin.js';
import { CLASSES, VALUES, randomNetwork, randomRows, seededRandom } from '../../fixtures/random-network.js';

const harness = await openHarness();
const skip = typeof harness === 'string' ? harness : false;
after(() => {
  if (typeof harness !== 'string') harness.close();
});

const SEEDS = [3, 17, 101];
const ROWS = 6;

/** The targets cpu-fallback/engine.ts would hand backwardOutputs for a row of randomRows. */
function targets(data: BoundData, row: number): { classes: Int32Array; values: Float32Array } {
  const values = new Float32Array(CLASSES + VALUES);
  for (let k = 0; k < VALUES; k++) values[CLASSES + k] = data.values![row * VALUES + k]!;
  return { classes: Int32Array.of(data.labels![row]!), values };
}

/** A CPU network and context with row `row` loaded. */
function start(state: NetworkState, data: BoundData, row: number): ExecutionContext {
  const ctx = new ExecutionContext(state);
  loadRow(ctx, state, data, row);
  ctx.log.count = 0;
  return ctx;
}

/** The CPU forward pass of hexagon `h` (training or not). */
function forwardHexagon(ctx: ExecutionContext, state: NetworkState, h: number, train: boolean): void {
  const hex = state.hexagons[h]!;
  if (hex.kind === 'output') {
    computeOutputs(ctx, state, hex.outputGroup);
    return;
  }
  if (hex.kind === 'hidden') updateNeurons(ctx, state, h);
  forwardSections(ctx, state, h, train);
}

function gatheredInput(ctx: ExecutionContext, h: number, i: number): number {
  return ctx.hex[h]!.input0[i]! + ctx.hex[h]!.input1[i]!;
}

describe('WGSL kernels against their CPU twins', { skip }, () => {
  const H = harness as GpuHarness;
  const twins = new TwinSteps('test/kernels/webgpu/kernels.test.ts');

  twins.it(['input'], 'input.wgsl: raw values into the input neurons (loadRow), exactly', async () => {
    for (const seed of SEEDS) {
      const state = randomNetwork({ seed });
      const data = randomRows(state, ROWS, seed);
      const gpu = new TwinGpu(H, state, data);
      try {
        for (let row = 0; row < ROWS; row++) {
          const ctx = start(state, data, row);
          gpu.clearScratch();
          gpu.params({ stepSlot: 0, stepRow: row });
          await gpu.run('step_input');
          const cells = await gpu.readCells();
          const base = gpu.network.layout.hexBase[0]!;
          for (let i = 0; i < NEURONS_PER_BLOCK; i++) assert.equal(cells.act[base + i], ctx.hex[0]!.act[i], `seed ${seed} row ${row} input ${i}`);
        }
      } finally {
        gpu.destroy();
      }
    }
  });

  for (const train of [false, true]) {
    twins.it(
      train ? ['walk', 'grow'] : ['walk'],
      `forward.wgsl${train ? ' + grow.wgsl (training)' : ''}: section walks gather the same input${train ? ', adapt the same borders, record the same walks and growth' : ''}`,
      async () => {
        let inSection = 0;
        let deferred = 0;
        let walkedSections = 0;
        for (const seed of SEEDS) {
          const original = randomNetwork({ seed });
          const data = randomRows(original, ROWS, seed + 1);
          for (let row = 0; row < ROWS; row++) {
            const cpu = cloneState(original);
            const ctx = start(cpu, data, row);
            for (const h of [0, 1]) {
              if (h === 1) updateNeurons(ctx, cpu, 1);
              const before = cloneState(cpu);
              const gpu = new TwinGpu(H, before, data);
              try {
                gpu.clearScratch();
                gpu.uploadContext(ctx);
                const key = cpu.counters[COUNTER.samplesTrained]!;
                ctx.requests[0]!.count = 0;
                ctx.requests[1]!.count = 0;
                forwardSections(ctx, cpu, h, train);
                gpu.params({ stepHex: h, stepRow: row, stepKey: key, stepTrain: train ? 1 : 0 });
                await gpu.run('step_walk');
                const accum = await gpu.readAccum();
                const layout = gpu.network.layout;
                for (const t of [1, 2]) {
                  for (let i = 0; i < cpu.hexagons[t]!.blocks * NEURONS_PER_BLOCK; i++) {
                    close(accum[layout.hexBase[t]! + i]!, gatheredInput(ctx, t, i), `seed ${seed} row ${row} walk ${h} → input of ${t}:${i}`);
                  }
                }
                if (!train) continue;
                // Walks recorded for the backward pass.
                const walks = await gpu.readWalks();
                for (let e = ctx.logStart[h]!; e < ctx.logEnd[h]!; e++) {
                  const s = ctx.log.section[e]!;
                  assert.equal(walks.walked[s], ctx.log.length[e], `seed ${seed} row ${row} section ${s} walked`);
                  assert.equal(walks.first[s], ctx.log.first[e]! - cpu.sectionsI32[s * SECTION_STRIDE + SEC_SYN_OFFSET]!);
                  close(walks.share[s]!, ctx.log.share[e]!, `section ${s} share`);
                  walkedSections++;
                }
                // Growth: a synapse appended to a section with a free slot is written by the GPU
                // (exactly as appendSynapse writes it); everything else is a request.
                const growth = await gpu.readGrowth();
                const expected: { kind: number; a: number; b: number; value: number; lane: number }[] = [];
                let appended = 0;
                for (let lane = 0; lane < 2; lane++) {
                  const list = ctx.requests[lane]!;
                  for (let i = 0; i < list.count; i++) {
                    const kind = list.kind[i]!;
                    const a = list.a[i]!;
                    const o = a * SECTION_STRIDE;
                    if (kind === GrowthKind.appendSynapse && cpu.sectionsI32[o + SEC_SYN_COUNT]! < cpu.sectionsI32[o + SEC_SYN_CAPACITY]!) {
                      appendSynapse(cpu, a, list.value[i]!, key);
                      appended++;
                      continue;
                    }
                    expected.push({ kind, a, b: list.b[i]!, value: list.value[i]!, lane });
                  }
                }
                assert.equal(growth.appended, appended, 'synapses appended in their section');
                assert.equal(growth.dropped, 0);
                assert.equal(growth.requests.length, expected.length, `seed ${seed} row ${row} hexagon ${h}: requests`);
                growth.requests.forEach((r, i) => {
                  const e = expected[i]!;
                  assert.deepEqual([r.kind, r.a, r.b, r.lane], [e.kind, e.a, e.b, e.lane], `request ${i}`);
                  // A leftover potential is a difference of the potential (up to 60) and the borders walked.
                  close(r.value, e.value, `request ${i} value`, TOLERANCE, r.kind === GrowthKind.appendSynapse || r.kind === GrowthKind.split ? 60 : Math.max(1, Math.abs(e.value)));
                });
                inSection += appended;
                deferred += expected.length;
                // Borders, weights, tolerances after adaptation; appended synapses.
                assertSameNetwork(await gpu.downloadState(), cpu, TOLERANCE, false);
              } finally {
                gpu.destroy();
              }
            }
          }
        }
        if (train) {
          // The random networks exercised what they are for.
          assert.ok(walkedSections > 100 && inSection > 10 && deferred > 10, `walked ${walkedSections}, appended in section ${inSection}, requests ${deferred}`);
        }
      },
    );
  }

  for (const spiking of [false, true]) {
    twins.it(['update'], `neurons.wgsl: hidden neurons turn gathered input into activation${spiking ? ' (spiking: carry and refractory time)' : ''}`, async () => {
      for (const seed of SEEDS) {
        const original = spiking ? randomNetwork({ seed, cooldown: 1.7, refractory: 2 }) : randomNetwork({ seed });
        const data = randomRows(original, ROWS, seed + 2);
        const cpu = cloneState(original);
        // Spiking neurons carry state from cycle to cycle: run the rows in order.
        for (let row = 0; row < ROWS; row++) {
          const ctx = start(cpu, data, row);
          forwardSections(ctx, cpu, 0, false);
          for (const h of [1, 2]) {
            const before = cloneState(cpu);
            const gpu = new TwinGpu(H, before, data);
            try {
              gpu.clearScratch();
              gpu.uploadContext(ctx);
              updateNeurons(ctx, cpu, h);
              gpu.params({ stepHex: h });
              await gpu.run('step_update');
              const cells = await gpu.readCells();
              const base = gpu.network.layout.hexBase[h]!;
              const active = new Set(Array.from(ctx.hex[h]!.active.subarray(0, ctx.activeCount[h])));
              for (let i = 0; i < cpu.hexagons[h]!.blocks * NEURONS_PER_BLOCK; i++) {
                close(cells.act[base + i]!, ctx.hex[h]!.act[i]!, `seed ${seed} row ${row} hexagon ${h} act ${i}`);
                assert.equal(cells.slope[base + i]! > 0, active.has(i), `neuron ${i} active`);
                if (active.has(i)) close(cells.slope[base + i]!, ctx.hex[h]!.slope[i]!, `slope ${i}`);
                assert.equal(cells.delta[base + i], 0);
              }
              if (spiking) assertSameNetwork(await gpu.downloadState(), cpu, TOLERANCE, false);
            } finally {
              gpu.destroy();
            }
            forwardSections(ctx, cpu, h, false);
          }
        }
      }
    });
  }

  twins.it(['output', 'output-backward'], 'output.wgsl + output_backward.wgsl: logits, softmax and values, gradients, bias, scale, link steps and deltas', async () => {
    for (const seed of SEEDS) {
      const original = randomNetwork({ seed });
      const data = randomRows(original, ROWS, seed + 3);
      for (let row = 0; row < ROWS; row++) {
        const cpu = cloneState(original);
        const ctx = start(cpu, data, row);
        for (const h of [0, 1, 2]) forwardHexagon(ctx, cpu, h, false);
        // Forward and loss: step_output (train) against computeOutputs + the loss part of backwardOutputs.
        const beforeOutput = cloneState(cpu);
        const scratchBefore = copyScratch(ctx);
        computeOutputs(ctx, cpu, 0);
        const valuesCpu = ctx.out[0]!.value.slice();
        const beforeLinks = cloneState(cpu);
        const scratchAfterForward = copyScratch(ctx);
        const { classes, values } = targets(data, row);
        backwardOutputs(ctx, cpu, 0, classes, values);
        const gpu = new TwinGpu(H, beforeOutput, data);
        try {
          gpu.clearScratch();
          gpu.uploadContext(scratchBefore);
          gpu.params({ stepHex: 0, stepRow: row, stepTrain: 1 });
          await gpu.run('step_output');
          const out = await gpu.readOutputs(0, row);
          const width = CLASSES + VALUES;
          for (let k = 0; k < width; k++) {
            close(out.z[k]!, ctx.out[0]!.z[k]!, `seed ${seed} row ${row} logit ${k}`);
            close(out.value[k]!, valuesCpu[k]!, `value ${k}`, TOLERANCE, Math.max(1, Math.abs(valuesCpu[k]!), 3));
            close(out.grad[k]!, ctx.out[0]!.grad[k]!, `gradient ${k}`);
          }
          const after = await gpu.downloadState();
          for (let k = 0; k < width; k++) {
            close(after.outputs[0]!.bias[k]!, cpu.outputs[0]!.bias[k]!, `bias ${k}`);
            close(after.outputs[0]!.scale[k]!, cpu.outputs[0]!.scale[k]!, `scale ${k}`);
          }
        } finally {
          gpu.destroy();
        }
        // Link rows: step_output_backward from the weights before the step and the gradients.
        const rows = new TwinGpu(H, beforeLinks, data);
        try {
          rows.clearScratch();
          const scratch = copyScratch(scratchAfterForward);
          scratch.out[0]!.grad.set(ctx.out[0]!.grad);
          rows.uploadContext(scratch);
          rows.params({ stepHex: 0, stepRow: row, stepTrain: 1 });
          await rows.run('step_output_backward');
          const after = await rows.downloadState();
          const g = cpu.outputs[0]!;
          for (let r = 0; r < g.rows; r++) {
            close(after.outputs[0]!.rowUses[r]!, g.rowUses[r]!, `row ${r} uses`);
            for (let k = 0; k < g.width; k++) close(after.outputs[0]!.weights[r * g.widthCapacity + k]!, g.weights[r * g.widthCapacity + k]!, `seed ${seed} row ${row} link ${r},${k}`);
          }
          const cells = await rows.readCells();
          for (const h of [0, 1, 2]) {
            const base = rows.network.layout.hexBase[h]!;
            for (let i = 0; i < cpu.hexagons[h]!.blocks * NEURONS_PER_BLOCK; i++) close(cells.delta[base + i]!, ctx.hex[h]!.delta[i]!, `hexagon ${h} delta ${i}`);
          }
        } finally {
          rows.destroy();
        }
      }
    }
  });

  for (const reduction of [false, true]) {
    twins.it(['backward'], `backward.wgsl: walked synapses learn, hidden sources collect their deltas${reduction ? ', reached synapses are reinforced' : ''}`, async () => {
      let compared = 0;
      for (const seed of SEEDS) {
        const original = randomNetwork({ seed, reduction });
        const data = randomRows(original, ROWS, seed + 4);
        for (let row = 0; row < ROWS; row++) {
          const cpu = cloneState(original);
          const ctx = start(cpu, data, row);
          for (const h of [0, 1, 2, 3]) forwardHexagon(ctx, cpu, h, true);
          const { classes, values } = targets(data, row);
          backwardOutputs(ctx, cpu, 0, classes, values);
          for (const h of [2, 1, 0]) {
            const before = cloneState(cpu);
            const scratch = copyScratch(ctx);
            backwardSections(ctx, cpu, h);
            finishDeltas(ctx, cpu, h);
            const gpu = new TwinGpu(H, before, data);
            try {
              gpu.clearScratch();
              gpu.uploadContext(scratch);
              gpu.uploadWalks(ctx, h);
              gpu.params({ stepHex: h });
              await gpu.run('step_backward');
              assertSameNetwork(await gpu.downloadState(), cpu, TOLERANCE, false);
              if (cpu.hexagons[h]!.kind === 'hidden') {
                const cells = await gpu.readCells();
                const base = gpu.network.layout.hexBase[h]!;
                for (let a = 0; a < ctx.activeCount[h]!; a++) {
                  const i = ctx.hex[h]!.active[a]!;
                  close(cells.delta[base + i]!, ctx.hex[h]!.delta[i]!, `seed ${seed} row ${row} hexagon ${h} delta ${i}`);
                  compared++;
                }
              }
            } finally {
              gpu.destroy();
            }
          }
        }
      }
      assert.ok(compared > 50, `hidden deltas compared: ${compared}`);
    });
  }

  twins.it(['reduce'], 'reduction.wgsl: counts decay, trailing synapses at zero go, emptied sections are freed by the host', async () => {
    for (const seed of SEEDS) {
      const cpu = randomNetwork({ seed, reduction: true });
      // Random activity counts, many at 0 and 1 so that trimming and emptying happen.
      const random = seededRandom(seed);
      for (const page of cpu.pages) {
        for (let i = 0; i < page.used; i++) page.meta[i] = packMeta(page.meta[i]! & 0xff, [0, 1, 1, 2, 5, 9, 10, 12][Math.floor(random() * 8)]!);
      }
      // Whole sections of zeros, so some are emptied.
      for (let s = 0; s < cpu.counters[COUNTER.sectionCount]!; s += 7) {
        const o = s * SECTION_STRIDE;
        const page = cpu.pages[cpu.sectionsI32[o + SEC_SYN_PAGE]!]!;
        const first = cpu.sectionsI32[o + SEC_SYN_OFFSET]!;
        for (let i = 0; i < cpu.sectionsI32[o + SEC_SYN_COUNT]!; i++) page.meta[first + i] = packMeta(page.meta[first + i]! & 0xff, 1);
      }
      const data = randomRows(cpu, 1, seed);
      const gpu = new TwinGpu(H, cloneState(cpu), data);
      try {
        const removed = reduceNetwork(cpu);
        gpu.clearScratch();
        gpu.params({});
        await gpu.run('step_reduce');
        const growth = await gpu.readGrowth();
        assert.equal(growth.removed, removed, `seed ${seed}: synapses removed`);
        const after = await gpu.downloadState();
        after.counters[COUNTER.synapseCount] = after.counters[COUNTER.synapseCount]! - growth.removed;
        after.counters[COUNTER.synapsesRemoved] = after.counters[COUNTER.synapsesRemoved]! + growth.removed;
        const released = releaseEmptied(after);
        assert.equal(released, growth.released);
        let freed = 0;
        for (let s = 0; s < cpu.counters[COUNTER.sectionCount]!; s++) if (cpu.sectionsI32[s * SECTION_STRIDE + SEC_KIND]! & FREE_SECTION) freed++;
        assert.equal(released, freed, 'sections emptied');
        assert.ok(removed > 0 && freed > 0, `removed ${removed}, freed ${freed}`);
        assertSameNetwork(after, cpu);
        // Counters above the persistence threshold never move.
        for (const page of after.pages) for (let i = 0; i < page.used; i++) assert.ok(page.meta[i]! >>> META_COUNTER_SHIFT <= 12);
      } finally {
        gpu.destroy();
      }
    }
  });

  twins.checkAll();
});
