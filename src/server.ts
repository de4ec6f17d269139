// A running Portcullis: database, services, provider, listeners. Used by main.ts and by tests.
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Logger } from 'pino';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import type { CacheBus } from './db/cache-bus.ts';
import { createDatabase, migrateLatest } from './db/database.ts';
import { startJanitor } from './db/janitor.ts';
import { retentionSweeps } from './db/retention.ts';
import { type DemoCredentials, seedDemo } from './demo.ts';
import { mtlsOptions, tlsOptions } from './http/tls.ts';
import { startObservability } from './observability/start.ts';
import type { ProviderHolder } from './oidc/provider.ts';
import { sharedSecret } from './oidc/server-secrets.ts';
import { createCsrf } from './security/csrf.ts';
import { startRequestGuards } from './security/request-guards.ts';
import { createServices, type Services, startProvider } from './services.ts';

export interface RunningServer {
  services: Services;
  holder: ProviderHolder;
  port: number;
  adminPort?: number;
  /** The mTLS listener's port when MTLS_PORT is set. */
  mtlsPort?: number;
  /** Stops accepting, lets in-flight requests finish (up to SHUTDOWN_TIMEOUT_MS), closes the database. */
  close(): Promise<void>;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : port;
}

export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  const db = createDatabase(config, {
    warn: (message) => logger.warn({ component: 'knex' }, message),
    error: (message) => logger.error({ component: 'knex' }, message),
  });
  let services: Services;
  let holder: ProviderHolder;
  let demo: DemoCredentials | undefined;
  let listening: CacheBus | undefined;
  try {
    if (config.MIGRATE_ON_START) {
      const applied = await migrateLatest(db.knex);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
    services = createServices(config, db, logger);
    // Other processes' client and resource-server changes drop this one's cached copies.
    listening = services.cacheBus;
    await listening.listen();
    holder = await startProvider(services);
    if (config.DEMO_DATA) demo = await seedDemo(services, holder);
  } catch (err) {
    // A failed start (a wrong ENCRYPTION_KEY, say) must not leave the pool or PGlite open.
    await listening?.close();
    await db.close().catch(() => {});
    throw err;
  }
  const stopObserving = startObservability(services);
  const stopJanitor = startJanitor(
    db.knex,
    logger,
    config.JANITOR_INTERVAL_SECONDS,
    config.JANITOR_BATCH_SIZE,
    [
      () => services.consentService.expireDue(holder.current, config.JANITOR_BATCH_SIZE),
      () => services.authentication.webauthnStore.deleteExpired(config.JANITOR_BATCH_SIZE),
      () => services.authentication.pendingLogins.deleteExpired(config.JANITOR_BATCH_SIZE),
      ...retentionSweeps(db.knex, services.audit, config),
    ],
    config.TOKEN_RETENTION_GRACE_SECONDS,
  );

  const csrf = createCsrf(await sharedSecret(db.knex, services.cipher, 'csrf_key'));
  const guards = await startRequestGuards(services);
  const { publicApp, adminApp, mtlsApp } = createApp(services, holder, {
    csrf,
    guards: guards.middleware,
    ...(demo ? { demo } : {}),
  });
  const servers: Server[] = [];
  // TLS_CERT/TLS_KEY: Portcullis terminates TLS itself (BCP 195 settings in http/tls.ts).
  const tls = tlsOptions(config);
  const publicServer = tls ? createHttpsServer(tls, publicApp.callback()) : createServer(publicApp.callback());
  servers.push(publicServer);
  const port = await listen(publicServer, config.PORT, config.HOST);
  logger.info({ issuer: config.ISSUER, port, tls: !!tls, database: db.kind }, 'Portcullis is listening');
  let mtlsPort: number | undefined;
  if (tls && mtlsApp && config.MTLS_PORT !== undefined) {
    const mtlsServer = createHttpsServer(mtlsOptions(tls, config), mtlsApp.callback());
    servers.push(mtlsServer);
    mtlsPort = await listen(mtlsServer, config.MTLS_PORT, config.MTLS_HOST);
    logger.info(
      { port: mtlsPort, aliases: config.MTLS_BASE_URL, caCertificates: services.caBundle.size },
      'mTLS listener is listening',
    );
  }
  let adminPort: number | undefined;
  if (adminApp && config.ADMIN_PORT !== undefined) {
    const adminServer = createServer(adminApp.callback());
    servers.push(adminServer);
    adminPort = await listen(adminServer, config.ADMIN_PORT, config.ADMIN_HOST);
    logger.info({ port: adminPort }, 'admin API is listening');
  }

  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      const force = setTimeout(() => {
        logger.warn('shutdown timeout reached; closing remaining connections');
        for (const server of servers) server.closeAllConnections();
      }, config.SHUTDOWN_TIMEOUT_MS);
      force.unref();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeIdleConnections();
            }),
        ),
      );
      clearTimeout(force);
      stopJanitor();
      stopObserving();
      await guards.close();
      holder.stop();
      await services.audit.flush();
      await services.cacheBus.close();
      await db.close();
    })();
    return closing;
  };
  return {
    services,
    holder,
    port,
    ...(adminPort !== undefined ? { adminPort } : {}),
    ...(mtlsPort !== undefined ? { mtlsPort } : {}),
    close,
  };
}
