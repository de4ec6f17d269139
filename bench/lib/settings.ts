// What a bench run may be told, from the environment. Defaults fit the whole run (Portcullis,
// stock oidc-provider and the 1M-row scale run) in under 10 minutes on a 2-core machine.
import { availableParallelism } from 'node:os';

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a non-negative number, got "${raw}"`);
  return value;
};

const list = (name: string): string[] | undefined => {
  const raw = process.env[name];
  return raw ? raw.split(',').map((s) => s.trim()) : undefined;
};

export const settings = {
  /** Seconds of measured load per scenario. */
  duration: number('BENCH_DURATION', 10),
  /** Seconds of unmeasured load before each scenario (JIT, pools, caches). */
  warmup: number('BENCH_WARMUP', 3),
  /** Concurrent HTTP connections of the load generator. */
  connections: number('BENCH_CONNECTIONS', 32),
  /** Concurrent browser-like flows in the full-flow scenario. */
  flowConcurrency: number('BENCH_FLOW_CONCURRENCY', 8),
  /** Portcullis worker processes (WEB_CONCURRENCY). */
  workers: number('BENCH_WORKERS', availableParallelism()),
  /** Existing database to use; otherwise a fresh one is created (and dropped) on the admin URL. */
  databaseUrl: process.env.BENCH_DATABASE_URL || undefined,
  adminDatabaseUrl: process.env.BENCH_ADMIN_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres',
  /** Token rows pre-filled for the scale run (0 skips it). */
  scaleRows: number('BENCH_SCALE_ROWS', 1_000_000),
  /** Run the Portcullis scenarios (false: only stock, to compare quickly). */
  portcullis: process.env.BENCH_PORTCULLIS !== 'false',
  /** Run the stock oidc-provider comparison. */
  stock: process.env.BENCH_STOCK !== 'false',
  /** Only these scenarios (names as in the report), e.g. BENCH_ONLY=client_credentials,refresh. */
  only: list('BENCH_ONLY'),
  /** Portcullis log level under load (production logs every request at info). */
  logLevel: process.env.BENCH_LOG_LEVEL ?? 'info',
  /** Where to write the JSON results (default bench/results/<date>.json). */
  output: process.env.BENCH_OUTPUT || undefined,
  /** Extra environment for Portcullis, e.g. BENCH_SERVER_ENV="ARGON2_MAX_CONCURRENCY=4,UV_THREADPOOL_SIZE=8". */
  serverEnv: Object.fromEntries(
    (list('BENCH_SERVER_ENV') ?? []).filter(Boolean).map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  ) as Record<string, string>,
  /** Write a V8 CPU profile of each worker into this folder (node --cpu-prof). */
  cpuProfileDir: process.env.BENCH_CPU_PROF || undefined,
};

export const wanted = (scenario: string): boolean => !settings.only || settings.only.includes(scenario);

export type Settings = typeof settings;
