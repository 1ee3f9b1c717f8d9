/**
 * Backend selection per host: `cpu` always works; `auto` picks the best available backend.
 */
import { availableParallelism } from 'node:os';
import { CpuBackend, type Backend } from './backend.js';

export type BackendChoice = 'auto' | 'cpu' | 'webgpu';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'cpu', 'webgpu'];

export class BackendUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendUnavailableError';
  }
}

export async function createBackend(choice: BackendChoice, threads?: number): Promise<Backend> {
  if (choice === 'webgpu') throw new BackendUnavailableError('the WebGPU backend is not part of this build yet');
  return new CpuBackend(threads ?? availableParallelism());
}
