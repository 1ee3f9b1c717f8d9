/**
 * The default thread count follows what the process may use (cpu-fallback/threads.ts): the
 * CPU affinity and cgroup v2 / v1 CPU quotas, read from the files a Linux host has. The
 * detection is pure over the file contents, so each case is a table of files here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { cgroupPaths, detectThreads, quotaOf, threadsFor } from '../../cpu-fallback/threads.js';

/** A reader over a table of files (absent paths read as missing). */
function files(table: Record<string, string>): (path: string) => string | undefined {
  return (path) => table[path];
}

test('cgroup v2 cpu.max: a quota of 2 CPUs on an 8-CPU host gives 2 threads, and says why', () => {
  const t = detectThreads(files({ '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '200000 100000\n' }), 8);
  assert.deepEqual(t, { threads: 2, reason: 'cgroup cpu.max 200000/100000 in /sys/fs/cgroup', quotaCpus: 2 });
});

test('cgroup v2 cpu.max "max": no quota, the affinity decides', () => {
  const t = detectThreads(files({ '/proc/self/cgroup': '0::/user.slice\n', '/sys/fs/cgroup/user.slice/cpu.max': 'max 100000\n' }), 4);
  assert.deepEqual(t, { threads: 4, reason: 'CPU affinity: 4 CPUs usable' });
});

test("cgroup v2: the process's own cgroup and every parent count, the tightest wins", () => {
  const t = detectThreads(
    files({
      '/proc/self/cgroup': '0::/kubepods/pod1/app\n',
      '/sys/fs/cgroup/kubepods/pod1/app/cpu.max': '400000 100000',
      '/sys/fs/cgroup/kubepods/pod1/cpu.max': '300000 100000',
      '/sys/fs/cgroup/kubepods/cpu.max': 'max 100000',
    }),
    16,
  );
  assert.equal(t.threads, 3);
  assert.equal(t.reason, 'cgroup cpu.max 300000/100000 in /sys/fs/cgroup/kubepods/pod1');
});

test('fractional quotas round down, never below one thread', () => {
  assert.equal(threadsFor(8, [{ dir: '/x', cpuMax: '150000 100000' }]).threads, 1);
  assert.equal(threadsFor(8, [{ dir: '/x', cpuMax: '50000 100000' }]).threads, 1);
  assert.equal(threadsFor(8, [{ dir: '/x', cpuMax: '250000 100000' }]).threads, 2);
  assert.equal(threadsFor(8, [{ dir: '/x', cpuMax: '250000 100000' }]).quotaCpus, 2.5);
});

test('cgroup v1: cpu.cfs_quota_us / cpu.cfs_period_us of the cpu controller', () => {
  const t = detectThreads(
    files({
      '/proc/self/cgroup': '5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us': '300000\n',
      '/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us': '100000\n',
    }),
    8,
  );
  assert.deepEqual(t, { threads: 3, reason: 'cgroup cpu.cfs_quota_us/cpu.cfs_period_us 300000/100000 in /sys/fs/cgroup/cpu,cpuacct/docker/abc', quotaCpus: 3 });
});

test('cgroup v1 in a container without a cgroup namespace: its own cgroup is the mount root', () => {
  const t = detectThreads(
    files({
      '/proc/self/cgroup': '2:cpu:/kubepods/burstable/pod9/c1\n',
      '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000',
      '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
    }),
    4,
  );
  assert.equal(t.threads, 1);
  assert.match(t.reason, /cfs_quota_us.*100000\/100000 in \/sys\/fs\/cgroup\/cpu$/);
});

test('cgroup v1 quota −1: no quota', () => {
  assert.equal(quotaOf({ dir: '/x', cfsQuotaUs: '-1', cfsPeriodUs: '100000' }), undefined);
  const t = detectThreads(files({ '/proc/self/cgroup': '4:cpu,cpuacct:/\n', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us': '100000' }), 2);
  assert.deepEqual(t, { threads: 2, reason: 'CPU affinity: 2 CPUs usable' });
});

test('the affinity is tighter than the quota: the affinity decides (and the quota is still reported)', () => {
  const t = threadsFor(2, [{ dir: '/sys/fs/cgroup', cpuMax: '400000 100000' }]);
  assert.deepEqual(t, { threads: 2, reason: 'CPU affinity: 2 CPUs usable', quotaCpus: 4 });
  assert.equal(threadsFor(1, []).reason, 'CPU affinity: 1 CPU usable');
});

test('no /proc (not Linux) or unreadable files: the affinity alone; garbage in the files is no quota', () => {
  assert.deepEqual(detectThreads(files({}), 6), { threads: 6, reason: 'CPU affinity: 6 CPUs usable' });
  assert.equal(quotaOf({ dir: '/x', cpuMax: 'nonsense' }), undefined);
  assert.equal(quotaOf({ dir: '/x', cfsQuotaUs: '100000' }), undefined, 'a quota without its period');
});

test('/proc/self/cgroup: the v2 path and the v1 cpu controller', () => {
  assert.deepEqual(cgroupPaths('0::/a/b\n'), { v2: '/a/b' });
  assert.deepEqual(cgroupPaths('3:cpuacct,cpu:/x\n2:cpuset:/\n1:name=systemd:/y\n'), { v1Cpu: { controllers: 'cpuacct,cpu', path: '/x' } });
  assert.deepEqual(cgroupPaths('3:cpuacct:/x\n'), {}, 'cpuacct alone is not the cpu controller');
});

test('on this host: at least 1, at most what the affinity allows (os.availableParallelism honours sched_getaffinity)', () => {
  const t = detectThreads();
  assert.ok(t.threads >= 1 && t.threads <= availableParallelism(), JSON.stringify(t));
  assert.ok(t.reason.length > 0);
});

test('CPU affinity: a process pinned to one CPU (taskset) defaults to one thread', (t) => {
  const probe = `import('${new URL('../../cpu-fallback/threads.js', import.meta.url).href}').then((m) => console.log(JSON.stringify(m.detectThreads())))`;
  const r = spawnSync('taskset', ['-c', '0', process.execPath, '-e', probe], { encoding: 'utf8' });
  if (r.error) {
    t.skip('taskset is not installed');
    return;
  }
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { threads: 1, reason: 'CPU affinity: 1 CPU usable' });
});
