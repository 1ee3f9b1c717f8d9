/**
 * Direct I/O through the WebGPU backend (DirectRunner goes through the Backend on every
 * host): single samples train and answer like the CPU's within the twin tolerance, spiking
 * networks keep the host copy current (a reset on the host is seen by the GPU), and reads
 * made while a job of the cluster runs do not wait for the job.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CpuBackend } from '../../../cpu-fallback/backend.js';
import { resetSpikingState } from '../../../kernels/state.js';
import { WebGpuBackend } from '../../../kernels/webgpu/backend.js';
import { loadMnist8k } from '../../../server/datasets/mnist8k.js';
import { Cluster, DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { DirectRunner } from '../../../server/network/direct.js';
import { webGpuUnavailable } from '../../fixtures/gpu.js';

const skip = (await webGpuUnavailable()) ?? false;
const data = await loadMnist8k();
const image = (row: number, set = data.train): Float32Array => Float32Array.from(set.inputs.subarray(row * 784, row * 784 + 784));
const label = (row: number): number => (data.train.targets!.kind === 'class' ? data.train.targets!.labels[row]! : 0);

/** Whole runs of a few samples agree within 1e-4 (docs/architecture.md, "Tolerance"). */
function near(a: Float32Array, b: Float32Array, what: string, tolerance = 1e-4): void {
  assert.equal(a.length, b.length, what);
  for (let k = 0; k < a.length; k++) assert.ok(Math.abs(a[k]! - b[k]!) <= tolerance * Math.max(1, Math.abs(b[k]!)), `${what} value ${k}: GPU ${a[k]}, CPU ${b[k]}`);
}

describe('direct I/O through the WebGPU backend', { skip }, () => {
  let gpu: WebGpuBackend;
  let cpu: CpuBackend;
  before(async () => {
    gpu = await WebGpuBackend.open();
    cpu = new CpuBackend(1);
  });
  after(async () => {
    await gpu?.close();
    await cpu?.close();
  });

  it('single samples train on the device as on the CPU: the same growth, outputs within tolerance', async () => {
    const onGpu = Cluster.create(DEFAULT_TEMPLATE, 4);
    const onCpu = Cluster.create(DEFAULT_TEMPLATE, 4);
    const viaGpu = new DirectRunner(onGpu, gpu);
    const viaCpu = new DirectRunner(onCpu, cpu);
    for (let row = 0; row < 10; row++) {
      const target = { label: label(row), classes: 10 };
      const g = await viaGpu.train(image(row), target);
      const c = await viaCpu.train(image(row), target);
      near(g.outputs, c.outputs, `train ${row}`);
    }
    // One sample per batch grows exactly the CPU's network.
    assert.equal(onGpu.stats().synapses, onCpu.stats().synapses);
    assert.equal(onGpu.stats().sections, onCpu.stats().sections);
    for (const row of [0, 20, 40]) near((await viaGpu.request(image(row, data.test))).outputs, (await viaCpu.request(image(row, data.test))).outputs, `request ${row}`);
  });

  it('spiking: requests carry the potentials on, and a reset on the host reaches the device copy', async () => {
    const template = DEFAULT_TEMPLATE.replace('neuron_cooldown: 1000000000.0', 'neuron_cooldown: 2.0');
    const cluster = Cluster.create(template, 9);
    await cpu.train(cluster, cluster.bind(data.train), { to: 500 });
    const runner = new DirectRunner(cluster, gpu);
    resetSpikingState(cluster.state);
    const first = (await runner.request(image(1, data.test))).outputs;
    const carried = (await runner.request(image(1, data.test))).outputs;
    assert.ok(
      first.some((v, k) => Math.abs(v - carried[k]!) > 1e-4),
      'the second call saw what the first left',
    );
    resetSpikingState(cluster.state);
    near((await runner.request(image(1, data.test))).outputs, first, 'after a reset, as from a cleared state', 1e-6);
  });

  it("a prediction from a training job's between hook runs at once, and the job trains on as without it", async () => {
    // The training rows feed the input from column 1 on, the prediction's from column 0: the
    // job's next batch must not read its rows through the prediction's columns.
    const rows = 1200;
    const shifted = new Float32Array(rows * 785);
    for (let r = 0; r < rows; r++) {
      shifted[r * 785] = 255;
      shifted.set(data.train.inputs.subarray(r * 784, r * 784 + 784), r * 785 + 1);
    }
    const training = { name: 'shifted', rows, inputWidth: 785, inputColumns: [], inputs: shifted, targets: data.train.targets! };
    const mapping = { inputs: [{ name: 'input', column: 1, size: 784 }] };
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 12);
    const runner = new DirectRunner(cluster, gpu);
    const x = image(7, data.test);
    let answered = 0;
    await gpu.train(cluster, cluster.bind(training, mapping), {
      between: async () => {
        // The job waits for this; queuing behind the job would never finish.
        const [answer] = await runner.requestMany([x], { inline: true });
        assert.ok(answer !== undefined && !(answer instanceof Error));
        const reference = await cpu.predict(cluster, cluster.bind({ name: 'x', rows: 1, inputWidth: 784, inputColumns: [], inputs: x }, { readOnly: true }), { inline: true });
        near(answer.outputs, reference.outputs, 'between batches, the network as trained so far', 1e-5);
        answered++;
      },
    });
    assert.ok(answered >= 2, `${answered} predictions between batches`);
    const plain = Cluster.create(DEFAULT_TEMPLATE, 12);
    await gpu.train(plain, plain.bind(training, mapping));
    assert.ok(plain.checkpoint().equals(cluster.checkpoint()), 'the same network as without the predictions');
  });

  it('an inline prediction does not wait for a running prediction job of the cluster, and agrees with it', async () => {
    const cluster = Cluster.create(DEFAULT_TEMPLATE, 13);
    await cpu.train(cluster, cluster.bind(data.train), { to: 1000 });
    const bound = cluster.bind(data.test, { readOnly: true });
    const order: string[] = [];
    const job = gpu.predict(cluster, bound, { batch: 128 }).then((r) => (order.push('job'), r));
    // Let the job start its first batch.
    await new Promise((resolve) => setImmediate(resolve));
    const runner = new DirectRunner(cluster, gpu);
    const [lone] = await runner.requestMany([image(5, data.test)], { inline: true });
    order.push('inline');
    const { outputs } = await job;
    assert.deepEqual(order, ['inline', 'job']);
    assert.ok(lone !== undefined && !(lone instanceof Error));
    near(lone.outputs, outputs.subarray(50, 60), 'row 5', 1e-6);
  });
});
