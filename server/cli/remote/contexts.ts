/**
 * Named contexts of the remote commands (like kubectl's): which service, as whom, with which
 * token and current project. Kept in $XDG_CONFIG_HOME/hanami/config.json (default
 * ~/.config/hanami/config.json), readable by the owner only (0600, in a 0700 folder), written
 * whole to a temporary file and renamed, so a crash never leaves half a file.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from '../errors.js';

export interface Context {
  url: string;
  user?: string;
  token?: string;
  /** The current project's id (and name, for display). */
  project?: { id: string; name: string };
}

export interface ContextFile {
  current?: string;
  contexts: Record<string, Context>;
}

export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.length > 0 ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'hanami', 'config.json');
}

export function readContexts(path = configPath()): ContextFile {
  if (!existsSync(path)) return { contexts: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new CliError(`${path} is not valid JSON (${(error as Error).message}); fix or delete it and log in again`);
  }
  const file = parsed as Partial<ContextFile>;
  return { ...(typeof file.current === 'string' ? { current: file.current } : {}), contexts: typeof file.contexts === 'object' && file.contexts !== null ? file.contexts : {} };
}

export function writeContexts(file: ContextFile, path = configPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  chmodSync(temp, 0o600);
  renameSync(temp, path);
}

/** Changes one context (created when missing) and writes the file. */
export function updateContext(name: string, change: (c: Context | undefined) => Context, path = configPath()): ContextFile {
  const file = readContexts(path);
  file.contexts[name] = change(file.contexts[name]);
  writeContexts(file, path);
  return file;
}
