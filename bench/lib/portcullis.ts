// Portcullis under test: a fresh PostgreSQL database (or BENCH_DATABASE_URL), the server started
// as in production (NODE_ENV=production, https issuer behind a trusted proxy, one worker per
// core), and the bench's own handle on the same database through the server's services (for the
// admin key, customers and the scale fill).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ADMIN_SCOPES } from '../../src/admin/admin-keys.ts';
import { type Config, parseConfig } from '../../src/config.ts';
import { createDatabase, type Database } from '../../src/db/database.ts';
import { createLogger } from '../../src/logger.ts';
import { createServices, type Services } from '../../src/services.ts';
import type { Target } from './http.ts';
import type { Observed } from './load.ts';
import { freePort, type ServerProcess, startProcess } from './server-process.ts';
import { settings } from './settings.ts';

export const ISSUER = 'https://portcullis.bench';

export interface Portcullis extends Target {
  proc: ServerProcess;
  env: Record<string, string>;
  config: Config;
  services: Services;
  db: Database;
  adminKey: string;
  databaseName: string;
  observed: Observed;
  /** Restarts the server on the same database (e.g. with other settings). */
  restart(extraEnv?: Record<string, string>): Promise<void>;
  stop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: settings.adminDatabaseUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * Settings that keep the bench measuring the server, not its abuse protection: every request
 * comes from one loopback address, so the per-address limits (sized for real traffic) would
 * refuse most of it. The limiter still runs on every request (its cost is measured), with
 * counters in each worker's memory and every limit 1000 times the default. With Redis or
 * PostgreSQL counters each request pays a round trip more (docs/performance.md).
 */
export const BENCH_LIMITS: Record<string, string> = {
  RATE_LIMIT_STORE: 'memory',
  RATE_LIMIT_MULTIPLIER: '1000',
};

export async function startPortcullis(): Promise<Portcullis> {
  let databaseUrl = settings.databaseUrl;
  let databaseName = databaseUrl ? new URL(databaseUrl).pathname.slice(1) : '';
  const created = !databaseUrl;
  if (!databaseUrl) {
    databaseName = `portcullis_bench_${randomBytes(5).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${databaseName}`);
    const url = new URL(settings.adminDatabaseUrl);
    url.pathname = `/${databaseName}`;
    databaseUrl = url.toString();
  }
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-data-'));
  const port = await freePort();
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    ISSUER,
    TRUST_PROXY: 'true',
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    WEB_CONCURRENCY: String(settings.workers),
    LOG_LEVEL: settings.logLevel,
    ...BENCH_LIMITS,
    ...settings.serverEnv,
  };
  const args = [
    ...(settings.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(settings.cpuProfileDir, 'portcullis')}`] : []),
    'src/main.ts',
  ];
  const launch = (extra: Record<string, string>) =>
    startProcess({
      name: 'Portcullis',
      args,
      env: { ...(process.env as Record<string, string>), ...env, ...extra },
      // The start-up lines are logged at info; at a quieter level, readiness is polled.
      ready: !/^(info|debug|trace)$/.test(settings.logLevel)
        ? new URL(`http://127.0.0.1:${port}/readyz`)
        : settings.workers > 1
          ? /all workers are listening/
          : /Portcullis is listening/,
    });
  let proc = await launch({});

  const config = parseConfig({ ...env, LOG_LEVEL: 'silent', MIGRATE_ON_START: 'false' });
  const db = createDatabase(config);
  const services = createServices(config, db, createLogger('silent'));
  const { key: adminKey } = await services.adminKeys.create(`bench-${randomBytes(3).toString('hex')}`, [...ADMIN_SCOPES]);
  const monitor = new pg.Pool({ connectionString: databaseUrl, max: 2 });

  const target = { url: `http://127.0.0.1:${port}`, issuer: ISSUER };
  const handle: Portcullis = {
    ...target,
    get proc() {
      return proc;
    },
    env,
    config,
    services,
    db,
    adminKey,
    databaseName,
    observed: {
      serverPids: () => proc.pids(),
      workerPids: () => proc.workers(),
      async databasePids() {
        const result = await monitor.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
          [databaseName],
        );
        return result.rows.map((r) => r.pid);
      },
      async databaseCounters() {
        // The statistics collector publishes a backend's counts when its transaction ends and
        // at most every PGSTAT_MIN_INTERVAL (1 s): a phase's figures are close, not exact.
        const { rows } = await monitor.query(
          `SELECT xact_commit + xact_rollback AS transactions, tup_inserted AS inserted, tup_updated AS updated,
                  tup_deleted AS deleted, tup_fetched AS fetched FROM pg_stat_database WHERE datname = $1`,
          [databaseName],
        );
        const r = rows[0] as Record<string, string>;
        return {
          transactions: Number(r.transactions),
          inserted: Number(r.inserted),
          updated: Number(r.updated),
          deleted: Number(r.deleted),
          fetched: Number(r.fetched),
        };
      },
    },
    async restart(extraEnv = {}) {
      await proc.stop();
      proc = await launch(extraEnv);
    },
    async stop() {
      await proc.stop();
      await services.audit.flush();
      await monitor.end();
      await db.close();
      if (created) await adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** The admin API, as an operator's script calls it. */
export async function admin<T>(server: Portcullis, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${server.adminKey}`,
      'x-forwarded-proto': 'https',
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`admin ${method} ${path}: ${response.status} ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
