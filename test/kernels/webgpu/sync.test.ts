/**
 * Keeping the host copy in step with the GPU copy (kernels/webgpu/network.ts, trainer.ts):
 * during a job the GPU owns the weights and the host the structure, and the batches read back
 * only what growth needs. These tests hold that path to the one that reads the whole network
 * back after every batch (the host copy current all the time): the same network, byte for
 * byte, at a fraction of the bytes read back.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COUNTER, SECTION_STRIDE, SEC_TGT_BLOCK } from '../../../kernels/layout.js';
import { WebGpuBackend } from '../../../kernels/webgpu/backend.js';
import { countersSince } from '../../../kernels/webgpu/counters.js';
import { GpuNetwork } from '../../../kernels/webgpu/network.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { type GpuHarness, openHarness } from '../../fixtures/gpu.js';
import { randomNetwork, randomRows } from '../../fixtures/random-network.js';

const harness = await openHarness();
const skip = typeof harness === 'string' ? harness : false;
const data = await loadMnist8k();

const TEMPLATES = {
  plain: DEFAULT_TEMPLATE,
  reduction: DEFAULT_TEMPLATE.replace('enable_reduction: false', 'enable_reduction: true'),
  spiking: DEFAULT_TEMPLATE.replace('neuron_cooldown: 1000000000.0', 'neuron_cooldown: 2.0'),
};

describe('the host copy in step with the GPU copy', { skip }, () => {
  let gpu: WebGpuBackend;
  before(async () => {
    gpu = await WebGpuBackend.open();
  });
  after(async () => {
    await gpu?.close();
    if (typeof harness !== 'string') harness.close();
  });

  for (const [variant, template] of Object.entries(TEMPLATES)) {
    it(`${variant}: batches that keep the weights on the device grow the network that batches reading it back grow`, async () => {
      const rows = variant === 'plain' ? 2000 : 1200;
      // A `between` hook that reads the host copy makes every batch read the network back (the
      // old path); without one, only the last batch does.
      const current = Cluster.create(template, 21);
      const before = gpu.transfers();
      await gpu.train(current, current.bind(data.train), { to: rows, between: () => undefined });
      const everyBatch = countersSince(before, gpu.transfers());
      const lean = Cluster.create(template, 21);
      const middle = gpu.transfers();
      await gpu.train(lean, lean.bind(data.train), { to: rows });
      const lastBatch = countersSince(middle, gpu.transfers());
      assert.equal(lean.state.counters[COUNTER.samplesTrained], rows);
      if (variant === 'reduction') assert.ok(lean.state.counters[COUNTER.synapsesRemoved]! > 0, 'reduction removed synapses');
      assert.ok(lean.checkpoint().equals(current.checkpoint()), 'the same network, byte for byte');
      // The same work on the device, a fraction of the bytes back.
      assert.equal(lastBatch.batches, everyBatch.batches);
      assert.equal(lastBatch.submits, everyBatch.submits, 'one submit per batch either way');
      assert.ok(lastBatch.networkBytesReadBack * 5 < everyBatch.networkBytesReadBack, `network copies: ${lastBatch.networkBytesReadBack} against ${everyBatch.networkBytesReadBack} B`);
      assert.ok(lastBatch.bytesReadBack * 3 < everyBatch.bytesReadBack, `read back: ${lastBatch.bytesReadBack} against ${everyBatch.bytesReadBack} B`);
    });
  }

  it('after warm-up a batch reads back a few bytes per sample, in one readback, and the job one copy of the network', async () => {
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 1);
    const start = gpu.transfers();
    let middle: ReturnType<WebGpuBackend['transfers']> | undefined;
    let last: ReturnType<WebGpuBackend['transfers']> | undefined;
    let middleDone = 0;
    await gpu.train(cluster, cluster.bind(data.train), {
      to: 4000,
      onProgress: (done, total) => {
        if (!middle && done >= 2000) [middle, middleDone] = [gpu.transfers(), done];
        if (done === total) last = gpu.transfers();
      },
    });
    const end = gpu.transfers();
    const steady = countersSince(middle!, last!);
    const samples = 4000 - middleDone;
    const perSample = (steady.bytesReadBack - steady.networkBytesReadBack) / samples;
    assert.ok(perSample <= 64, `${perSample.toFixed(1)} B read back per sample after warm-up`);
    assert.equal(steady.submits, steady.batches, 'one submit per batch');
    assert.equal(steady.readbacks, steady.batches, 'one readback per batch');
    // The network comes back once, with the last batch, and nothing after it.
    const job = countersSince(start, end);
    assert.deepEqual([end.submits, end.readbacks], [last!.submits, last!.readbacks]);
    const stats = cluster.stats();
    assert.ok(job.networkBytesReadBack >= stats.sections * SECTION_STRIDE * 4 + (stats.synapses - stats.outputLinks) * 12, `${job.networkBytesReadBack} B`);
    assert.ok(job.networkBytesReadBack < 2 * stats.bytes, `${job.networkBytesReadBack} B for a network of ${stats.bytes} B`);
  });

  it('between batches the structure is current on the host and predictions run on the device copy, which has the growth of the batch before', async () => {
    const x = { name: 'x', rows: 1, inputWidth: 784, inputColumns: [], inputs: Float32Array.from(data.test.inputs.subarray(784 * 3, 784 * 4)) };
    const run = async (betweenUsesBackend: boolean): Promise<{ outputs: Float32Array[]; stats: string[] }> => {
      const cluster = Cluster.create(DEFAULT_TEMPLATE, 22);
      const outputs: Float32Array[] = [];
      const stats: string[] = [];
      await gpu.train(cluster, cluster.bind(data.train), {
        to: 1500,
        betweenUsesBackend,
        between: async () => {
          stats.push(JSON.stringify(cluster.stats()));
          outputs.push((await gpu.predict(cluster, cluster.bind(x, { readOnly: true }), { inline: true })).outputs);
        },
      });
      return { outputs, stats };
    };
    const onDevice = await run(true);
    const onHost = await run(false);
    assert.ok(onDevice.outputs.length >= 10, `${onDevice.outputs.length} predictions`);
    assert.deepEqual(onDevice.stats, onHost.stats, 'the host structure is current in the hook either way');
    onDevice.outputs.forEach((o, i) => assert.deepEqual(o, onHost.outputs[i], `prediction ${i}`));
  });

  it('a host copy whose structure went apart from the device copy is refused, not grown on', async () => {
    const H = harness as GpuHarness;
    const state = randomNetwork({ seed: 3 });
    const bound = randomRows(state, 4, 3);
    const network = new GpuNetwork(H.context, H.pipelines, state, H.counters);
    try {
      network.load(state, bound.inputMap);
      // The device learned; the host's structure changed behind its back.
      network.learned();
      state.sectionsI32[SEC_TGT_BLOCK] = state.sectionsI32[SEC_TGT_BLOCK]! + 1;
      await assert.rejects(network.sync(state), /section 0 word 3 is .* on the host, .* on the device/);
    } finally {
      network.destroy();
    }
  });
});
