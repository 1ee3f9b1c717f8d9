/**
 * Shared by the benchmarks: starting a server script as a child process (it prints
 * "listening on <url>") and calling the JSON API.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface Started {
  child: ChildProcess;
  url: string;
}

/** Starts `script` with extra environment; resolves once it prints its URL. `execArgv`
 *  goes to node (e.g. --cpu-prof). */
export function startChild(script: string, env: NodeJS.ProcessEnv, execArgv: string[] = []): Promise<Started> {
  const child = spawn(process.execPath, [...execArgv, script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

/** A JSON API call that must succeed; returns the parsed body. */
export async function callJson(url: string, method: string, path: string, token: string | undefined, body?: unknown): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const init: RequestInit = { method, headers };
  if (body !== undefined) init.body = JSON.stringify(body);
  const r = await fetch(url + path, init);
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
}
