/**
 * Issue 13, finding 4: a full disk gave a generic 500 `internal` (which the docs define as a
 * bug), a dataset error saying the upload "broke off", and /readyz stayed 200 while nothing
 * could be written.
 *
 * Now ENOSPC (and EDQUOT, SQLITE_FULL) is 507 `insufficient_storage` with a problem that says
 * so, the partial upload is removed, and /readyz reports the store unwritable (a periodic
 * write probe, and at once after a request hit the full disk) until space is back.
 *
 * The embedded store (SQLite + blob folder) runs on an 8 MiB tmpfs, filled up by a file.
 * Mounting needs root (CI runs as root); elsewhere the test is skipped, saying why.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, readdirSync, rmSync, writeSync, closeSync, unlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { startService, type RunningService } from '../../../server/service.js';
import { ADMIN_NAME, ADMIN_PASSPHRASE, assertProblem, Client, createProject, obj, request, testConfig, waitFor } from './helpers.js';
import { createDataset } from './workflow.js';

function mountSkipReason(): string | false {
  if (process.platform !== 'linux') return 'needs Linux (tmpfs)';
  if (process.getuid?.() !== 0) return 'needs root to mount an 8 MiB tmpfs for the store (CI runs as root)';
  const probe = mkdtempSync(join(tmpdir(), 'hanami-tmpfs-probe-'));
  try {
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { encoding: 'utf8' });
    if (mounted.status !== 0) return `cannot mount a tmpfs here: ${(mounted.stderr || mounted.error?.message || '').trim()}`;
    spawnSync('umount', [probe]);
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** Writes a file until the file system is full; returns its path. */
function fillUp(dir: string, name = 'filler'): string {
  const path = join(dir, name);
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    assert.equal((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }
  // The last few bytes too.
  const small = openSync(path, 'a');
  try {
    for (;;) writeSync(small, Buffer.alloc(512, 1));
  } catch {
    // full
  } finally {
    closeSync(small);
  }
  return path;
}

const skip = mountSkipReason();

describe('attack: a full disk', { skip }, () => {
  let dir: string;
  let service: RunningService;
  let admin: Client;
  let projectId: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hanami-full-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', dir], { encoding: 'utf8' });
    assert.equal(mounted.status, 0, mounted.stderr);
    service = await startService(testConfig(dir, { storeProbeMs: 200 }), { logger: pino({ level: 'silent' }) });
    admin = await Client.login(service.url, ADMIN_NAME, ADMIN_PASSPHRASE);
    projectId = await createProject(admin, 'full');
  });
  after(async () => {
    await service?.stop();
    const unmounted = spawnSync('umount', [dir]);
    // Something may still hold a file there (a worker closing): detach it instead.
    if (unmounted.status !== 0) spawnSync('umount', ['-l', dir]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('an upload onto a full disk: 507 insufficient_storage, nothing partial left, /readyz 503 until space is back', async () => {
    const datasetId = await createDataset(admin, projectId, { name: 'onto a full disk', format: 'csv' });
    assert.equal((await request(service.url, 'GET', '/readyz')).status, 200);
    const filler = fillUp(dir);
    const csv = `a,b\n${'1,2\n'.repeat(500_000)}`;
    const r = await admin.send('PUT', `/v1/projects/${projectId}/datasets/${datasetId}/content/csv`, { body: csv, headers: { 'content-type': 'text/csv' } });
    const p = assertProblem(r, 507, 'insufficient_storage');
    assert.match(String(p.detail), /storage is full \((ENOSPC|SQLITE_FULL)\)/);
    assert.doesNotMatch(String(p.detail), /broke off|internal/);
    // The partial upload is gone (the write probe's own 4 KiB temp file may come and go).
    const tmp = join(dir, 'blobs', 'tmp');
    await waitFor(
      async () => (existsSync(tmp) ? readdirSync(tmp) : []),
      (files) => files.length === 0,
      'no temp files left',
      3000,
    );
    // The failed upload's clean-up (its temp file, SQLite's write-ahead log reset by a
    // checkpoint) can give a few pages back, and a probe that finds them writes fine: that is
    // a disk with room again. Take them, so the disk stays full while /readyz is asked.
    const filler2 = fillUp(dir, 'filler2');
    // /readyz: not ready, and why.
    const notReady = await waitFor(
      () => request(service.url, 'GET', '/readyz'),
      (x) => x.status === 503,
      '/readyz 503',
      5000,
    );
    assert.match(String(obj(notReady.body).detail), /does not take writes \((ENOSPC|SQLITE_FULL)/);
    // Other writes are 507 too, never a 500.
    for (let i = 0; i < 5; i++) {
      const w = await admin.post(`/v1/projects/${projectId}/templates`, { name: `t${i}`, template: 'version: 1\nhexagons:\n  1,1\n  2,1\ninputs:\n  a: 1,1\noutputs:\n  b: 2,1\n' });
      assert.ok(w.status === 201 || w.status === 507, `a write on a full disk: ${w.status} ${w.text.slice(0, 200)}`);
    }
    // Space is back: ready again, and the upload works.
    unlinkSync(filler);
    unlinkSync(filler2);
    await waitFor(
      () => request(service.url, 'GET', '/readyz'),
      (x) => x.status === 200,
      '/readyz 200 again',
      5000,
    );
    const again = await admin.send('PUT', `/v1/projects/${projectId}/datasets/${datasetId}/content/csv`, { body: csv, headers: { 'content-type': 'text/csv' } });
    assert.equal(again.status, 200, again.text.slice(0, 300));
    assert.equal(obj(again.body).status, 'ready');
  });
});
