/**
 * Everything a handler may use, built once per service instance by server/service.ts and
 * passed to handlers in their context (never read from module globals, so several services
 * can run in one process).
 */
import type { Logger } from 'pino';
import type { HanamiConfig } from '../config.js';
import type { Authenticator } from '../auth/authenticate.js';
import type { Policy } from '../auth/policy.js';
import type { LoginBackoff } from '../auth/login-backoff.js';
import type { RateLimiter } from '../auth/rate-limit.js';
import type { TokenService } from '../auth/tokens.js';
import type { DatasetParser } from '../datasets/parse-in-worker.js';
import type { TemplateParser } from '../network/template-parser.js';
import type { Store } from '../store/types.js';
import type { StoreWriteProbe } from '../store/write-probe.js';
import type { BackendSet } from '../tasks/backends.js';
import type { DatasetCache } from '../tasks/dataset-loader.js';
import type { TaskRuntime } from '../tasks/runtime.js';
import type { ChannelRegistry } from '../io/channels.js';
import type { ServiceMetrics } from './metrics.js';
import type { OpenApiDocument } from './document.js';

export interface Services {
  config: HanamiConfig;
  store: Store;
  runtime: TaskRuntime;
  /** Direct-I/O call queues per cluster (Socket.IO and POST …/predict share them). */
  channels: ChannelRegistry;
  datasets: DatasetCache;
  /** Uploaded dataset parts are parsed off the event loop, one at a time. */
  datasetParser: DatasetParser;
  /** Client templates are parsed off the event loop, within the template limits. */
  templateParser: TemplateParser;
  backends: BackendSet;
  tokens: TokenService;
  authenticator: Authenticator;
  policy: Policy;
  loginLimiter: RateLimiter;
  /** Failed logins per user name (auth/login-backoff.ts). */
  loginBackoff: LoginBackoff;
  metrics: ServiceMetrics;
  logger: Logger;
  version: string;
  startedAt: Date;
  /** The document served at /openapi.json (set when the app is built). */
  openapi: OpenApiDocument;
  /** Datasets with an upload in progress in this process (one upload per dataset at a time). */
  uploads: Set<string>;
  /** Whether the store takes writes (probed periodically; /readyz reports it). */
  storeProbe: StoreWriteProbe;
  /** False while shutting down: /readyz reports not ready. */
  accepting: boolean;
}
