/**
 * The pool's benchmark suites (`hanami bench --contention`, the `tenants` suite) run end to
 * end on mnist8k and report what they claim; the figures themselves are benchmarks, not
 * tested (docs/performance.md).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runContention } from '../../../server/cli/contention.js';
import { runTenants } from '../../../server/cli/tenants.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('contention: both thread settings train under a busy loop to the same network, and the loop is stopped', async () => {
  const lines: string[] = [];
  const { runs, summary, busyPid } = await runContention({ dataset: 'mnist8k', runs: 1 }, (l) => lines.push(l));
  assert.equal(runs.length, 1);
  const run = runs[0]!;
  assert.ok(run.defaultSeconds > 0 && run.oneThreadSeconds > 0);
  assert.equal(run.ratio, Math.round((run.defaultSeconds / run.oneThreadSeconds) * 1000) / 1000);
  assert.equal(run.defaultAccuracy, run.oneThreadAccuracy, 'same seed and data: the same network whatever the threads and the load');
  assert.equal(summary.ratio, run.ratio);
  const kinds = lines.map((l) => {
    const o = JSON.parse(l) as { suite?: string; bench?: string };
    return o.suite ?? o.bench;
  });
  assert.deepEqual(kinds, ['contention', 'contention'], 'a line per run, then the summary');
  assert.ok(busyPid !== undefined);
  for (let i = 0; i < 50 && alive(busyPid); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(alive(busyPid), false, 'the busy loop is gone');
});

test('tenants: two clusters on the pool, alone and as two processes, as aggregate samples/s', async () => {
  const t = await runTenants({ dataset: 'mnist8k', rows: 2000, clusters: 2, threads: 2 });
  assert.equal(t.rowsPerCluster, 2000);
  for (const k of ['aloneSamplesPerSecond', 'poolSamplesPerSecond', 'processesSamplesPerSecond'] as const) assert.ok(t[k] > 0, k);
  assert.ok(Math.abs(t.poolOverProcesses - t.poolSamplesPerSecond / t.processesSamplesPerSecond) < 0.01);
});
