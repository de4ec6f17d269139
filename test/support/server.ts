// Starts a real Portcullis over real HTTP on a free loopback port, on a fresh database.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { DestinationStream } from 'pino';
import { ADMIN_SCOPES } from '../../src/admin/admin-keys.ts';
import { type Config, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, startServer } from '../../src/server.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

export interface TestServer {
  issuer: string;
  config: Config;
  server: RunningServer;
  database: TestDatabase;
  /** An admin key holding every scope. */
  adminKey: string;
  /** Stops the server (keeps the database). */
  stop(): Promise<void>;
  /** Starts the server again on the same database and port (restart tests). */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  /** Stops the server and drops the database. */
  close(): Promise<void>;
  admin(method: string, path: string, body?: unknown, key?: string): Promise<Response>;
}

export interface TestServerOptions {
  env?: Record<string, string>;
  database?: TestDatabase;
  /** Where the server's log lines go (stdout when absent), e.g. to capture and search them. */
  logDestination?: DestinationStream;
  /**
   * The issuer's host name (default 127.0.0.1). WebAuthn tests use `localhost`: browsers refuse an
   * IP address as RP ID, and http://localhost is a secure context. The server still listens on
   * 127.0.0.1, where Chromium and Node's fetch both find localhost.
   */
  issuerHost?: string;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase());
  const port = await freePort();
  const issuer = `http://${options.issuerHost ?? '127.0.0.1'}:${port}`;
  const baseEnv: Record<string, string> = {
    NODE_ENV: 'test',
    HOST: '127.0.0.1',
    PORT: String(port),
    ISSUER: issuer,
    DATA_DIR: database.dataDir,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    JANITOR_INTERVAL_SECONDS: '0',
    CLIENT_CACHE_TTL_MS: '0',
    // Tests do not measure password hashing: the cheapest argon2id the schema allows.
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_TIME_COST: '1',
    // Every test request comes from 127.0.0.1, with bursts of registrations and sign-ins no single
    // client makes: the limiter stays on (headers, stores, fail modes) with 50x the defaults.
    // test/rate-limits.test.ts sets exact limits with RATE_LIMITS, which are not scaled.
    RATE_LIMIT_MULTIPLIER: '50',
    ...(database.url ? { DATABASE_URL: database.url } : {}),
    ...options.env,
  };
  let config = parseConfig(baseEnv);
  const logger = createLogger(config.LOG_LEVEL, options.logDestination);
  let server = await startServer(config, logger);
  const { key: adminKey } = await server.services.adminKeys.create(`test-${randomBytes(4).toString('hex')}`, [...ADMIN_SCOPES]);
  let running = true;
  const handle: TestServer = {
    issuer,
    get config() {
      return config;
    },
    get server() {
      return server;
    },
    database,
    adminKey,
    async stop() {
      if (running) await server.close();
      running = false;
    },
    async restart(extraEnv = {}) {
      await handle.stop();
      config = parseConfig({ ...baseEnv, ...extraEnv });
      server = await startServer(config, logger);
      running = true;
    },
    async close() {
      await handle.stop();
      await database.drop();
    },
    admin(method, path, body, key = adminKey) {
      return fetch(`${issuer}${path}`, {
        method,
        headers: {
          ...(key ? { authorization: `Bearer ${key}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    },
  };
  return handle;
}
