/**
 * The service as a child process (`node dist/server/main.js`), for the tests that need a
 * real process: start-up output, signals, SIGKILL and restart on the same data folder.
 */
import { ignoreFailure } from '../../../kernels/background.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../../server/main.js', import.meta.url));

export interface ChildService {
  child: ChildProcess;
  url: string;
  /** Everything printed so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>;
}

/** Environment for the child: ours without the test runner's variables, plus `env`. */
function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && !k.startsWith('HANAMI_')) out[k] = v;
  return { ...out, HANAMI_HOST: '127.0.0.1', HANAMI_PORT: '0', HANAMI_LOG_LEVEL: 'warn', HANAMI_BACKEND: 'cpu', ...env };
}

/** Starts the service and waits for its banner (the URL); rejects if it exits first. */
export function startChild(env: Record<string, string>, timeoutMs = 60_000): Promise<ChildService> {
  const child = spawn(process.execPath, [MAIN], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not start in ${timeoutMs} ms:\n${out}\n${err}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const match = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1]!, stdout: () => out, stderr: () => err, exited });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
    ignoreFailure(
      exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the service exited (${code}) before it listened:\n${out}\n${err}`));
      }),
      'the exit event never rejects',
    );
  });
}

/** Runs main.js to its exit (for start-up failures). */
export function runChild(env: Record<string, string>): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN], { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code: code ?? signal ?? 'unknown', stdout, stderr })));
}
