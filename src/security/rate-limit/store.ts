// Where the counters live. `redis` (REDIS_URL) shares them between instances and is the choice for
// more than one; `postgres` uses the server database (the `rate_limits` table) and is the default
// with DATABASE_URL; `memory` counts per process. The embedded PGlite has no connection pool that
// rate-limiter-flexible can use and serves one process anyway, so with it the counters are in
// memory (logged at start-up).
//
// A fail-open family's store limiter carries an in-memory insurance limiter: when the store errs
// or answers slower than RATE_LIMIT_STORE_TIMEOUT_MS, that request is counted locally instead. A
// fail-closed family has none, and the error reaches the middleware, which refuses (503).
import { Redis } from 'ioredis';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import {
  type RateLimiterAbstract,
  RateLimiterMemory,
  RateLimiterPostgres,
  RateLimiterRedis,
  RLWrapperTimeouts,
} from 'rate-limiter-flexible';
import type { DatabaseKind } from '../../db/database.ts';

export type StoreKind = 'memory' | 'postgres' | 'redis';

export interface StoreSettings {
  RATE_LIMIT_STORE: 'auto' | StoreKind;
  REDIS_URL?: string | undefined;
  RATE_LIMIT_STORE_TIMEOUT_MS: number;
}

export interface LimiterOptions {
  keyPrefix: string;
  points: number;
  duration: number;
  blockDuration?: number | undefined;
}

/** What the bucket needs from a limiter; the wrapper types of rate-limiter-flexible all fit. */
export type Limiter = Pick<RateLimiterAbstract, 'consume' | 'get'>;

export interface LimiterStore {
  kind: StoreKind;
  limiter(options: LimiterOptions, failOpen: boolean): Limiter;
  close(): Promise<void>;
}

const TABLE = 'rate_limits';
const SWEEP_MS = 5 * 60_000;

export function storeKind(settings: StoreSettings, database: DatabaseKind): { kind: StoreKind; note?: string } {
  const wanted = settings.RATE_LIMIT_STORE;
  if (wanted === 'redis' || (wanted === 'auto' && settings.REDIS_URL)) return { kind: 'redis' };
  if (wanted === 'memory') return { kind: 'memory' };
  if (database === 'postgresql') return { kind: 'postgres' };
  return {
    kind: 'memory',
    note: 'rate limits are counted in this process only: the embedded PGlite database cannot hold shared counters (set DATABASE_URL or REDIS_URL to share them between instances)',
  };
}

/** Waits until Redis is ready or has refused once, at most `ms`: a first request should not race the connection. */
async function firstContact(redis: Redis, ms: number): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      redis.off('error', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    redis.once('ready', done);
    redis.once('error', done);
  });
}

export async function createLimiterStore(
  settings: StoreSettings,
  db: { knex: Knex; kind: DatabaseKind },
  logger: Logger,
): Promise<LimiterStore> {
  const { kind, note } = storeKind(settings, db.kind);
  if (note) logger.warn({ store: kind }, note);
  const timeoutMs = settings.RATE_LIMIT_STORE_TIMEOUT_MS;

  const withInsurance = (store: RateLimiterAbstract, options: LimiterOptions, failOpen: boolean): Limiter =>
    new RLWrapperTimeouts({
      limiter: store,
      timeoutMs,
      ...(failOpen
        ? { insuranceLimiter: new RateLimiterMemory({ ...options, keyPrefix: `insurance:${options.keyPrefix}` }) }
        : {}),
    });

  if (kind === 'memory') {
    return { kind, limiter: (options) => new RateLimiterMemory(options), close: async () => {} };
  }

  if (kind === 'redis') {
    if (!settings.REDIS_URL) throw new Error('RATE_LIMIT_STORE=redis needs REDIS_URL');
    const redis = new Redis(settings.REDIS_URL, {
      // rate-limiter-flexible's advice: no offline queue, so a request never waits for a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: timeoutMs,
      connectTimeout: Math.max(timeoutMs, 2000),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    let reported = false;
    redis.on('error', (err) => {
      // Once per outage, not once per reconnect attempt.
      if (!reported) logger.error({ err: { message: err.message } }, 'rate-limit store (Redis) unreachable');
      reported = true;
    });
    redis.on('ready', () => {
      if (reported) logger.info('rate-limit store (Redis) reachable again');
      reported = false;
    });
    await firstContact(redis, 2000);
    return {
      kind,
      limiter: (options, failOpen) =>
        withInsurance(new RateLimiterRedis({ ...options, storeClient: redis, rejectIfRedisNotReady: true }), options, failOpen),
      async close() {
        redis.disconnect();
      },
    };
  }

  // PostgreSQL through the server's own knex pool; the table comes from the migrations.
  const sweep = setInterval(() => {
    db.knex(TABLE)
      .where('expire', '<', Date.now() - 60_000)
      .delete()
      .catch((err) => logger.warn({ err }, 'could not delete expired rate-limit counters'));
  }, SWEEP_MS);
  sweep.unref();
  return {
    kind,
    limiter: (options, failOpen) =>
      withInsurance(
        new RateLimiterPostgres({
          ...options,
          storeClient: db.knex,
          storeType: 'knex',
          tableName: TABLE,
          tableCreated: true,
          clearExpiredByTimeout: false,
        }),
        options,
        failOpen,
      ),
    async close() {
      clearInterval(sweep);
    },
  };
}
