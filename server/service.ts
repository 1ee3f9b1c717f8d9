/**
 * Starting and stopping the whole service: store, JWT key, initial admin, policy, backend,
 * task runtime (with start-up recovery), HTTP server. `server/main.ts` is the command-line
 * entry; tests start services in-process with this function.
 */
import { ignoreFailure } from '../kernels/background.js';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import type { Express } from 'express';
import type { HanamiConfig } from './config.js';
import { createApp } from './api/app.js';
import { ServiceMetrics } from './api/metrics.js';
import { startMetricsListener, type MetricsListener } from './api/metrics-listener.js';
import { buildOpenApiDocument } from './api/openapi.js';
import { PROBLEM_CONTENT_TYPE, problemType, statusTitle } from './api/problem.js';
import { readAll } from './api/paging.js';
import { ROUTES } from './api/routes.js';
import type { Services } from './api/services.js';
import { Authenticator } from './auth/authenticate.js';
import { ensureInitialAdmin, ensureJwtKey, type AdminBootstrap } from './auth/bootstrap.js';
import { IdentityCachingStore } from './auth/identity-cache.js';
import { DEFAULT_POLICY_FILE, Policy } from './auth/policy.js';
import { LoginBackoff } from './auth/login-backoff.js';
import { RateLimiter } from './auth/rate-limit.js';
import { TokenService } from './auth/tokens.js';
import { DatasetParser } from './datasets/parse-in-worker.js';
import { TemplateParser } from './network/template-parser.js';
import { openStore } from './store/index.js';
import type { Store } from './store/types.js';
import { StoreWriteProbe } from './store/write-probe.js';
import { BackendSet } from './tasks/backends.js';
import { DatasetCache } from './tasks/dataset-loader.js';
import { TaskRuntime } from './tasks/runtime.js';
import { ChannelRegistry } from './io/channels.js';
import { DirectIoServer } from './io/server.js';
import { EVENTS_NAMESPACE, TaskEventsNamespace } from './io/events.js';
import { metricView, taskView } from './api/resources/tasks.js';

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

export interface RunningService {
  /** Base URL, e.g. http://127.0.0.1:8080 (a wildcard bind address shows as 127.0.0.1). */
  url: string;
  port: number;
  app: Express;
  server: Server;
  services: Services;
  /** Direct network I/O (Socket.IO) on the same server. */
  io: DirectIoServer;
  /** Live task progress (Socket.IO namespace /v1/events) on the same server. */
  events: TaskEventsNamespace;
  /** GET /metrics on its own listener (HANAMI_METRICS_PORT), when configured. */
  metricsUrl: string | undefined;
  /** The initial admin, when this start created one (with the generated passphrase, if any). */
  admin: AdminBootstrap;
  recovered: { failed: number; requeued: number };
  /** Graceful shutdown: stop accepting, let running tasks finish or checkpoint them, close. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
}

/** Uploads that were running when the process died: nothing will finish them. */
async function failInterruptedUploads(store: Store): Promise<number> {
  const datasets = await readAll((page) => store.datasets.listAll(page));
  let failed = 0;
  for (const d of datasets) {
    const stored = d.blobs.reduce((sum, b) => sum + b.bytes, 0);
    if (d.status === 'uploading' && (d.expectedBytes !== null || d.receivedBytes > stored)) {
      await store.datasets.update(d.projectId, d.id, { status: 'failed', receivedBytes: stored, expectedBytes: null, error: 'the upload was interrupted by a restart; upload the part again' });
      failed++;
    }
  }
  return failed;
}

/**
 * Requests Node's HTTP parser refuses (garbage, oversized headers) never reach Express; they
 * still get a problem+json answer before the connection closes.
 */
function answerUnparsableRequests(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket) => {
    if (!socket.writable || error.code === 'ECONNRESET') {
      socket.destroy();
      return;
    }
    const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
    const status = tooLarge ? 431 : 400;
    const title = statusTitle(status);
    const code = tooLarge ? 'headers_too_large' : 'unparsable_request';
    const body = JSON.stringify({ type: problemType(code), title, status, detail: tooLarge ? 'the request headers are too large' : 'the request is not valid HTTP', code });
    socket.end(`HTTP/1.1 ${status} ${title}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

export async function startService(config: HanamiConfig, options: StartOptions = {}): Promise<RunningService> {
  // The log is JSON lines on stderr; stdout carries only the start banner (server/main.ts).
  const logger = options.logger ?? pino({ level: config.logLevel }, pino.destination({ dest: 2, sync: true }));
  // Users and memberships are read on every authenticated request: keep them briefly.
  const store = new IdentityCachingStore(await openStore(config));
  let backends: BackendSet | undefined;
  try {
    await store.init();
    const jwtKey = await ensureJwtKey(store, config);
    const admin = await ensureInitialAdmin(store, config);
    const policy = await Policy.load(config.policyFile ?? DEFAULT_POLICY_FILE);
    backends = await BackendSet.open(config.backend, config.threads, logger);
    const datasetParser = new DatasetParser();
    const datasets = new DatasetCache(store, config.datasetCacheBytes, datasetParser);
    // The metrics read the runtime only when scraped, after it exists.
    const metrics = new ServiceMetrics(() => runtime);
    const runtime: TaskRuntime = new TaskRuntime({
      store,
      backends,
      datasets,
      logger,
      observer: metrics,
      ownership: { instanceId: config.instanceId, leaseMs: config.clusterLeaseMs, renewMs: config.clusterRenewMs, idleMs: config.clusterIdleMs, pollMs: config.taskPollMs },
      metrics: { everySamples: config.taskMetricSamples, maxPoints: config.taskMetricPoints },
    });
    const tokens = new TokenService(jwtKey, config.tokenTtlSeconds);
    // Direct I/O's call queues, shared by Socket.IO and POST …/predict.
    const channels = new ChannelRegistry(runtime, logger, {
      maxBatch: 256,
      parallelMin: 4,
      threads: Math.max(1, config.threads),
      saveDelayMs: 2000,
      ratePerSecond: config.io.ratePerSecond,
    });
    const services: Services = {
      config,
      store,
      runtime,
      channels,
      datasets,
      datasetParser,
      templateParser: new TemplateParser({ maxHexagons: config.templateMaxHexagons, maxWork: config.templateMaxWork }, config.templateParseTimeoutMs),
      backends,
      tokens,
      authenticator: new Authenticator(tokens, store),
      policy,
      loginLimiter: new RateLimiter(config.loginRatePerMinute),
      loginBackoff: new LoginBackoff({ freeFailures: config.loginBackoffAfter, maxLockSeconds: config.loginBackoffMaxSeconds }),
      metrics,
      logger,
      version: VERSION,
      startedAt: new Date(),
      openapi: buildOpenApiDocument(ROUTES, VERSION),
      uploads: new Set(),
      storeProbe: new StoreWriteProbe(store, config.storeProbeMs),
      accepting: true,
    };
    const interruptedUploads = await failInterruptedUploads(store);
    const recovered = await runtime.recover();
    if (recovered.failed + recovered.requeued + interruptedUploads > 0) logger.info({ ...recovered, interruptedUploads }, 'recovered after a restart');
    const app = createApp(services, ROUTES);
    const server = createServer(app);
    // Uploads of large datasets may take longer than Node's default 5-minute request limit;
    // slow-header attacks are still cut off by headersTimeout.
    server.requestTimeout = 0;
    server.headersTimeout = 60_000;
    answerUnparsableRequests(server);
    const io = new DirectIoServer(server, {
      config,
      store,
      runtime,
      channels,
      authenticator: services.authenticator,
      policy,
      revisions: store.revisions,
      logger,
      observe: (event, outcome, seconds) => metrics.observeIo(event, outcome, seconds),
    });
    const events = new TaskEventsNamespace(io.io.of(EVENTS_NAMESPACE), {
      store,
      events: runtime.events,
      authenticator: services.authenticator,
      policy,
      logger,
      maxSocketsPerUser: config.io.maxSocketsPerUser,
      instanceId: runtime.instanceId,
      pollMs: config.taskPollMs,
      taskView,
      metricView,
    });
    const address = await listen(server, config.port, config.host);
    // The parse workers start now, not in the middle of the first upload.
    services.datasetParser.warm();
    services.templateParser.warm();
    services.storeProbe.start();
    let metricsListener: MetricsListener | undefined;
    try {
      if (config.metricsPort !== undefined) metricsListener = await startMetricsListener(metrics.registry, config.metricsHost, config.metricsPort);
    } catch (error) {
      server.close();
      throw error;
    }
    const shownHost = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${shownHost}:${address.port}`;
    const openedBackends = backends;
    let stopping: Promise<void> | undefined;
    const stop = (): Promise<void> =>
      (stopping ??= (async () => {
        services.accepting = false;
        services.storeProbe.stop();
        const graceMs = config.shutdownGraceSeconds * 1000;
        events.close();
        await io.close();
        await metricsListener?.close();
        const closing = closeServer(server, graceMs);
        await runtime.stop(graceMs);
        await closing;
        await openedBackends.close();
        await services.templateParser.close();
        await services.datasetParser.close();
        // Parsed forms being written (after their uploads' answers) are finished first.
        await services.datasets.settled();
        await store.close();
      })());
    return { url, port: address.port, app, server, services, io, events, metricsUrl: metricsListener?.url, admin, recovered, stop };
  } catch (error) {
    // The start failed: its error is the one to report, not a failure to clean up after it.
    if (backends) await ignoreFailure(backends.close(), 'cleaning up after a failed start');
    await ignoreFailure(store.close(), 'cleaning up after a failed start');
    throw error;
  }
}
