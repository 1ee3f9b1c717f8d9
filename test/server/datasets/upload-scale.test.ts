/**
 * Big CSV uploads through the real service (in-process, real HTTP): the event loop stays
 * responsive while one is stored and parsed, and its parsed columns are stored beside it, so
 * that after a restart the first task reads them back: counted, the text is not parsed again.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { DEFAULT_TEMPLATE } from '../../../server/network/cluster.js';
import { scaleCsv } from '../../../server/perf/scale-csv.js';
import { startService, type RunningService } from '../../../server/service.js';
import { Client, createProject, obj, testConfig } from '../api/helpers.js';
import { createCluster, createDataset, runTask } from '../api/workflow.js';

const ADMIN = { name: 'admin', passphrase: 'admin-passphrase-for-tests' };

describe('CSV uploads at scale', () => {
  let dataDir = '';
  let service: RunningService | undefined;
  let admin: Client;

  const start = async (): Promise<void> => {
    service = await startService(testConfig(dataDir, { adminUser: ADMIN.name, adminPassphrase: ADMIN.passphrase }), { logger: pino({ level: 'silent' }) });
    admin = await Client.login(service.url, ADMIN.name, ADMIN.passphrase);
  };
  const restart = async (): Promise<RunningService> => {
    await service?.stop();
    await start();
    return service!;
  };

  before(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'hanami-csv-scale-'));
    await start();
  });
  after(async () => {
    await service?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const upload = (project: string, dataset: string, csv: Buffer): Promise<Record<string, unknown>> =>
    admin.expect(200, 'PUT', `/v1/projects/${project}/datasets/${dataset}/content/csv`, { body: csv, headers: { 'content-type': 'text/csv', 'content-length': String(csv.length) } });

  it('keeps the event loop responsive while a 200k-row CSV is uploaded and parsed (delay p99 < 200 ms)', async () => {
    const project = await createProject(admin, 'big-upload');
    // The routes' first use compiles their schemas (a one-off on the event loop): not measured.
    await upload(project, await createDataset(admin, project, { name: 'warm-up', format: 'csv', labelColumn: 'label' }), scaleCsv(100));
    const dataset = await createDataset(admin, project, { name: 'big', format: 'csv', labelColumn: 'label' });
    const csv = scaleCsv(200_000);
    const jobs = service!.services.datasetParser.jobs;
    const delay = monitorEventLoopDelay({ resolution: 10 });
    delay.enable();
    const ready = await upload(project, dataset, csv);
    delay.disable();
    assert.equal(ready.status, 'ready');
    assert.equal(ready.rows, 200_000);
    assert.equal(service!.services.datasetParser.jobs, jobs + 1, 'parsed in the dataset worker');
    const p99 = delay.percentile(99) / 1e6;
    assert.ok(p99 < 200, `event-loop delay p99 ${p99.toFixed(1)} ms during the upload (max ${(delay.max / 1e6).toFixed(1)} ms)`);
  });

  it('stores the parsed form at upload: after a restart the first task reads it, no parse runs', async () => {
    const project = await createProject(admin, 'restart');
    const dataset = await createDataset(admin, project, { name: 'small', format: 'csv', labelColumn: 'label' });
    await upload(project, dataset, scaleCsv(3000, 5));
    // The parsed form is written after the answer.
    await service!.services.datasets.settled();
    assert.ok((await service!.services.store.datasets.get(project, dataset)).blobs[0]?.parsedBlobId, 'stored beside the text');
    const cluster = await createCluster(admin, project, { name: 'c', template: DEFAULT_TEMPLATE, seed: 1 });
    const before = await runTask(admin, project, cluster, { kind: 'train', datasetId: dataset, epochs: 1 });

    const restarted = await restart();
    const after = await runTask(admin, project, cluster, { kind: 'train', datasetId: dataset, epochs: 1 });
    assert.deepEqual(restarted.services.datasets.loads, { parsedForm: 1, parsed: 0 }, 'read back, not parsed');
    assert.equal(restarted.services.datasetParser.jobs, 0, 'the dataset worker parsed nothing');
    // The same data: the task saw as many samples as before the restart.
    assert.deepEqual(obj(after.task.progress).total, obj(before.task.progress).total);
  });

  it('a dataset stored without a parsed form is parsed once, in the worker, and never again', async () => {
    const project = await createProject(admin, 'upgrade');
    const dataset = await createDataset(admin, project, { name: 'old', format: 'csv', labelColumn: 'label' });
    await upload(project, dataset, scaleCsv(2000, 9));
    await service!.services.datasets.settled();
    const cluster = await createCluster(admin, project, { name: 'c', template: DEFAULT_TEMPLATE, seed: 1 });
    // As records from before parsed forms: the CSV part alone.
    const store = service!.services.store;
    const record = await store.datasets.get(project, dataset);
    await store.datasets.update(project, dataset, { blobs: record.blobs.map(({ parsedBlobId: _, ...b }) => b) });

    let restarted = await restart();
    await runTask(admin, project, cluster, { kind: 'train', datasetId: dataset, epochs: 1 });
    assert.deepEqual(restarted.services.datasets.loads, { parsedForm: 0, parsed: 1 });
    await restarted.services.datasets.settled();
    assert.equal(restarted.services.datasetParser.jobs, 1, 'parsed in the dataset worker');
    const upgraded = await restarted.services.store.datasets.get(project, dataset);
    assert.ok(upgraded.blobs[0]?.parsedBlobId, 'the parsed form was stored');

    restarted = await restart();
    await runTask(admin, project, cluster, { kind: 'train', datasetId: dataset, epochs: 1 });
    assert.deepEqual(restarted.services.datasets.loads, { parsedForm: 1, parsed: 0 });
    assert.equal(restarted.services.datasetParser.jobs, 0);
  });
});
