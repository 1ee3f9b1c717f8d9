/**
 * Issue 13, findings 2 and 8b: uploads.
 *
 * - Gzip uploads were limited by their compressed size only: 949 KiB of gzip held an IDX of
 *   1,000,000 × 1,000 zero bytes (RSS +1 GiB, kept; 4.4 GiB with three in parallel), 94 KiB
 *   held 49.8 M CSV rows (382 s of CPU). Now decoded bytes are counted while decompressing
 *   (per part and per project), CSV rows and columns are limited, the memory a parsed dataset
 *   may take is checked before it is allocated, and the dataset cache never keeps an entry
 *   over its budget: 413 `dataset_too_large` naming the limit.
 * - 200 MB of junk was written in full before the 422: now the first bytes are checked as
 *   they arrive (IDX magic and header, CSV header and first rows) and the upload stops there.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import type { Dataset } from '../../../server/datasets/types.js';
import type { DatasetRecord, Store } from '../../../server/store/types.js';
import { DatasetCache } from '../../../server/tasks/dataset-loader.js';
import { duringWork, HEALTH_TARGET_MS, withinTries } from './watch.js';
import { assertProblem, createProject, obj, startTestService, type Reply, type TestService } from './helpers.js';
import { createDataset } from './workflow.js';

const MiB = 1024 * 1024;

/** An IDX header: magic, type u8, the dimensions. */
function idxHeader(dims: number[]): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return header;
}

/**
 * A gzip stream that decompresses to `head` and then `times` × `block`: concatenated gzip
 * members (which gunzip reads as one stream), so a bomb of any size costs nothing to build.
 */
function gzipBomb(head: Buffer, block: Buffer, times: number): Buffer {
  const member = gzipSync(block, { level: 9 });
  return Buffer.concat([gzipSync(head), ...Array.from({ length: times }, () => member)]);
}

function put(t: TestService, projectId: string, datasetId: string, part: string, body: Buffer | Readable, contentType = 'application/gzip'): Promise<Reply> {
  return t.admin.send('PUT', `/v1/projects/${projectId}/datasets/${datasetId}/content/${part}`, { body, headers: { 'content-type': contentType } });
}

describe('attack: decompression bombs', () => {
  let t: TestService;
  let projectId: string;

  before(async () => {
    t = await startTestService();
    projectId = await createProject(t.admin, 'bombs');
  });
  after(() => t.close());

  it("the probe's IDX bomb (1,000,000 × 1,000 zero bytes in ~1 MiB of gzip), three at once: 413, /healthz within 200 ms, RSS bounded", async () => {
    const bomb = gzipBomb(idxHeader([1_000_000, 1_000]), Buffer.alloc(MiB), 1000);
    assert.ok(bomb.length < 1.2 * MiB, `the bomb is small: ${bomb.length} bytes`);
    await withinTries(3, async (attempt) => {
      global.gc?.();
      const idle = process.memoryUsage().rss;
      const ids = await Promise.all([0, 1, 2].map((i) => createDataset(t.admin, projectId, { name: `idx-bomb-${attempt}-${i}`, format: 'idx' })));
      const { result, slowestHealthMs, peakRss } = await duringWork(t.url, () => Promise.all(ids.map((id) => put(t, projectId, id, 'images', bomb))));
      for (const r of result) {
        const p = assertProblem(r, 413, 'dataset_too_large');
        assert.deepEqual(p.limit, { name: 'HANAMI_MAX_DATASET_BYTES', value: 256 * MiB });
        assert.match(String(p.detail), /1000000000 bytes in memory/);
      }
      assert.ok(peakRss - idle < 512 * MiB, `RSS grew ${Math.round((peakRss - idle) / MiB)} MiB`);
      for (const id of ids) {
        const record = obj((await t.admin.get(`/v1/projects/${projectId}/datasets/${id}`)).body);
        assert.equal(record.status, 'failed');
        assert.deepEqual(record.parts, [], 'nothing was kept');
        assert.match(String(record.error), /HANAMI_MAX_DATASET_BYTES/);
      }
      return slowestHealthMs < HEALTH_TARGET_MS ? undefined : `slowest /healthz ${Math.round(slowestHealthMs)} ms`;
    });
  });

  it('a CSV bomb (a few KiB of gzip, 50 M rows) stops at HANAMI_CSV_MAX_ROWS; parsed off the event loop, /healthz within 200 ms, RSS bounded', async () => {
    const rows = await startTestService({ csvMaxRows: 200_000 });
    try {
      const project = await createProject(rows.admin, 'csv-bomb');
      const bomb = gzipBomb(Buffer.from('a\n'), Buffer.from('0\n'.repeat(512 * 1024)), 100);
      assert.ok(bomb.length < 200 * 1024, `${bomb.length} bytes of gzip for 50 M rows`);
      await withinTries(3, async (attempt) => {
        const id = await createDataset(rows.admin, project, { name: `csv-bomb-${attempt}`, format: 'csv' });
        global.gc?.();
        const idle = process.memoryUsage().rss;
        const { result, slowestHealthMs, peakRss, polls } = await duringWork(rows.url, () => put(rows, project, id, 'csv', bomb));
        const p = assertProblem(result, 413, 'dataset_too_large');
        assert.deepEqual(p.limit, { name: 'HANAMI_CSV_MAX_ROWS', value: 200_000 });
        assert.equal(p.row, 200_002, 'the first row over the limit (the header is row 1)');
        assert.ok(peakRss - idle < 512 * MiB, `RSS grew ${Math.round((peakRss - idle) / MiB)} MiB`);
        assert.ok(polls >= 5, `polled while it parsed (${polls})`);
        return slowestHealthMs < HEALTH_TARGET_MS ? undefined : `slowest /healthz ${Math.round(slowestHealthMs)} ms`;
      });
    } finally {
      await rows.close();
    }
  });

  it('decoded bytes are counted while decompressing: HANAMI_MAX_DECODED_BYTES stops a wide CSV bomb', async () => {
    const decoded = await startTestService({ maxDecodedBytes: 8 * MiB });
    try {
      const project = await createProject(decoded.admin, 'wide-bomb');
      const id = await createDataset(decoded.admin, project, { name: 'wide', format: 'csv' });
      const columns = 100;
      const header = `${Array.from({ length: columns }, (_, i) => `c${i}`).join(',')}\n`;
      const bomb = gzipBomb(Buffer.from(header), Buffer.from(`${'0,'.repeat(columns - 1)}0\n`.repeat(5000)), 1000);
      const started = performance.now();
      const p = assertProblem(await put(decoded, project, id, 'csv', bomb), 413, 'dataset_too_large');
      assert.deepEqual(p.limit, { name: 'HANAMI_MAX_DECODED_BYTES', value: 8 * MiB });
      assert.equal(p.byteOffset, 8 * MiB);
      assert.ok(performance.now() - started < 20_000, 'decompression stopped at the limit, not at the end of 1 GB');
    } finally {
      await decoded.close();
    }
  });

  it('HANAMI_PROJECT_MAX_DECODED_BYTES: the parts of a project share one budget; the problem says what is in use', async () => {
    const budget = await startTestService({ projectMaxDecodedBytes: 1 * MiB });
    try {
      const project = await createProject(budget.admin, 'budget');
      const csv = `a,b\n${'1,2\n'.repeat(150_000)}`;
      const first = await createDataset(budget.admin, project, { name: 'first', format: 'csv' });
      assert.equal((await put(budget, project, first, 'csv', gzipSync(csv))).status, 200);
      const second = await createDataset(budget.admin, project, { name: 'second', format: 'csv' });
      const p = assertProblem(await put(budget, project, second, 'csv', gzipSync(csv)), 413, 'dataset_too_large');
      assert.deepEqual(p.limit, { name: 'HANAMI_PROJECT_MAX_DECODED_BYTES', value: MiB });
      assert.equal(p.usage, csv.length, 'the first dataset decoded size');
      assert.match(String(p.detail), /for the project, of which 600004 are in use/);
    } finally {
      await budget.close();
    }
  });

  it('CSV columns are limited (HANAMI_CSV_MAX_COLUMNS), in the header and in any row', async () => {
    const narrow = await startTestService({ csvMaxColumns: 10 });
    try {
      const project = await createProject(narrow.admin, 'columns');
      const wideHeader = await createDataset(narrow.admin, project, { name: 'wide header', format: 'csv' });
      const p = assertProblem(
        await put(narrow, project, wideHeader, 'csv', Buffer.from(`${Array.from({ length: 11 }, (_, i) => `c${i}`).join(',')}\n${'1,'.repeat(10)}1\n`), 'text/csv'),
        413,
        'dataset_too_large',
      );
      assert.deepEqual(p.limit, { name: 'HANAMI_CSV_MAX_COLUMNS', value: 10 });
      const longRow = await createDataset(narrow.admin, project, { name: 'long row', format: 'csv' });
      const q = assertProblem(await put(narrow, project, longRow, 'csv', gzipSync(`a,b\n1,2\n${'1,'.repeat(100_000)}1\n`)), 413, 'dataset_too_large');
      assert.deepEqual(q.limit, { name: 'HANAMI_CSV_MAX_COLUMNS', value: 10 });
    } finally {
      await narrow.close();
    }
  });
});

describe('attack: junk uploads are refused from their first bytes', () => {
  let t: TestService;
  let projectId: string;

  before(async () => {
    t = await startTestService();
    projectId = await createProject(t.admin, 'junk');
  });
  after(() => t.close());

  /** 200 MB of `chunk`, counting what the client was asked for. */
  function junk(first: Buffer, chunk: Buffer): { stream: Readable; produced: () => number } {
    let produced = 0;
    const stream = Readable.from(
      (function* () {
        produced += first.length;
        yield first;
        while (produced < 200 * 1000 * 1000) {
          produced += chunk.length;
          yield chunk;
        }
      })(),
    );
    return { stream, produced: () => produced };
  }

  const cases: [string, string, Record<string, unknown>, Buffer, RegExp][] = [
    ['IDX images with a bad magic', 'images', { format: 'idx' }, Buffer.from('this is not an IDX file '.repeat(10)), /bad IDX magic/],
    ['IDX labels with two dimensions', 'labels', { format: 'idx' }, idxHeader([100, 2]), /labels file has 1 dimension/],
    ['binary junk as CSV', 'csv', { format: 'csv' }, Buffer.from([0x41, 0x2c, 0x42, 0x0a, 0x00, 0xff, 0x13]), /binary data/],
    ['CSV without the label column it was created with', 'csv', { format: 'csv', labelColumn: 'label' }, Buffer.from('a,b,c\n1,2,3\n'), /unknown column "label"/],
    ['CSV with words in its first rows', 'csv', { format: 'csv' }, Buffer.from('a,b\n1,2\nthree,4\n'), /not a number in column "a"/],
  ];
  for (const [what, part, body, first, message] of cases) {
    it(`${what}: 422 after the first bytes, not after 200 MB`, async () => {
      const id = await createDataset(t.admin, projectId, { name: what, ...body });
      const filler = part === 'csv' ? Buffer.from('1,2,3\n'.repeat(10_000)) : Buffer.alloc(64 * 1024, 7);
      const { stream, produced } = junk(first, filler);
      const started = performance.now();
      const r = await put(t, projectId, id, part, stream, 'application/octet-stream');
      const p = assertProblem(r, 422, 'bad_dataset');
      assert.match(String(p.detail), message);
      assert.ok(produced() < 64 * MiB, `the upload stopped early: ${Math.round(produced() / MiB)} MiB of 200 were asked for`);
      assert.ok(performance.now() - started < 10_000, 'quickly');
      const record = obj((await t.admin.get(`/v1/projects/${projectId}/datasets/${id}`)).body);
      assert.equal(record.status, 'failed');
      assert.deepEqual(record.parts, []);
    });
  }

  it('the same junk gzipped is refused from its first decoded bytes too', async () => {
    const id = await createDataset(t.admin, projectId, { name: 'gzipped junk', format: 'idx' });
    const r = await put(t, projectId, id, 'images', gzipSync(Buffer.concat([Buffer.from('junk'), Buffer.alloc(50 * MiB, 1)])));
    assert.equal(assertProblem(r, 422, 'bad_dataset').byteOffset, 0);
  });
});

describe('DatasetCache', () => {
  it('never keeps an entry larger than its budget', async () => {
    let loads = 0;
    const store = { blobs: { open: () => Promise.reject(new Error(`load ${++loads}`)) } } as unknown as Store;
    const cache = new DatasetCache(store, 1000);
    const dataset = (bytes: number): Dataset => ({ name: 'd', rows: 1, inputWidth: bytes, inputColumns: [], inputs: new Uint8Array(bytes) });
    const record = (id: string): DatasetRecord => ({ id, format: 'csv', blobs: [{ role: 'csv', blobId: 'b', bytes: 1, sha256: '' }], options: {} }) as unknown as DatasetRecord;
    cache.put('small', dataset(600));
    assert.equal((await cache.get(record('small'))).inputWidth, 600, 'kept');
    cache.put('big', dataset(4000));
    await assert.rejects(cache.get(record('big')), /load 1/, 'not kept: it is loaded again');
    assert.equal((await cache.get(record('small'))).inputWidth, 600, 'and it did not push out what fits');
  });
});
