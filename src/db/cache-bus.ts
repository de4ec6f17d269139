// Cache invalidation across processes (cluster workers, instances, the CLI) through PostgreSQL
// LISTEN/NOTIFY. A change publishes `topic:key` with pg_notify on the connection (or inside the
// transaction) that made it, so the message goes out when the change commits, never before; every
// listening process, this one included, drops that cache entry. The caches keep their short TTL
// as the backstop: a listener that lost its connection clears its caches when it reconnects, and
// until then an entry lives at most the TTL. On PGlite (one process) messages stay in process.
import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from 'pino';

const CHANNEL = 'portcullis_cache';
const MAX_BACKOFF_MS = 30_000;

export interface CacheBus {
  /** Tells every process that `key` of `topic` changed (with `trx`: once it commits). */
  publish(topic: string, key: string, trx?: Knex.Transaction): Promise<void>;
  /**
   * `onChange(key)` for each change published on `topic`; `onReset()` when messages may have been
   * missed (a listener reconnected), so the whole cache must go.
   */
  subscribe(topic: string, onChange: (key: string) => void, onReset: () => void): void;
  /** Starts receiving other processes' messages (servers do; the CLI only publishes). */
  listen(): Promise<void>;
  close(): Promise<void>;
}

interface Subscriber {
  onChange: (key: string) => void;
  onReset: () => void;
}

export function createCacheBus(knex: Knex, databaseUrl: string | undefined, logger: Logger): CacheBus {
  const subscribers = new Map<string, Subscriber[]>();
  const deliver = (message: string) => {
    const at = message.indexOf(':');
    const topic = at === -1 ? message : message.slice(0, at);
    for (const s of subscribers.get(topic) ?? []) s.onChange(message.slice(at + 1));
  };
  const resetAll = () => {
    for (const list of subscribers.values()) for (const s of list) s.onReset();
  };

  let client: pg.Client | undefined;
  let closed = false;
  let backoff = 1000;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: databaseUrl });
    const lost = (err?: Error) => {
      if (client !== next || closed) return;
      client = undefined;
      logger.warn({ err, retryInMs: backoff }, 'cache invalidation listener lost its connection; caches fall back to their TTL');
      next.end().catch(() => {});
      retry = setTimeout(() => void reconnect(), backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    };
    next.on('error', lost);
    next.on('end', () => lost());
    next.on('notification', (msg) => {
      if (msg.channel === CHANNEL && msg.payload) deliver(msg.payload);
    });
    await next.connect();
    await next.query(`LISTEN ${CHANNEL}`);
    client = next;
    backoff = 1000;
  };
  const reconnect = async () => {
    try {
      await connect();
      // Whatever changed while we were away was not heard: start from the database again.
      resetAll();
      logger.info('cache invalidation listener reconnected');
    } catch (err) {
      logger.warn({ err, retryInMs: backoff }, 'cache invalidation listener could not reconnect');
      retry = setTimeout(() => void reconnect(), backoff);
      retry.unref();
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  };

  return {
    async publish(topic, key, trx) {
      if (!databaseUrl) {
        deliver(`${topic}:${key}`);
        return;
      }
      await (trx ?? knex).raw('SELECT pg_notify(?, ?)', [CHANNEL, `${topic}:${key}`]);
    },
    subscribe(topic, onChange, onReset) {
      subscribers.set(topic, [...(subscribers.get(topic) ?? []), { onChange, onReset }]);
    },
    async listen() {
      if (databaseUrl && !client) await connect();
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const current = client;
      client = undefined;
      await current?.end().catch(() => {});
    },
  };
}
