/**
 * Running the compiled `hanami` for the remote-command tests: a child process (so the
 * in-process service keeps serving), its own config folder (XDG_CONFIG_HOME), no terminal.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../../server/cli/main.js', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The parent's environment without what would change the child (test runner, HANAMI_* settings). */
export function baseEnv(configHome: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('NODE_TEST') && k !== 'NODE_OPTIONS' && !k.startsWith('HANAMI_') && k !== 'NO_COLOR') env[k] = v;
  return { ...env, XDG_CONFIG_HOME: configHome };
}

export function runCli(env: NodeJS.ProcessEnv, args: readonly string[], stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 300_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}

/** Runs and expects exit code 0; returns the JSON lines of stdout. */
export async function jsonLines(env: NodeJS.ProcessEnv, args: readonly string[], stdin?: string): Promise<Record<string, unknown>[]> {
  const r = await runCli(env, [...args, '--json'], stdin);
  assert.equal(r.code, 0, `hanami ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  assert.ok(r.stdout.endsWith('\n') || r.stdout === '', 'lines end with a newline');
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Runs and expects exactly one JSON object on stdout. */
export async function jsonOne(env: NodeJS.ProcessEnv, args: readonly string[], stdin?: string): Promise<Record<string, unknown>> {
  const lines = await jsonLines(env, args, stdin);
  assert.equal(lines.length, 1, `one JSON object from hanami ${args.join(' ')}`);
  return lines[0]!;
}
