/**
 * The WebGPU backend end to end, against the CPU backend: a whole mnist8k training run, and
 * clusters moving between the backends (checkpoints written by one restore on the other, a
 * network trained on one predicts the same on the other).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CpuBackend } from '../../../cpu-fallback/backend.js';
import { outputWidth } from '../../../kernels/contract.js';
import { COUNTER } from '../../../kernels/layout.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { score } from '../../../server/network/evaluate.js';
import { WebGpuBackend } from '../../../kernels/webgpu/backend.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { webGpuUnavailable } from '../../fixtures/gpu.js';

const skip = (await webGpuUnavailable()) ?? false;
const data = await loadMnist8k();

async function accuracyOn(backend: CpuBackend | WebGpuBackend, cluster: Cluster): Promise<{ accuracy: number; outputs: Float32Array }> {
  const bound = cluster.bind(data.test, { readOnly: true });
  const { outputs } = await backend.predict(cluster, bound);
  return { accuracy: score(cluster.state, bound, outputs, outputWidth(cluster.state)).accuracy!, outputs };
}

/** Largest |a − b| and the share of rows whose best class agrees. */
function agreement(a: Float32Array, b: Float32Array, width: number): { maxDiff: number; sameClass: number } {
  let maxDiff = 0;
  let same = 0;
  const rows = a.length / width;
  for (let r = 0; r < rows; r++) {
    let ia = 0;
    let ib = 0;
    for (let k = 0; k < width; k++) {
      maxDiff = Math.max(maxDiff, Math.abs(a[r * width + k]! - b[r * width + k]!));
      if (a[r * width + k]! > a[r * width + ia]!) ia = k;
      if (b[r * width + k]! > b[r * width + ib]!) ib = k;
    }
    if (ia === ib) same++;
  }
  return { maxDiff, sameClass: same / rows };
}

describe('the WebGPU backend against the CPU backend', { skip }, () => {
  let gpu: WebGpuBackend;
  let cpu: CpuBackend;
  before(async () => {
    gpu = await WebGpuBackend.open();
    cpu = new CpuBackend(2);
  });
  after(async () => {
    await gpu?.close();
    await cpu?.close();
  });

  it("mnist8k: the WebGPU backend reaches the CPU backend's test accuracy within 0.5 points, with the same number of synapses ± 1 %", async () => {
    const onCpu = Cluster.create(DEFAULT_TEMPLATE, 1);
    await cpu.train(onCpu, onCpu.bind(data.train));
    const onGpu = Cluster.create(DEFAULT_TEMPLATE, 1);
    const started = performance.now();
    const before = gpu.transfers();
    await gpu.train(onGpu, onGpu.bind(data.train));
    const seconds = (performance.now() - started) / 1000;
    const t = gpu.transfers();
    const a = await accuracyOn(cpu, onCpu);
    const b = await accuracyOn(gpu, onGpu);
    const synapses = [onCpu.stats().synapses, onGpu.stats().synapses];
    process.stderr.write(
      `# mnist8k: CPU ${(a.accuracy * 100).toFixed(2)} % / ${synapses[0]} synapses; WebGPU (${gpu.adapter.summary}) ${(b.accuracy * 100).toFixed(2)} % / ${synapses[1]} synapses, trained in ${seconds.toFixed(1)} s with ${t.submits - before.submits} submits\n`,
    );
    assert.ok(Math.abs(a.accuracy - b.accuracy) <= 0.005, `accuracy: CPU ${a.accuracy}, WebGPU ${b.accuracy}`);
    assert.ok(Math.abs(synapses[1]! - synapses[0]!) <= 0.01 * synapses[0]!, `synapses: CPU ${synapses[0]}, WebGPU ${synapses[1]}`);
    assert.ok(b.accuracy > 0.9);
    assert.equal(onGpu.state.counters[COUNTER.samplesTrained], data.train.rows);
    // Goal: at most one submit and one readback per 256 samples once warmed up.
    assert.ok(t.submits - before.submits <= Math.ceil(data.train.rows / 256) + 30, `${t.submits - before.submits} submits`);
    assert.equal(t.submits - before.submits, t.readbacks - before.readbacks);
  });

  it('a checkpoint written after WebGPU training restores on the CPU backend, and the other way round', async () => {
    const trainedOnGpu = Cluster.create(DEFAULT_TEMPLATE, 3);
    await gpu.train(trainedOnGpu, trainedOnGpu.bind(data.train), { to: 2000 });
    const restoredOnCpu = Cluster.fromCheckpoint(trainedOnGpu.checkpoint()).cluster;
    const fromGpu = await accuracyOn(gpu, trainedOnGpu);
    const onCpu = await accuracyOn(cpu, restoredOnCpu);
    const width = outputWidth(trainedOnGpu.state);
    let m = agreement(fromGpu.outputs, onCpu.outputs, width);
    assert.ok(m.maxDiff < 1e-3 && m.sameClass > 0.998, `GPU checkpoint on the CPU: max difference ${m.maxDiff}, same class ${m.sameClass}`);

    const trainedOnCpu = Cluster.create(DEFAULT_TEMPLATE, 4);
    await cpu.train(trainedOnCpu, trainedOnCpu.bind(data.train), { to: 2000 });
    const restoredOnGpu = Cluster.fromCheckpoint(trainedOnCpu.checkpoint()).cluster;
    m = agreement((await accuracyOn(cpu, trainedOnCpu)).outputs, (await accuracyOn(gpu, restoredOnGpu)).outputs, width);
    assert.ok(m.maxDiff < 1e-3 && m.sameClass > 0.998, `CPU checkpoint on the GPU: max difference ${m.maxDiff}, same class ${m.sameClass}`);
    // Saving a restored network changes nothing (the GPU run left its host copy current).
    assert.ok(Cluster.fromCheckpoint(trainedOnGpu.checkpoint()).cluster.checkpoint().equals(trainedOnGpu.checkpoint()));
  });

  it('a cluster moves between the backends without changing its results', async () => {
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 6);
    const bound = cluster.bind(data.train);
    // CPU, then WebGPU, then the CPU again: the network keeps growing where it left off.
    await cpu.train(cluster, bound, { to: 1000 });
    await gpu.train(cluster, bound, { from: 1000, to: 2000 });
    assert.equal(cluster.state.counters[COUNTER.samplesTrained], 2000);
    const afterGpu = cluster.checkpoint();
    const a = await accuracyOn(gpu, cluster);
    const b = await accuracyOn(cpu, cluster);
    const m = agreement(a.outputs, b.outputs, outputWidth(cluster.state));
    assert.ok(m.maxDiff < 1e-3 && m.sameClass > 0.998, `max difference ${m.maxDiff}, same class ${m.sameClass}`);
    // Predicting moved nothing.
    assert.ok(cluster.checkpoint().equals(afterGpu));
    await cpu.train(cluster, bound, { from: 2000, to: 3000 });
    // The GPU notices the host copy changed and uploads it again before using it.
    const c = await accuracyOn(gpu, cluster);
    const d = await accuracyOn(cpu, cluster);
    const m2 = agreement(c.outputs, d.outputs, outputWidth(cluster.state));
    assert.ok(m2.maxDiff < 1e-3 && m2.sameClass > 0.998, `after moving back: max difference ${m2.maxDiff}`);
    assert.ok(d.accuracy > 0.85);
  });

  it('several clusters train on one device at the same time and reach what they reach alone', async () => {
    const alone = [Cluster.create(DEFAULT_TEMPLATE, 31), Cluster.create(DEFAULT_TEMPLATE, 32)];
    for (const c of alone) await gpu.train(c, c.bind(data.train), { to: 1500 });
    const together = [Cluster.create(DEFAULT_TEMPLATE, 31), Cluster.create(DEFAULT_TEMPLATE, 32)];
    await Promise.all(together.map((c) => gpu.train(c, c.bind(data.train), { to: 1500 })));
    for (let i = 0; i < 2; i++) assert.ok(together[i]!.checkpoint().equals(alone[i]!.checkpoint()), `cluster ${i}`);
  });

  for (const which of ['cpu', 'webgpu'] as const) {
    it(`${which}: the between hook sees the network current after each slice, and the job waits for its work`, async () => {
      const backend = which === 'cpu' ? cpu : gpu;
      const cluster = Cluster.create(DEFAULT_TEMPLATE, 9);
      const seen: number[] = [];
      let waited = false;
      await backend.train(cluster, cluster.bind(data.train), {
        to: 2000,
        sliceRows: 256,
        between: () => {
          const trained = cluster.state.counters[COUNTER.samplesTrained]!;
          if (seen.length > 0) assert.ok(waited, 'the previous hook finished before the job went on');
          seen.push(trained);
          waited = false;
          return new Promise<void>((resolve) =>
            setTimeout(() => {
              // Nothing trained while the hook's work ran.
              assert.equal(cluster.state.counters[COUNTER.samplesTrained], trained);
              waited = true;
              resolve();
            }, 5),
          );
        },
      });
      assert.ok(seen.length >= 2, `${seen.length} calls`);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, 'each call after more samples');
      assert.ok(seen.at(-1)! < 2000, 'not after the last slice');
      // The hook changes nothing: the same network as without it.
      const plain = Cluster.create(DEFAULT_TEMPLATE, 9);
      await backend.train(plain, plain.bind(data.train), { to: 2000, sliceRows: 256 });
      assert.ok(plain.checkpoint().equals(cluster.checkpoint()));
    });
  }

  it('a cancelled training job keeps what its completed batches learned', async () => {
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 8);
    const controller = new AbortController();
    await assert.rejects(
      gpu.train(cluster, cluster.bind(data.train), {
        signal: controller.signal,
        onProgress: (done) => {
          if (done >= 600) controller.abort();
        },
      }),
      { name: 'JobCancelled' },
    );
    const trained = cluster.state.counters[COUNTER.samplesTrained]!;
    assert.ok(trained >= 600 && trained < data.train.rows, `${trained} samples`);
    // Consistent: it checkpoints, restores and trains on.
    const restored = Cluster.fromCheckpoint(cluster.checkpoint()).cluster;
    await cpu.train(restored, restored.bind(data.train), { from: trained, to: trained + 100 });
  });
});
