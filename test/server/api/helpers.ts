/**
 * Shared helpers of the API tests: an in-process service on a loopback port with a fresh
 * data folder, a small HTTP client over fetch, and assertions for problem responses.
 * With HANAMI_TEST_MONGO_URL set, `storeVariants()` adds a MongoDB store variant.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { defaultConfig, type HanamiConfig } from '../../../server/config.js';
import { startService, type RunningService } from '../../../server/service.js';

export const ADMIN_NAME = 'admin';
export const ADMIN_PASSPHRASE = 'admin-passphrase-for-tests';

export interface StoreVariant {
  name: string;
  config: Partial<HanamiConfig>;
}

/** SQLite always; MongoDB too when HANAMI_TEST_MONGO_URL is set (CI starts FerretDB). */
export function storeVariants(): StoreVariant[] {
  const variants: StoreVariant[] = [{ name: 'sqlite', config: {} }];
  const mongo = process.env.HANAMI_TEST_MONGO_URL;
  if (mongo) variants.push({ name: 'mongodb', config: { mongoUrl: mongo, mongoDatabase: `hanami_test_${randomUUID().replace(/-/g, '').slice(0, 12)}` } });
  return variants;
}

export function testConfig(dataDir: string, overrides: Partial<HanamiConfig> = {}): HanamiConfig {
  return {
    ...defaultConfig(),
    host: '127.0.0.1',
    port: 0,
    dataDir,
    adminUser: ADMIN_NAME,
    adminPassphrase: ADMIN_PASSPHRASE,
    logLevel: 'silent',
    // The CPU backend: deterministic, and the CLI's default (the acceptance test compares).
    backend: 'cpu',
    threads: 2,
    loginRatePerMinute: 100_000,
    shutdownGraceSeconds: 2,
    ...overrides,
  };
}

export interface TestService {
  url: string;
  service: RunningService;
  dataDir: string;
  admin: Client;
  close(): Promise<void>;
}

export async function startTestService(overrides: Partial<HanamiConfig> = {}): Promise<TestService> {
  const dataDir = mkdtempSync(join(tmpdir(), 'hanami-api-'));
  const service = await startService(testConfig(dataDir, overrides), { logger: pino({ level: process.env.HANAMI_TEST_LOG_LEVEL ?? 'silent' }) });
  const admin = await Client.login(service.url, overrides.adminUser ?? ADMIN_NAME, overrides.adminPassphrase ?? ADMIN_PASSPHRASE);
  return {
    url: service.url,
    service,
    dataDir,
    admin,
    async close() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON (problem+json included), else undefined. */
  body: unknown;
}

export interface RequestOptions {
  json?: unknown;
  /** A raw body (string, bytes or a stream) sent as is. */
  body?: string | Uint8Array | Readable;
  headers?: Record<string, string>;
  token?: string | null;
}

export async function request(url: string, method: string, path: string, options: RequestOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: RequestInit['body'] | undefined;
  const init: RequestInit & { duplex?: 'half' } = { method, headers };
  if (options.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.body instanceof Readable) {
    body = Readable.toWeb(options.body) as ReadableStream<Uint8Array>;
    init.duplex = 'half';
  } else if (options.body !== undefined) {
    body = options.body;
  }
  if (body !== undefined) init.body = body;
  const res = await fetch(url + path, init);
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  let parsed: unknown;
  if (/json/.test(type) && text.length > 0) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** A caller with (or without) a token. */
export class Client {
  constructor(
    readonly url: string,
    readonly token: string | null,
    readonly userId = '',
  ) {}

  static async login(url: string, name: string, passphrase: string): Promise<Client> {
    const r = await request(url, 'POST', '/v1/auth/login', { json: { name, passphrase } });
    assert.equal(r.status, 200, `login of ${name}: ${r.text}`);
    const body = obj(r.body);
    return new Client(url, String(body.token), String(obj(body.user).id));
  }

  send(method: string, path: string, options: Omit<RequestOptions, 'token'> = {}): Promise<Reply> {
    return request(this.url, method, path, { ...options, token: this.token });
  }

  get(path: string): Promise<Reply> {
    return this.send('GET', path);
  }

  post(path: string, json?: unknown): Promise<Reply> {
    return this.send('POST', path, json === undefined ? {} : { json });
  }

  put(path: string, json: unknown): Promise<Reply> {
    return this.send('PUT', path, { json });
  }

  patch(path: string, json: unknown): Promise<Reply> {
    return this.send('PATCH', path, { json });
  }

  delete(path: string): Promise<Reply> {
    return this.send('DELETE', path);
  }

  /** A request that must answer `status`; returns the JSON body as an object. */
  async expect(status: number, method: string, path: string, options: Omit<RequestOptions, 'token'> = {}): Promise<Record<string, unknown>> {
    const r = await this.send(method, path, options);
    assert.equal(r.status, status, `${method} ${path}: expected ${status}, got ${r.status}: ${r.text.slice(0, 500)}`);
    return r.body === undefined ? {} : obj(r.body);
  }
}

export function obj(x: unknown): Record<string, unknown> {
  assert.ok(typeof x === 'object' && x !== null && !Array.isArray(x), `expected an object, got ${JSON.stringify(x)?.slice(0, 200)}`);
  return x as Record<string, unknown>;
}

export function arr(x: unknown): unknown[] {
  assert.ok(Array.isArray(x), `expected an array, got ${JSON.stringify(x)?.slice(0, 200)}`);
  return x;
}

export function str(o: Record<string, unknown>, key: string): string {
  const v = o[key];
  assert.equal(typeof v, 'string', `${key} must be a string, got ${JSON.stringify(v)}`);
  return v as string;
}

export function num(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  assert.ok(typeof v === 'number' && Number.isFinite(v), `${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function items(page: Record<string, unknown>): Record<string, unknown>[] {
  return arr(page.items).map(obj);
}

/** Asserts an RFC 9457 problem response with this status (and code); returns the problem. */
export function assertProblem(r: Reply, status: number, code?: string): Record<string, unknown> {
  assert.equal(r.status, status, `expected ${status}${code ? ` ${code}` : ''}, got ${r.status}: ${r.text.slice(0, 500)}`);
  assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/, `problem content type, got ${r.headers.get('content-type')}`);
  const p = obj(r.body);
  assert.equal(p.status, status);
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.detail, 'string');
  assert.ok(String(p.detail).length > 0, 'the detail names the problem');
  assert.equal(typeof p.code, 'string');
  assert.equal(p.type, `urn:hanami:problem:${String(p.code)}`);
  if (code) assert.equal(p.code, code, `problem code: ${String(p.detail)}`);
  return p;
}

/** Polls `read` until `done` says so (or the time is up). */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 60_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(value)?.slice(0, 500)}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Creates a user with a membership (role) in a project and logs them in. */
export async function memberOf(admin: Client, projectId: string | null, name: string, role: 'member' | 'project-admin' = 'member', passphrase = `${name}-passphrase`): Promise<Client> {
  const user = await admin.expect(201, 'POST', '/v1/users', { json: { name, passphrase } });
  if (projectId) await admin.expect(200, 'PUT', `/v1/projects/${projectId}/members/${str(user, 'id')}`, { json: { role } });
  return Client.login(admin.url, name, passphrase);
}

export async function createProject(admin: Client, name: string): Promise<string> {
  return str(await admin.expect(201, 'POST', '/v1/projects', { json: { name } }), 'id');
}
