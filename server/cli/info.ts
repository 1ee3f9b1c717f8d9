/** `hanami info`: what this host offers. */
import { availableParallelism, cpus, totalmem } from 'node:os';

export interface HostInfo {
  version: string;
  node: string;
  backends: { name: string; available: boolean; description: string }[];
  threads: number;
  cpu: string;
  memoryBytes: number;
}

export async function hostInfo(version: string): Promise<HostInfo> {
  const threads = availableParallelism();
  return {
    version,
    node: process.version,
    backends: [{ name: 'cpu', available: true, description: `worker_threads pool, ${threads} threads` }],
    threads,
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
  };
}
