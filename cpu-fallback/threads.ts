/**
 * The default number of CPU worker threads: what this process may actually use, not the
 * cores the machine has. Two limits apply:
 *
 * - CPU affinity (`taskset`, a cpuset): `os.availableParallelism()` already honours it (libuv
 *   asks sched_getaffinity on Linux).
 * - A CPU quota of the process's cgroup (a Kubernetes CPU limit, `docker --cpus`, systemd's
 *   CPUQuota): cgroup v2 `cpu.max` ("200000 100000" = 2 CPUs, "max 100000" = none), cgroup v1
 *   `cpu.cfs_quota_us` / `cpu.cfs_period_us` (quota −1 = none). The tightest limit on the way
 *   from the process's own cgroup (/proc/self/cgroup) up to the root counts.
 *
 * A quota of q CPUs gives ⌊q⌋ threads, at least 1 (the Helm chart sizes HANAMI_THREADS the
 * same way from `resources.limits.cpu`): more threads than the quota only take turns.
 * `threadsFor` is pure (file contents in, answer out) so every case is unit-tested;
 * `detectThreads` reads the files.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { posix } from 'node:path';

/** One cgroup level's CPU quota files, as read (undefined: absent or unreadable). */
export interface CgroupCpuFiles {
  /** The directory the files came from (for the reason). */
  dir: string;
  /** cgroup v2 `cpu.max`. */
  cpuMax?: string | undefined;
  /** cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us`. */
  cfsQuotaUs?: string | undefined;
  cfsPeriodUs?: string | undefined;
}

export interface ThreadDefault {
  threads: number;
  /** Why: "CPU affinity: 2 of 2 CPUs", "cgroup cpu.max 200000/100000 (…)". */
  reason: string;
  /** The quota in CPUs when one applies. */
  quotaCpus?: number;
}

/** CPUs a cgroup level's files allow, and how it was read; undefined when unlimited. */
export function quotaOf(files: CgroupCpuFiles): { cpus: number; reason: string } | undefined {
  const max = files.cpuMax?.trim();
  if (max) {
    const [quota, period = '100000'] = max.split(/\s+/);
    if (quota === 'max') return undefined;
    const q = Number(quota);
    const p = Number(period);
    if (Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0) return { cpus: q / p, reason: `cgroup cpu.max ${q}/${p} in ${files.dir}` };
    return undefined;
  }
  const quota = files.cfsQuotaUs?.trim();
  const period = files.cfsPeriodUs?.trim();
  if (quota !== undefined && period !== undefined) {
    const q = Number(quota);
    const p = Number(period);
    if (Number.isFinite(q) && Number.isFinite(p) && q > 0 && p > 0) return { cpus: q / p, reason: `cgroup cpu.cfs_quota_us/cpu.cfs_period_us ${q}/${p} in ${files.dir}` };
  }
  return undefined;
}

/** The default thread count from the CPUs the affinity allows and the cgroup levels' files. */
export function threadsFor(affinityCpus: number, levels: CgroupCpuFiles[]): ThreadDefault {
  const cpus = Math.max(1, Math.floor(affinityCpus));
  let tightest: { cpus: number; reason: string } | undefined;
  for (const level of levels) {
    const q = quotaOf(level);
    if (q && (!tightest || q.cpus < tightest.cpus)) tightest = q;
  }
  if (tightest) {
    const byQuota = Math.max(1, Math.floor(tightest.cpus));
    if (byQuota < cpus) return { threads: byQuota, reason: tightest.reason, quotaCpus: tightest.cpus };
  }
  return { threads: cpus, reason: `CPU affinity: ${cpus} CPU${cpus === 1 ? '' : 's'} usable`, ...(tightest ? { quotaCpus: tightest.cpus } : {}) };
}

/** The process's cgroup paths from /proc/self/cgroup: v2 ("0::/path") and v1's cpu
 *  controller ("4:cpu,cpuacct:/path"). */
export function cgroupPaths(procSelfCgroup: string): { v2?: string; v1Cpu?: { controllers: string; path: string } } {
  const out: { v2?: string; v1Cpu?: { controllers: string; path: string } } = {};
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, id, controllers = '', path = '/'] = m;
    if (id === '0' && controllers === '') out.v2 = path;
    else if (controllers.split(',').includes('cpu')) out.v1Cpu = { controllers, path };
  }
  return out;
}

/** Directories from `dir` up to `root`, deepest first. */
function upTo(root: string, path: string): string[] {
  const dirs: string[] = [];
  let p = posix.normalize(`/${path}`);
  for (;;) {
    dirs.push(p === '/' ? root : posix.join(root, p));
    if (p === '/') break;
    p = posix.dirname(p);
  }
  return dirs;
}

/** The cgroup levels to read, from /proc/self/cgroup (v2 first; v1's cpu controller at its
 *  usual mount points; a container without a cgroup namespace sees its own cgroup at the
 *  mount's root). */
export function cgroupDirs(procSelfCgroup: string, root = '/sys/fs/cgroup'): { v2: string[]; v1: string[] } {
  const { v2, v1Cpu } = cgroupPaths(procSelfCgroup);
  const v1: string[] = [];
  if (v1Cpu) {
    for (const mount of [posix.join(root, v1Cpu.controllers), posix.join(root, 'cpu'), posix.join(root, 'cpu,cpuacct')]) {
      for (const d of upTo(mount, v1Cpu.path)) if (!v1.includes(d)) v1.push(d);
    }
  }
  return { v2: v2 !== undefined ? upTo(root, v2) : [], v1 };
}

function readOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Reads the limits of this process (Linux; elsewhere the affinity alone). */
export function detectThreads(read: (path: string) => string | undefined = readOrUndefined, affinity = availableParallelism()): ThreadDefault {
  const self = read('/proc/self/cgroup');
  if (self === undefined) return threadsFor(affinity, []);
  const { v2, v1 } = cgroupDirs(self);
  const levels: CgroupCpuFiles[] = [
    ...v2.map((dir) => ({ dir, cpuMax: read(posix.join(dir, 'cpu.max')) })),
    ...v1.map((dir) => ({ dir, cfsQuotaUs: read(posix.join(dir, 'cpu.cfs_quota_us')), cfsPeriodUs: read(posix.join(dir, 'cpu.cfs_period_us')) })),
  ];
  return threadsFor(affinity, levels);
}

let detected: ThreadDefault | undefined;

/** The default worker threads of this process (detected once). */
export function defaultThreads(): ThreadDefault {
  detected ??= detectThreads();
  return detected;
}
