// One worker process per core (WEB_CONCURRENCY) with node:cluster. The primary does the one-time
// work first (migrations, first-start signing keys, shared secrets, demo data), so the workers
// never race each other for it, then forks the workers and supervises them: a worker that dies
// after it started serving is replaced; one that dies while starting stops the whole server
// (a bad configuration must not become a fork loop). Workers share the listening ports.
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { defaultHashPermits, servePermits } from './accounts/hash-permits.ts';
import type { Config } from './config.ts';
import { createDatabase, migrateLatest } from './db/database.ts';
import { seedDemo } from './demo.ts';
import { sharedSecret } from './oidc/server-secrets.ts';
import { createServices, startProvider } from './services.ts';

// V8 sizes its heap from the machine's memory: on the 24 GB bench machine a worker's young
// generation grew to 2 x 64 MiB and its old generation let garbage pile up, so resident memory
// reached ~390 MiB under load while the live heap was ~30 MiB. These limits keep a worker near
// 190 MiB at the same throughput (docs/performance.md). An operator's own flags (NODE_OPTIONS or
// node's arguments) win.
const V8_FLAGS: [flag: string, value: number][] = [
  ['--max-semi-space-size', 16],
  ['--max-old-space-size', 384],
];

// Beside the hashes ARGON2_MAX_CONCURRENCY lets run (all of them may land on one worker), WebCrypto signing and verification keep this
// many libuv threads of their own (BRIEF: signing p99 went past 200 ms queued behind argon2).
const SIGNING_THREADS = 4;

export function workerCount(config: Pick<Config, 'WEB_CONCURRENCY'>): number {
  return config.WEB_CONCURRENCY === 0 ? availableParallelism() : config.WEB_CONCURRENCY;
}

/** True when this process should supervise workers rather than serve. */
export const isClusterPrimary = (config: Pick<Config, 'WEB_CONCURRENCY'>) => cluster.isPrimary && workerCount(config) > 1;

/** Migrations, keys and shared secrets, once, before any worker starts. */
async function prepareStorage(config: Config, logger: Logger): Promise<void> {
  const db = createDatabase(config, {
    warn: (message) => logger.warn({ component: 'knex' }, message),
    error: (message) => logger.error({ component: 'knex' }, message),
  });
  try {
    if (config.MIGRATE_ON_START) {
      const applied = await migrateLatest(db.knex);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
    const services = createServices(config, db, logger);
    const holder = await startProvider(services);
    holder.stop();
    await sharedSecret(db.knex, services.cipher, 'csrf_key');
    if (config.DEMO_DATA) await seedDemo(services, holder);
    await services.audit.flush();
  } finally {
    await db.close();
  }
}

export interface Supervisor {
  /** Asks every worker to finish its in-flight requests and stop; resolves when all have exited. */
  close(): Promise<void>;
}

export async function startCluster(config: Config, logger: Logger): Promise<Supervisor> {
  await prepareStorage(config, logger);
  const count = workerCount(config);
  // Hashing is CPU-bound: the whole server hashes at most this many passwords at once (every core
  // but one unless set), the workers borrowing permits from this process (hash-permits.ts).
  const hashes = config.ARGON2_MAX_CONCURRENCY ?? defaultHashPermits();
  servePermits(hashes);
  const env: Record<string, string> = {
    // The primary has migrated; workers must not run migrations concurrently.
    MIGRATE_ON_START: 'false',
    ARGON2_MAX_CONCURRENCY: String(hashes),
    PORTCULLIS_HASH_PERMITS: 'cluster',
    ...(process.env.UV_THREADPOOL_SIZE ? {} : { UV_THREADPOOL_SIZE: String(hashes + SIGNING_THREADS) }),
    // glibc gives each thread that allocates its own malloc arena and keeps freed memory there: the
    // argon2 threads' 19 MiB blocks kept ~70 MiB per worker resident. Two arenas: same throughput,
    // peak RSS per worker ~300 -> ~235 MiB in the bench (docs/performance.md).
    ...(process.env.MALLOC_ARENA_MAX ? {} : { MALLOC_ARENA_MAX: '2' }),
  };
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' ');
  const heap = V8_FLAGS.filter(([flag]) => !given.includes(flag)).map(([flag, value]) => `${flag}=${value}`);
  cluster.setupPrimary({ execArgv: [...process.execArgv, ...heap] });
  let closing = false;
  const listening = new Set<number>();
  const fork = () => cluster.fork(env);

  cluster.on('listening', (worker: Worker) => {
    if (listening.has(worker.id)) return; // the admin listener reports too
    listening.add(worker.id);
    if (listening.size === count) logger.info({ workers: count }, 'all workers are listening');
  });
  cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
    const started = listening.delete(worker.id);
    if (closing) return;
    if (!started) {
      logger.fatal({ worker: worker.process.pid, code, signal }, 'a worker failed to start; stopping');
      closing = true;
      for (const other of Object.values(cluster.workers ?? {})) other?.process.kill('SIGTERM');
      process.exitCode = 1;
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, 'a worker died; starting a new one');
    fork();
  });
  for (let i = 0; i < count; i++) fork();
  logger.info({ workers: count, issuer: config.ISSUER }, 'Portcullis cluster started');

  return {
    close() {
      closing = true;
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      return new Promise<void>((resolve) => {
        let remaining = workers.length;
        if (remaining === 0) resolve();
        for (const worker of workers) {
          worker.once('exit', () => {
            remaining--;
            if (remaining === 0) resolve();
          });
          worker.process.kill('SIGTERM');
        }
      });
    },
  };
}
