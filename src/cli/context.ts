// What a command needs, built on first use and torn down once at the end: the configuration,
// the database (migrated when MIGRATE_ON_START), the shared services, and the oidc-provider
// only for the commands that mint tokens or validate clients through it.
import { type Logger, pino } from 'pino';
import { type Config, loadConfig } from '../config.ts';
import { createDatabase, type Database, migrateLatest } from '../db/database.ts';
import { loggerOptions } from '../logger.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import { createServices, type Services, startProvider } from '../services.ts';

export interface CliContext {
  /** The database without running migrations (for `migrate` itself). */
  database(): Database;
  services(): Promise<Services>;
  provider(): Promise<ProviderHolder>;
  close(): Promise<void>;
}

/** Warnings and errors only, on stderr, so stdout carries nothing but the command's result. */
function stderrLogger(level: string): Logger {
  return pino(loggerOptions(level, 'portcullis-cli'), pino.destination({ dest: 2, sync: true }));
}

export function createCliContext(): CliContext {
  let config: Config | undefined;
  let db: Database | undefined;
  let services: Promise<Services> | undefined;
  let holder: Promise<ProviderHolder> | undefined;

  // A ConfigError propagates: main prints it and exits 2.
  const getConfig = () => {
    config ??= loadConfig();
    return config;
  };
  const logger = () => stderrLogger(getConfig().LOG_LEVEL === 'silent' ? 'silent' : 'warn');
  const database = () => {
    const log = logger();
    db ??= createDatabase(getConfig(), { warn: (m) => log.warn(m), error: (m) => log.error(m) });
    return db;
  };
  const getServices = () => {
    services ??= (async () => {
      const c = getConfig();
      const d = database();
      if (c.MIGRATE_ON_START) await migrateLatest(d.knex);
      return createServices(c, d, logger());
    })();
    return services;
  };

  return {
    database,
    services: getServices,
    provider() {
      holder ??= getServices().then(startProvider);
      return holder;
    },
    async close() {
      if (holder) (await holder.catch(() => undefined))?.stop();
      if (services) await services.catch(() => undefined);
      await db?.close();
    },
  };
}
