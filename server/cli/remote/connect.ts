/**
 * Which service a remote command talks to, as whom: HANAMI_URL with HANAMI_TOKEN (or
 * HANAMI_USER + HANAMI_PASSPHRASE) when set (for CI: nothing is written), else the current
 * context of the config file (or --context NAME), whose renewed tokens are written back.
 * And names or ids: wherever a command takes an id, a name does as well.
 */
import type { Hanami, HanamiError } from '../../../client/index.js';
import { client } from './client-module.js';
import { closestName } from '../../did-you-mean.js';
import { CliError } from '../errors.js';
import { configPath, readContexts, updateContext, type Context } from './contexts.js';

export interface Connection {
  hanami: Hanami;
  /** The context used (undefined when the environment gave everything). */
  contextName: string | undefined;
  context: Context | undefined;
}

export interface ConnectOptions {
  context?: string | undefined;
}

export function currentContextName(o: ConnectOptions): string | undefined {
  return o.context ?? process.env.HANAMI_CONTEXT ?? readContexts().current;
}

export function connect(o: ConnectOptions = {}): Connection {
  const env = process.env;
  const file = readContexts();
  const name = currentContextName(o);
  if (o.context !== undefined && !file.contexts[o.context]) throw new CliError(`no context "${o.context}" in ${configPath()}${hint(o.context, Object.keys(file.contexts))}`);
  const context = name !== undefined ? file.contexts[name] : undefined;
  if (env.HANAMI_URL) {
    const url = env.HANAMI_URL.replace(/\/+$/, '');
    const user = env.HANAMI_USER;
    const passphrase = env.HANAMI_PASSPHRASE;
    if (!env.HANAMI_TOKEN && !(user && passphrase)) throw new CliError('HANAMI_URL is set: give HANAMI_TOKEN, or HANAMI_USER and HANAMI_PASSPHRASE, with it');
    // The file still keeps the current project (`project use`), in a context of this URL:
    // the current one if it is for this service, else one named after the service's host.
    const forUrl = context?.url === url ? name : Object.entries(file.contexts).find(([, c]) => c.url === url)?.[0];
    const contextName = forUrl ?? safeHost(url);
    return {
      hanami: new (client().Hanami)({ url, token: env.HANAMI_TOKEN || undefined, user, passphrase }),
      contextName,
      context: file.contexts[contextName],
    };
  }
  if (!context || name === undefined) throw new CliError('not logged in: run `hanami login <url>` first (or set HANAMI_URL and HANAMI_TOKEN)');
  if (!context.token && !env.HANAMI_PASSPHRASE) throw new CliError(`context "${name}" has no token: run \`hanami login ${context.url}\``);
  return {
    hanami: new (client().Hanami)({
      url: context.url,
      token: context.token,
      user: context.user,
      passphrase: env.HANAMI_PASSPHRASE,
      // Renewed tokens go back into the context, so the next command starts with a fresh one.
      onToken: (token) => updateContext(name, (c) => ({ ...(c ?? context), token })),
    }),
    contextName: name,
    context,
  };
}

function safeHost(url: string): string {
  try {
    return new URL(url).host || 'default';
  } catch {
    throw new CliError(`HANAMI_URL is not a URL: ${url}`);
  }
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function hint(input: string, names: readonly string[]): string {
  const guess = closestName(input, names);
  return guess !== undefined ? ` (did you mean ${guess}?)` : '';
}

/** A "not found" like the service's own, for a name no item has (exit code 1). */
export function notFound(kind: string, input: string, names: readonly string[]): HanamiError {
  return new (client().HanamiError)({
    type: 'urn:hanami:problem:not_found',
    title: 'Not Found',
    status: 404,
    code: 'not_found',
    detail: `no ${kind} named or with the id "${input}"${hint(input, names)}`,
  });
}

/** The item whose id or name is `input`. */
export function pick<I extends { id: string; name: string }>(items: readonly I[], input: string, kind: string): I {
  const found = items.find((i) => i.id === input.toLowerCase()) ?? items.find((i) => i.name === input);
  if (!found)
    throw notFound(
      kind,
      input,
      items.map((i) => i.name),
    );
  return found;
}

/** The project: --project, HANAMI_PROJECT, or the context's current project. */
export async function projectOf(conn: Connection, option: string | undefined): Promise<{ id: string; name: string }> {
  const input = option ?? process.env.HANAMI_PROJECT;
  if (input === undefined) {
    if (conn.context?.project) return conn.context.project;
    throw new CliError('no project: give --project NAME, or choose one with `hanami project use NAME`');
  }
  if (UUID.test(input)) {
    try {
      const p = await conn.hanami.projects.get(input);
      return { id: p.id, name: p.name };
    } catch (error) {
      if (!(error instanceof client().HanamiError && error.status === 404)) throw error;
    }
  }
  const p = pick(await conn.hanami.projects.all(), input, 'project');
  return { id: p.id, name: p.name };
}
