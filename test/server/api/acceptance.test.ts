/**
 * End-to-end acceptance over real HTTP, the reference's own workflow: an admin creates a
 * project and a user; the user uploads the mnist8k train and test IDX files, creates a
 * cluster from a stored template, trains it while polling progress, saves a checkpoint,
 * restores it into a second cluster, runs a request task on the test set on both clusters,
 * gets the same predictions from both, and an accuracy equal to the CLI's for the same
 * seed. Then a CSV dataset with raw values in wildly different units trains and predicts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { exportMnist8k } from '../../../server/datasets/mnist8k.js';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { arr, createProject, memberOf, num, obj, startTestService, str, type Client, type TestService, storeVariants } from './helpers.js';
import { createCluster, createDataset, jsonResults, runTask, uploadFile, uploadIdx } from './workflow.js';

const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));
const SEED = 7;

function cli(...args: string[]): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { maxBuffer: 16 << 20, timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`hanami ${args.join(' ')}: ${stderr}`));
      else resolve(obj(JSON.parse(stdout)));
    });
  });
}

/** Deterministic weather readings: pascals, kelvins, a 0–1 fraction and ppm in one table. */
function weatherCsv(rows: number, seed: number): string {
  let s = seed;
  const random = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const lines = ['pressure_pa,temperature_k,humidity,particles_ppm,weather'];
  for (let i = 0; i < rows; i++) {
    const pressure = 95000 + random() * 10000;
    const temperature = 250 + random() * 70;
    const humidity = random();
    const particles = random() * 5000;
    const weather = humidity > 0.6 ? (pressure < 100000 ? 'rain' : 'fog') : temperature > 290 ? 'sun' : 'cold';
    lines.push([pressure.toFixed(1), temperature.toFixed(2), humidity.toFixed(3), particles.toFixed(0), weather].join(','));
  }
  return `${lines.join('\n')}\n`;
}

function parseCsv(text: string): string[][] {
  return text
    .trim()
    .split('\n')
    .map((line) => line.split(','));
}

for (const variant of storeVariants()) {
  describe(`acceptance: the reference workflow over HTTP (${variant.name} store)`, () => {
    let t: TestService;
    let dir: string;
    let files: string[];
    let cliReport: Promise<Record<string, unknown>>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'hanami-acceptance-'));
      files = await exportMnist8k(dir);
      // The reference accuracy, computed by the CLI in its own process while the service works.
      cliReport = cli('train', '--train', 'mnist8k', '--test', 'mnist8k', '--seed', String(SEED), '--json');
      t = await startTestService(variant.config);
    });
    after(async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('trains, checkpoints, restores and predicts mnist8k like the CLI does', async () => {
      const [trainImages, trainLabels, testImages, testLabels] = files as [string, string, string, string];
      const project = await createProject(t.admin, 'digits');
      const user: Client = await memberOf(t.admin, project, 'tsugumi');

      const train = await uploadIdx(user, project, 'mnist8k-train', trainImages, trainLabels);
      const test = await uploadIdx(user, project, 'mnist8k-test', testImages, testLabels);
      const shown = await user.expect(200, 'GET', `/v1/projects/${project}/datasets/${train}`);
      assert.equal(shown.rows, 8000);
      assert.equal(shown.inputWidth, 784);
      assert.deepEqual(obj(shown.targets).classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

      const template = str(await user.expect(201, 'POST', `/v1/projects/${project}/templates`, { json: { name: 'line', template: DEFAULT_TEMPLATE } }), 'id');
      const first = await createCluster(user, project, { name: 'first', templateId: template, seed: SEED });

      const trained = await runTask(user, project, first, { kind: 'train', datasetId: train });
      const seen = trained.progressSeen;
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
        'progress never goes back',
      );
      assert.deepEqual(obj(trained.task.progress), { done: 8000, total: 8000 });
      assert.equal(obj(obj(trained.task.result).stats).samplesTrained, 8000);
      const firstShown = await user.expect(200, 'GET', `/v1/projects/${project}/clusters/${first}`);
      assert.ok(num(obj(firstShown.stats), 'synapses') > 0, 'the cluster grew');

      const checkpoint = await user.expect(201, 'POST', `/v1/projects/${project}/checkpoints`, { json: { clusterId: first, name: 'after one epoch' } });
      const restored = await user.expect(201, 'POST', `/v1/projects/${project}/checkpoints/${str(checkpoint, 'id')}/restore`, { json: { name: 'second' } });
      const second = str(restored, 'id');
      assert.deepEqual(restored.stats, firstShown.stats, 'the restored cluster is the same network');

      const onFirst = await runTask(user, project, first, { kind: 'request', datasetId: test });
      const onSecond = await runTask(user, project, second, { kind: 'request', datasetId: test });
      const firstResults = await jsonResults(user, project, first, str(onFirst.task, 'id'));
      const secondResults = await jsonResults(user, project, second, str(onSecond.task, 'id'));
      assert.equal(arr(firstResults.values).length, 2000);
      assert.deepEqual(secondResults.values, firstResults.values, 'identical outputs from both clusters');
      assert.deepEqual(secondResults.predictions, firstResults.predictions, 'identical predictions from both clusters');

      const check = await user.expect(200, 'GET', `/v1/projects/${project}/datasets/${test}/check?taskId=${str(onFirst.task, 'id')}`);
      const reference = obj((await cliReport).test);
      assert.equal(Math.round(num(check, 'accuracy') * 1e6) / 1e6, num(reference, 'accuracy'), 'the service scores the same seed like the CLI');
      assert.equal(num(obj(onFirst.task.result), 'accuracy'), num(check, 'accuracy'));
      assert.ok(num(check, 'accuracy') > 0.8, 'and it learned the digits');

      // The CSV download says the same as the JSON one.
      const csv = await user.send('GET', `/v1/projects/${project}/clusters/${first}/tasks/${str(onFirst.task, 'id')}/results?format=csv`);
      assert.equal(csv.status, 200);
      assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
      const table = parseCsv(csv.text);
      assert.equal(table[0]!.at(-1), 'output');
      assert.deepEqual(
        table.slice(1).map((row) => row.at(-1)),
        obj(firstResults.predictions).output,
      );

      // The checkpoint file downloads intact, and the CLI reads it.
      const download = await fetch(`${t.url}/v1/projects/${project}/checkpoints/${str(checkpoint, 'id')}/content`, { headers: { authorization: `Bearer ${user.token ?? ''}` } });
      const bytes = Buffer.from(await download.arrayBuffer());
      assert.equal(createHash('sha256').update(bytes).digest('hex'), checkpoint.sha256);
      const file = join(dir, 'digits.ckpt');
      writeFileSync(file, bytes);
      const tested = await cli('test', '--checkpoint', file, '--test', 'mnist8k', '--json');
      assert.equal(num(obj(tested.test), 'accuracy'), num(reference, 'accuracy'));
    });

    it('trains and predicts a CSV dataset whose columns are raw values in wildly different units', async () => {
      const project = await createProject(t.admin, 'weather');
      const user = await memberOf(t.admin, project, 'meteorologist');
      writeFileSync(join(dir, 'weather-train.csv'), weatherCsv(4000, 11));
      writeFileSync(join(dir, 'weather-test.csv'), weatherCsv(1000, 12));
      const train = await createDataset(user, project, { name: 'weather train', format: 'csv', labelColumn: 'weather' });
      const ready = await uploadFile(user, project, train, 'csv', join(dir, 'weather-train.csv'), 'text/csv');
      assert.equal(ready.status, 'ready');
      assert.deepEqual(ready.inputColumns, ['pressure_pa', 'temperature_k', 'humidity', 'particles_ppm']);
      const test = await createDataset(user, project, { name: 'weather test', format: 'csv', labelColumn: 'weather' });
      await uploadFile(user, project, test, 'csv', join(dir, 'weather-test.csv'), 'text/csv');

      const cluster = await createCluster(user, project, { name: 'weather', template: DEFAULT_TEMPLATE, seed: 3 });
      await runTask(user, project, cluster, { kind: 'train', datasetId: train, epochs: 3 });
      const request = await runTask(user, project, cluster, { kind: 'request', datasetId: test });
      const results = await jsonResults(user, project, cluster, str(request.task, 'id'));
      const predicted = arr(obj(results.predictions).output);
      assert.equal(predicted.length, 1000);
      assert.ok(
        predicted.every((p) => ['rain', 'fog', 'sun', 'cold'].includes(String(p))),
        'predictions are the class names of the CSV',
      );
      const check = await user.expect(200, 'GET', `/v1/projects/${project}/datasets/${test}/check?taskId=${str(request.task, 'id')}`);
      // The most frequent class is about a third of the rows: above 45 % it learned from the
      // raw pascals, kelvins and fractions, with nothing normalized.
      assert.ok(num(check, 'accuracy') > 0.45, `accuracy ${num(check, 'accuracy')}`);
    });
  });
}
