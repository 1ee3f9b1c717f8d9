#!/usr/bin/env node
/**
 * `npm start`: runs the service with the configuration from HANAMI_CONFIG and HANAMI_*
 * (docs/configuration.md), prints where Swagger UI is (and the initial admin's generated
 * passphrase, once), and shuts down gracefully on SIGTERM/SIGINT. SIGHUP reloads the policy
 * file.
 */
import { ConfigError, loadConfig } from './config.js';
import { PolicyError } from './auth/policy.js';
import { startService, VERSION, type RunningService } from './service.js';

function printBanner(service: RunningService): void {
  const { services, url, admin } = service;
  const lines = [
    `Hanami ${VERSION} listening on ${url}`,
    `Swagger UI: ${url}/docs`,
    `Store: ${services.store.description}`,
    `Instance: ${services.runtime.instanceId}`,
    `Backend: ${services.backends.primary.description} (${services.backends.selection.reason})`,
  ];
  if (service.metricsUrl) lines.push(`Metrics: ${service.metricsUrl}`);
  if (admin.created) {
    lines.push(
      admin.generatedPassphrase !== undefined
        ? `Initial admin "${admin.created.name}" created with the passphrase: ${admin.generatedPassphrase}\n  (shown only this once; change it with PATCH /v1/users/me; if it is lost, \`hanami admin reset-passphrase ${admin.created.name}\` on this host sets a new one)`
        : `Initial admin "${admin.created.name}" created with the passphrase from HANAMI_ADMIN_PASSPHRASE`,
    );
  }
  if (service.recovered.failed > 0) lines.push(`${service.recovered.failed} task(s) interrupted by the last stop were marked failed`);
  if (service.recovered.requeued > 0) lines.push(`${service.recovered.requeued} queued task(s) queued again`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function main(): Promise<void> {
  let service: RunningService;
  try {
    service = await startService(loadConfig());
  } catch (error) {
    if (error instanceof ConfigError || error instanceof PolicyError) {
      process.stderr.write(`hanami: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  printBanner(service);
  const { logger } = service.services;
  let signalled = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (signalled) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    signalled = true;
    logger.info({ signal }, 'shutting down');
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGHUP', () => {
    service.services.policy.reload().then(
      () => logger.info({ file: service.services.policy.file }, 'policy reloaded'),
      (error: unknown) => logger.error({ err: error }, 'policy not reloaded; keeping the current one'),
    );
  });
}

await main();
