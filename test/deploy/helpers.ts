/**
 * Shared helpers of the deployment tests (Helm chart, Ansible role, Containerfile): where the
 * tools are, running them, and the rule for a missing tool — in CI (`CI` set) the test fails,
 * because .ci/steps/50-deploy-tools.sh must have installed it; elsewhere it is skipped with
 * a message that says how to get it.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { request as httpRequestRaw } from 'node:http';
import { homedir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root (this file runs from dist/test/deploy/). */
export const ROOT = resolve(fileURLToPath(new URL('../../../', import.meta.url)));

/** Where .ci/steps/50-deploy-tools.sh installs what Debian does not package. */
export const TOOLS_DIR = process.env.HANAMI_DEPLOY_TOOLS ?? join(homedir(), '.cache', 'hanami-deploy-tools');

export const IN_CI = Boolean(process.env.CI);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && executable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export interface Tool {
  name: string;
  /** Absolute path, or undefined when it is not installed. */
  path: string | undefined;
  /** What to do to get it. */
  hint: string;
}

/** A tool from its env variable (set by the CI step), the tools folder, or PATH. */
export function findTool(name: string, envVar: string, toolsSubpath: string | undefined): Tool {
  const fromEnv = process.env[envVar];
  const candidates = [fromEnv, toolsSubpath ? join(TOOLS_DIR, toolsSubpath) : undefined].filter((p): p is string => Boolean(p));
  const path = candidates.find(executable) ?? onPath(name);
  return { name, path, hint: `${name} not found (${envVar}, ${TOOLS_DIR}, PATH): run \`source .ci/steps/50-deploy-tools.sh\` as root (SUDO= for root)` };
}

/**
 * The skip option for node:test: a reason outside CI when a tool is missing, false otherwise.
 * In CI a missing tool is not skipped: `requireTools` then fails the test.
 */
export function skipUnlessTools(...tools: Tool[]): string | false {
  const missing = tools.filter((t) => !t.path);
  if (missing.length === 0 || IN_CI) return false;
  return missing.map((t) => t.hint).join('; ');
}

/** Throws (fails the test) when a tool is missing; returns the paths otherwise. */
export function requireTools(...tools: Tool[]): string[] {
  const missing = tools.filter((t) => !t.path);
  if (missing.length > 0) throw new Error(`deployment tool missing in CI: ${missing.map((t) => t.hint).join('; ')}`);
  return tools.map((t) => t.path as string);
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
  /** stdout and stderr, for assertion messages. */
  output: string;
}

/** Runs a command to completion (no shell). */
export function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    input: options.input,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeoutMs ?? 120_000,
  });
  if (r.error) throw r.error;
  const stdout = r.stdout ?? '';
  const stderr = r.stderr ?? '';
  return { status: r.status, stdout, stderr, output: `${stdout}\n${stderr}`.trim() };
}

/**
 * One HTTP request on a fresh connection (no keep-alive pool: the tests block the event loop
 * in spawnSync while the server closes idle connections, and a pooled socket would then be
 * stale).
 */
export function httpRequest(url: string, options: { method?: string; json?: unknown } = {}): Promise<{ status: number; body: string }> {
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  return new Promise((resolvePromise, reject) => {
    const req = httpRequestRaw(
      url,
      {
        method: options.method ?? (body ? 'POST' : 'GET'),
        agent: false,
        headers: body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(body);
  });
}
