// Start-up only: config -> server (or, with WEB_CONCURRENCY > 1, the cluster primary) -> signals.
import { isClusterPrimary, startCluster } from './cluster.ts';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';
import { startServer } from './server.ts';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  const logger = createLogger(config.LOG_LEVEL);
  const server = isClusterPrimary(config) ? await startCluster(config, logger) : await startServer(config, logger);

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down: finishing in-flight requests');
    await server.close();
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err) => {
  const detail = (err as { error_description?: string })?.error_description;
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`Portcullis failed to start: ${message}${detail ? ` (${detail})` : ''}\n`);
  process.exit(1);
});
