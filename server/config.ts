/**
 * Service configuration: defaults, then an optional config file (YAML or JSON, path in
 * HANAMI_CONFIG), then environment variables. Secrets can also come from files
 * (`<NAME>_FILE`, e.g. a mounted Kubernetes Secret). Invalid values stop start-up with a
 * ConfigError naming the setting; nothing falls back silently. Documented in
 * docs/configuration.md (keep the two in sync).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { defaultThreads } from '../cpu-fallback/threads.js';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';

export type BackendSetting = 'auto' | 'cpu' | 'webgpu';

/** Express's `trust proxy`, without `true` (which would let any client name its own address). */
export type TrustProxy = false | number | string[];

export interface HanamiConfig {
  /** Bind address (HANAMI_HOST). */
  host: string;
  /** Listen port (HANAMI_PORT); 0 picks a free port. */
  port: number;
  /** Embedded store, blobs and the generated JWT key live here (HANAMI_DATA_DIR). */
  dataDir: string;
  /** MongoDB connection string; switches the store to MongoDB + GridFS (HANAMI_MONGO_URL). */
  mongoUrl: string | undefined;
  /** MongoDB database name (HANAMI_MONGO_DB). */
  mongoDatabase: string;
  /** Network backend (HANAMI_BACKEND). */
  backend: BackendSetting;
  /** CPU worker threads (HANAMI_THREADS). */
  threads: number;
  /** Initial admin's name (HANAMI_ADMIN_USER). */
  adminUser: string;
  /** Initial admin's passphrase (HANAMI_ADMIN_PASSPHRASE[_FILE]); generated and printed
   *  once when unset and no admin exists yet. */
  adminPassphrase: string | undefined;
  /** HS256 key for tokens (HANAMI_JWT_KEY[_FILE]); generated and kept in the store when unset. */
  jwtKey: string | undefined;
  /** Token lifetime in seconds (HANAMI_TOKEN_TTL). */
  tokenTtlSeconds: number;
  /** Where Prometheus metrics are served apart from the API (HANAMI_METRICS_HOST/PORT):
   *  a second listener answering only GET /metrics. Unset port: no such listener. */
  metricsHost: string;
  metricsPort: number | undefined;
  /** A bearer token that opens GET /metrics on the API's port (HANAMI_METRICS_TOKEN[_FILE]).
   *  Unset: /metrics on the API's port answers 404 (metrics expose project and cluster ids). */
  metricsToken: string | undefined;
  /** Casbin policy file (HANAMI_POLICY_FILE); the shipped default when unset. */
  policyFile: string | undefined;
  /** Largest dataset/checkpoint upload in bytes (HANAMI_MAX_UPLOAD_BYTES). */
  maxUploadBytes: number;
  /** Largest JSON request body in bytes (HANAMI_MAX_JSON_BYTES). */
  maxJsonBytes: number;
  /** Hexagons in one template (HANAMI_TEMPLATE_MAX_HEXAGONS). */
  templateMaxHexagons: number;
  /** Estimated steps to build a template's topology (HANAMI_TEMPLATE_MAX_WORK;
   *  server/network/template-limits.ts). */
  templateMaxWork: number;
  /** Time one template may take to parse, off the event loop (HANAMI_TEMPLATE_PARSE_TIMEOUT_MS). */
  templateParseTimeoutMs: number;
  /** Memory for parsed datasets kept between tasks, in bytes (HANAMI_DATASET_CACHE_BYTES). */
  datasetCacheBytes: number;
  /** A dataset part's bytes after decompression, counted while decompressing
   *  (HANAMI_MAX_DECODED_BYTES). */
  maxDecodedBytes: number;
  /** All dataset parts of a project, decompressed (HANAMI_PROJECT_MAX_DECODED_BYTES). */
  projectMaxDecodedBytes: number;
  /** Memory of one parsed dataset: inputs and targets (HANAMI_MAX_DATASET_BYTES). */
  maxDatasetBytes: number;
  /** CSV data rows and columns (HANAMI_CSV_MAX_ROWS, HANAMI_CSV_MAX_COLUMNS). */
  csvMaxRows: number;
  csvMaxColumns: number;
  /** Per project: datasets, templates and clusters (HANAMI_QUOTA_DATASETS, _TEMPLATES,
   *  _CLUSTERS), and stored bytes of dataset parts and checkpoints (HANAMI_QUOTA_BYTES). */
  quotaDatasets: number;
  quotaTemplates: number;
  quotaClusters: number;
  quotaBytes: number;
  /** How often the store's writability is probed for /readyz, in ms (HANAMI_STORE_PROBE_MS). */
  storeProbeMs: number;
  /** Login attempts per minute and client address (HANAMI_LOGIN_RATE). */
  loginRatePerMinute: number;
  /** Failed logins in a row for one user name before it is locked briefly (HANAMI_LOGIN_BACKOFF_AFTER). */
  loginBackoffAfter: number;
  /** The longest such lock, in seconds; it doubles from 1 s (HANAMI_LOGIN_BACKOFF_MAX_SECONDS). */
  loginBackoffMaxSeconds: number;
  /** Which proxies in front may say who the client is in X-Forwarded-For (HANAMI_TRUST_PROXY):
   *  false (none: the socket's address is the client), a hop count, or addresses/CIDRs
   *  (Express's `trust proxy`). */
  trustProxy: TrustProxy;
  /** pino log level (HANAMI_LOG_LEVEL). */
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Seconds to let running tasks finish on shutdown before they are checkpointed and
   *  stopped (HANAMI_SHUTDOWN_GRACE). */
  shutdownGraceSeconds: number;
  /** This process's name in cluster leases and on the tasks it runs (HANAMI_INSTANCE_ID):
   *  unique among the live processes sharing a store; by default `<hostname>-<pid>`. */
  instanceId: string;
  /** How long a cluster lease lasts without renewal, in ms (HANAMI_CLUSTER_LEASE_MS). */
  clusterLeaseMs: number;
  /** How often the leases of hosted clusters are renewed, in ms (HANAMI_CLUSTER_RENEW_MS);
   *  at most half the lease. */
  clusterRenewMs: number;
  /** A hosted cluster without work for this long is saved if needed and released, in ms
   *  (HANAMI_CLUSTER_IDLE_MS). */
  clusterIdleMs: number;
  /** How often the store is asked for tasks queued through other instances, in ms
   *  (HANAMI_TASK_POLL_MS). */
  taskPollMs: number;
  /** Samples between two points of a task's metric series (HANAMI_TASK_METRIC_SAMPLES). */
  taskMetricSamples: number;
  /** Points of a task's metric series kept in the store; a full series is halved
   *  (HANAMI_TASK_METRIC_POINTS, at most 1000). */
  taskMetricPoints: number;
  /** Direct network I/O over Socket.IO (HANAMI_IO_*). */
  io: {
    /** Largest message in bytes (HANAMI_IO_MAX_MESSAGE_BYTES). */
    maxMessageBytes: number;
    /** Calls per second and connection (HANAMI_IO_RATE). */
    ratePerSecond: number;
    /** Idle connections are closed after this many seconds (HANAMI_IO_IDLE_SECONDS). */
    idleSeconds: number;
    /** Open sockets per user (HANAMI_IO_MAX_SOCKETS_PER_USER). */
    maxSocketsPerUser: number;
    /** Longest time between two access checks of a live connection that keeps calling
     *  (HANAMI_IO_RECHECK_SECONDS; default 2). Changes made in this process reach live
     *  connections at once; this bounds how long one made by another replica takes. */
    recheckSeconds?: number;
    /** Bytes of values (inputs and targets, 4 per number) per second and user over all their
     *  sockets (HANAMI_IO_BYTES_PER_SECOND; default 16 MiB). */
    bytesPerSecond?: number;
    /** Bytes of values of a user's direct-I/O calls admitted and not yet answered
     *  (HANAMI_IO_MAX_INFLIGHT_BYTES; default 1 MiB; one call is always admitted). */
    maxInflightBytes?: number;
  };
}

/** Login names: what the API accepts as a user name (server/api/schemas.ts). */
export const USER_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]*$';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** Config file keys are the camelCase field names above (nested `io:` block). */
type FileConfig = Partial<Omit<HanamiConfig, 'io'>> & { io?: Partial<HanamiConfig['io']> };

export function defaultConfig(): HanamiConfig {
  return {
    host: '127.0.0.1',
    port: 8080,
    dataDir: resolve('.hanami-data'),
    mongoUrl: undefined,
    mongoDatabase: 'hanami',
    backend: 'auto',
    threads: defaultThreads().threads,
    adminUser: 'admin',
    adminPassphrase: undefined,
    jwtKey: undefined,
    tokenTtlSeconds: 3600,
    policyFile: undefined,
    metricsHost: '127.0.0.1',
    metricsPort: undefined,
    metricsToken: undefined,
    maxUploadBytes: 1024 * 1024 * 1024,
    maxJsonBytes: 1024 * 1024,
    // Sized on a 2-core machine: the largest template these admit parses and checks in well
    // under a second (off the event loop) and a few tens of MiB; real ones are far smaller.
    templateMaxHexagons: 10_000,
    templateMaxWork: 2_000_000,
    templateParseTimeoutMs: 10_000,
    datasetCacheBytes: 512 * 1024 * 1024,
    maxDecodedBytes: 1024 * 1024 * 1024,
    projectMaxDecodedBytes: 20 * 1024 * 1024 * 1024,
    maxDatasetBytes: 256 * 1024 * 1024,
    csvMaxRows: 1_000_000,
    csvMaxColumns: 100_000,
    quotaDatasets: 1000,
    quotaTemplates: 1000,
    quotaClusters: 100,
    quotaBytes: 10 * 1024 * 1024 * 1024,
    storeProbeMs: 10_000,
    loginRatePerMinute: 30,
    loginBackoffAfter: 5,
    loginBackoffMaxSeconds: 60,
    trustProxy: false,
    logLevel: 'info',
    shutdownGraceSeconds: 10,
    instanceId: defaultInstanceId(),
    clusterLeaseMs: 30_000,
    clusterRenewMs: 10_000,
    clusterIdleMs: 60_000,
    taskPollMs: 2_000,
    taskMetricSamples: 1000,
    taskMetricPoints: 1000,
    io: { maxMessageBytes: 4 * 1024 * 1024, ratePerSecond: 20000, idleSeconds: 300, maxSocketsPerUser: 32, recheckSeconds: 2, bytesPerSecond: 16 * 1024 * 1024, maxInflightBytes: 1024 * 1024 },
  };
}

/** Instance ids: what hostnames and pod names use, plus `:` and `@`. */
export const INSTANCE_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,254}$';

/**
 * `<hostname>-<pid>`: unique among live processes wherever a hostname names one process
 * namespace (a host, a pod, a container), and the same again when a container restarts in
 * its pod (the service is PID 1 there), so the restarted process recognises its own leases.
 * A rescheduled pod has a new name: its old leases are taken over once they run out.
 */
export function defaultInstanceId(): string {
  return `${hostname()}-${process.pid}`;
}

function readFileSetting(path: string, name: string): string {
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new ConfigError(`${name}: cannot read ${path} (${(e as Error).message})`);
  }
}

/** Env value, or the content of the file named by `<name>_FILE`. */
function envOrFile(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const file = env[`${name}_FILE`];
  if (file) return readFileSetting(file, `${name}_FILE`);
  const v = env[name];
  return v === undefined || v === '' ? undefined : v;
}

function integer(name: string, value: string | number, min: number, max: number): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${value}"`);
  return n;
}

const PROXY_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** One entry of a trusted-proxy list: an address, an address/prefix, or one of Express's names. */
function isProxyEntry(entry: string): boolean {
  if (PROXY_NAMES.includes(entry)) return true;
  const [address = '', prefix, ...rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  const bits = /^[0-9]{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  return bits >= 0 && bits <= (family === 4 ? 32 : 128);
}

/**
 * HANAMI_TRUST_PROXY: unset, `false` or `0` (trust no proxy), a hop count (`1`: the one proxy
 * in front), or a comma-separated list of the proxies' addresses or CIDRs (and Express's
 * `loopback`, `linklocal`, `uniquelocal`). `true` is refused: it would take the client address
 * from whatever X-Forwarded-For a client sends.
 */
export function parseTrustProxy(value: string | number | boolean | string[] | undefined): TrustProxy {
  if (value === undefined || value === false || value === 'false' || value === '' || value === 0 || value === '0') return false;
  if (value === true || value === 'true') {
    throw new ConfigError(
      'HANAMI_TRUST_PROXY=true would let any client choose its own address through X-Forwarded-For; give the number of proxies in front (e.g. 1) or their addresses (e.g. 10.0.0.0/8,loopback)',
    );
  }
  if (typeof value === 'number' || /^[0-9]+$/.test(String(value))) return integer('HANAMI_TRUST_PROXY', value as string | number, 0, 32) || false;
  const entries = (Array.isArray(value) ? value : String(value).split(',')).map((e) => e.trim()).filter((e) => e !== '');
  const bad = entries.find((e) => !isProxyEntry(e));
  if (bad !== undefined || entries.length === 0) {
    throw new ConfigError(`HANAMI_TRUST_PROXY must be false, a hop count, or addresses/CIDRs (or loopback, linklocal, uniquelocal), got "${bad ?? String(value)}"`);
  }
  return entries;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return value as T;
}

function loadFile(path: string): FileConfig {
  const text = readFileSetting(path, 'HANAMI_CONFIG');
  let parsed: unknown;
  try {
    parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ConfigError(`HANAMI_CONFIG ${path}: ${(e as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`HANAMI_CONFIG ${path}: expected a mapping of settings`);
  const known = new Set(Object.keys(defaultConfig()));
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(`HANAMI_CONFIG ${path}: unknown setting "${key}" (known: ${[...known].join(', ')})`);
  }
  return parsed;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Builds the configuration from defaults, HANAMI_CONFIG and the environment. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): HanamiConfig {
  const c = defaultConfig();
  const file = env.HANAMI_CONFIG ? loadFile(env.HANAMI_CONFIG) : {};
  const merged: HanamiConfig = { ...c, ...file, io: { ...c.io, ...(file.io ?? {}) } };
  const pick = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);

  const out: HanamiConfig = { ...merged, io: { ...merged.io } };
  out.host = pick('HANAMI_HOST') ?? merged.host;
  out.port = integer('HANAMI_PORT', pick('HANAMI_PORT') ?? merged.port, 0, 65535);
  out.dataDir = resolve(pick('HANAMI_DATA_DIR') ?? merged.dataDir);
  out.mongoUrl = pick('HANAMI_MONGO_URL') ?? envOrFile(env, 'HANAMI_MONGO_URL') ?? merged.mongoUrl;
  out.mongoDatabase = pick('HANAMI_MONGO_DB') ?? merged.mongoDatabase;
  out.backend = oneOf('HANAMI_BACKEND', pick('HANAMI_BACKEND') ?? merged.backend, ['auto', 'cpu', 'webgpu'] as const);
  out.threads = integer('HANAMI_THREADS', pick('HANAMI_THREADS') ?? merged.threads, 1, 1024);
  out.adminUser = pick('HANAMI_ADMIN_USER') ?? merged.adminUser;
  out.adminPassphrase = envOrFile(env, 'HANAMI_ADMIN_PASSPHRASE') ?? merged.adminPassphrase;
  out.jwtKey = envOrFile(env, 'HANAMI_JWT_KEY') ?? merged.jwtKey;
  out.tokenTtlSeconds = integer('HANAMI_TOKEN_TTL', pick('HANAMI_TOKEN_TTL') ?? merged.tokenTtlSeconds, 60, 30 * 24 * 3600);
  out.policyFile = pick('HANAMI_POLICY_FILE') ?? merged.policyFile;
  out.metricsHost = pick('HANAMI_METRICS_HOST') ?? merged.metricsHost;
  const metricsPort = pick('HANAMI_METRICS_PORT') ?? merged.metricsPort;
  out.metricsPort = metricsPort === undefined ? undefined : integer('HANAMI_METRICS_PORT', metricsPort, 0, 65535);
  out.metricsToken = envOrFile(env, 'HANAMI_METRICS_TOKEN') ?? merged.metricsToken;
  if (out.metricsToken !== undefined && out.metricsToken.length < 16) throw new ConfigError('HANAMI_METRICS_TOKEN must be at least 16 characters');
  out.maxUploadBytes = integer('HANAMI_MAX_UPLOAD_BYTES', pick('HANAMI_MAX_UPLOAD_BYTES') ?? merged.maxUploadBytes, 1024, Number.MAX_SAFE_INTEGER);
  out.maxJsonBytes = integer('HANAMI_MAX_JSON_BYTES', pick('HANAMI_MAX_JSON_BYTES') ?? merged.maxJsonBytes, 1024, 1024 * 1024 * 1024);
  out.templateMaxHexagons = integer('HANAMI_TEMPLATE_MAX_HEXAGONS', pick('HANAMI_TEMPLATE_MAX_HEXAGONS') ?? merged.templateMaxHexagons, 1, 10_000_000);
  out.templateMaxWork = integer('HANAMI_TEMPLATE_MAX_WORK', pick('HANAMI_TEMPLATE_MAX_WORK') ?? merged.templateMaxWork, 1000, Number.MAX_SAFE_INTEGER);
  out.templateParseTimeoutMs = integer('HANAMI_TEMPLATE_PARSE_TIMEOUT_MS', pick('HANAMI_TEMPLATE_PARSE_TIMEOUT_MS') ?? merged.templateParseTimeoutMs, 100, 600_000);
  out.datasetCacheBytes = integer('HANAMI_DATASET_CACHE_BYTES', pick('HANAMI_DATASET_CACHE_BYTES') ?? merged.datasetCacheBytes, 0, Number.MAX_SAFE_INTEGER);
  const bytes = (name: string, key: keyof HanamiConfig, min: number): number => integer(name, pick(name) ?? (merged[key] as number), min, Number.MAX_SAFE_INTEGER);
  out.maxDecodedBytes = bytes('HANAMI_MAX_DECODED_BYTES', 'maxDecodedBytes', 1024);
  out.projectMaxDecodedBytes = bytes('HANAMI_PROJECT_MAX_DECODED_BYTES', 'projectMaxDecodedBytes', 1024);
  out.maxDatasetBytes = bytes('HANAMI_MAX_DATASET_BYTES', 'maxDatasetBytes', 1024);
  out.csvMaxRows = integer('HANAMI_CSV_MAX_ROWS', pick('HANAMI_CSV_MAX_ROWS') ?? merged.csvMaxRows, 1, Number.MAX_SAFE_INTEGER);
  out.csvMaxColumns = integer('HANAMI_CSV_MAX_COLUMNS', pick('HANAMI_CSV_MAX_COLUMNS') ?? merged.csvMaxColumns, 1, 10_000_000);
  out.quotaDatasets = integer('HANAMI_QUOTA_DATASETS', pick('HANAMI_QUOTA_DATASETS') ?? merged.quotaDatasets, 1, Number.MAX_SAFE_INTEGER);
  out.quotaTemplates = integer('HANAMI_QUOTA_TEMPLATES', pick('HANAMI_QUOTA_TEMPLATES') ?? merged.quotaTemplates, 1, Number.MAX_SAFE_INTEGER);
  out.quotaClusters = integer('HANAMI_QUOTA_CLUSTERS', pick('HANAMI_QUOTA_CLUSTERS') ?? merged.quotaClusters, 1, Number.MAX_SAFE_INTEGER);
  out.quotaBytes = bytes('HANAMI_QUOTA_BYTES', 'quotaBytes', 1024);
  out.storeProbeMs = integer('HANAMI_STORE_PROBE_MS', pick('HANAMI_STORE_PROBE_MS') ?? merged.storeProbeMs, 50, 3_600_000);
  out.loginRatePerMinute = integer('HANAMI_LOGIN_RATE', pick('HANAMI_LOGIN_RATE') ?? merged.loginRatePerMinute, 1, 1_000_000);
  out.loginBackoffAfter = integer('HANAMI_LOGIN_BACKOFF_AFTER', pick('HANAMI_LOGIN_BACKOFF_AFTER') ?? merged.loginBackoffAfter, 1, 1_000_000);
  out.loginBackoffMaxSeconds = integer('HANAMI_LOGIN_BACKOFF_MAX_SECONDS', pick('HANAMI_LOGIN_BACKOFF_MAX_SECONDS') ?? merged.loginBackoffMaxSeconds, 1, 3600);
  out.trustProxy = parseTrustProxy(pick('HANAMI_TRUST_PROXY') ?? merged.trustProxy);
  out.logLevel = oneOf('HANAMI_LOG_LEVEL', pick('HANAMI_LOG_LEVEL') ?? merged.logLevel, LOG_LEVELS);
  out.shutdownGraceSeconds = integer('HANAMI_SHUTDOWN_GRACE', pick('HANAMI_SHUTDOWN_GRACE') ?? merged.shutdownGraceSeconds, 0, 3600);
  out.instanceId = pick('HANAMI_INSTANCE_ID') ?? merged.instanceId;
  out.clusterLeaseMs = integer('HANAMI_CLUSTER_LEASE_MS', pick('HANAMI_CLUSTER_LEASE_MS') ?? merged.clusterLeaseMs, 1000, 3_600_000);
  out.clusterRenewMs = integer('HANAMI_CLUSTER_RENEW_MS', pick('HANAMI_CLUSTER_RENEW_MS') ?? merged.clusterRenewMs, 100, 1_800_000);
  out.clusterIdleMs = integer('HANAMI_CLUSTER_IDLE_MS', pick('HANAMI_CLUSTER_IDLE_MS') ?? merged.clusterIdleMs, 0, 7 * 24 * 3_600_000);
  out.taskPollMs = integer('HANAMI_TASK_POLL_MS', pick('HANAMI_TASK_POLL_MS') ?? merged.taskPollMs, 100, 600_000);
  out.taskMetricSamples = integer('HANAMI_TASK_METRIC_SAMPLES', pick('HANAMI_TASK_METRIC_SAMPLES') ?? merged.taskMetricSamples, 1, 1_000_000_000);
  out.taskMetricPoints = integer('HANAMI_TASK_METRIC_POINTS', pick('HANAMI_TASK_METRIC_POINTS') ?? merged.taskMetricPoints, 4, 1000);
  out.io.maxMessageBytes = integer('HANAMI_IO_MAX_MESSAGE_BYTES', pick('HANAMI_IO_MAX_MESSAGE_BYTES') ?? merged.io.maxMessageBytes, 1024, 1024 * 1024 * 1024);
  out.io.ratePerSecond = integer('HANAMI_IO_RATE', pick('HANAMI_IO_RATE') ?? merged.io.ratePerSecond, 1, 10_000_000);
  out.io.idleSeconds = integer('HANAMI_IO_IDLE_SECONDS', pick('HANAMI_IO_IDLE_SECONDS') ?? merged.io.idleSeconds, 1, 7 * 24 * 3600);
  out.io.maxSocketsPerUser = integer('HANAMI_IO_MAX_SOCKETS_PER_USER', pick('HANAMI_IO_MAX_SOCKETS_PER_USER') ?? merged.io.maxSocketsPerUser, 1, 100_000);
  out.io.bytesPerSecond = integer('HANAMI_IO_BYTES_PER_SECOND', pick('HANAMI_IO_BYTES_PER_SECOND') ?? merged.io.bytesPerSecond ?? 16 * 1024 * 1024, 1024, 2 ** 40);
  out.io.maxInflightBytes = integer('HANAMI_IO_MAX_INFLIGHT_BYTES', pick('HANAMI_IO_MAX_INFLIGHT_BYTES') ?? merged.io.maxInflightBytes ?? 1024 * 1024, 1024, 2 ** 40);
  out.io.recheckSeconds = integer('HANAMI_IO_RECHECK_SECONDS', pick('HANAMI_IO_RECHECK_SECONDS') ?? merged.io.recheckSeconds ?? 2, 1, 3600);
  if (out.adminUser.length < 1 || out.adminUser.length > 64 || !new RegExp(USER_NAME_PATTERN).test(out.adminUser)) {
    throw new ConfigError('HANAMI_ADMIN_USER must be 1–64 letters, digits and ._@- (starting with a letter or digit)');
  }
  if (out.adminPassphrase !== undefined && out.adminPassphrase.length < 8) throw new ConfigError('HANAMI_ADMIN_PASSPHRASE must be at least 8 characters');
  if (out.jwtKey !== undefined && out.jwtKey.length < 32) throw new ConfigError('HANAMI_JWT_KEY must be at least 32 characters');
  if (!new RegExp(INSTANCE_ID_PATTERN).test(out.instanceId)) {
    throw new ConfigError(`HANAMI_INSTANCE_ID must be 1–255 letters, digits and ._:@- (starting with a letter or digit), got "${out.instanceId}"`);
  }
  if (out.clusterRenewMs * 2 > out.clusterLeaseMs) {
    throw new ConfigError(`HANAMI_CLUSTER_RENEW_MS (${out.clusterRenewMs}) must be at most half of HANAMI_CLUSTER_LEASE_MS (${out.clusterLeaseMs}), so a lease survives a failed renewal`);
  }
  return out;
}
