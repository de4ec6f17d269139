// One measured scenario: a warm-up phase (not measured) that also tells how many requests the
// measured phase needs, then the measured phase on freshly pre-built requests. Every figure is
// per successful operation.
import type { Target } from './http.ts';
import { type BenchRequest, type Measured, type Observed, runLoad } from './load.ts';
import { settings } from './settings.ts';

export type ServerName = 'portcullis' | 'stock';

export interface ScenarioResult {
  scenario: string;
  server: ServerName;
  /** 'empty' database, or 'scale' (pre-filled with token rows). */
  phase: 'empty' | 'scale';
  unit: string;
  /** Successful operations per second. */
  rate: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number };
  /** CPU of the server's processes per successful operation (all workers and the primary). */
  serverCpuMsPerOp: number;
  /** CPU of PostgreSQL's backends for this server per operation (0 for the in-memory stock). */
  databaseCpuMsPerOp: number;
  /** Highest resident memory of one worker during the measured phase. */
  peakRssMiB: number;
  /** PostgreSQL transactions (each autocommitted statement is one) and rows written, per operation. */
  databasePerOp?: { transactions: number; inserted: number; updated: number; deleted: number };
  good: number;
  bad: number;
  durationS: number;
  exhausted: boolean;
  samples: string[];
  extra?: Record<string, unknown>;
}

/** "1M rows", "200k rows": the scale run's pre-filled token rows. */
export const scaleLabel = () =>
  settings.scaleRows >= 1e6 ? `${settings.scaleRows / 1e6}M rows` : `${Math.round(settings.scaleRows / 1e3)}k rows`;

export const log = (message: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${message}\n`);

export const formBody = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

export interface LoadScenario {
  scenario: string;
  server: ServerName;
  phase?: 'empty' | 'scale';
  unit: string;
  target: Target;
  observed: Observed;
  /** A rough rate, to size the warm-up's pre-built requests. */
  estimate: number;
  /** Builds `count` requests (each used once unless `repeat`). */
  build: (count: number) => Promise<BenchRequest[]>;
  repeat?: boolean;
  expect?: string;
  expectStatus?: number;
  connections?: number;
  overallRate?: number;
  /** Runs beside the measured phase (e.g. a probe), resolved before the result is returned. */
  alongside?: () => Promise<unknown>;
}

export function toResult(
  s: Pick<LoadScenario, 'scenario' | 'server' | 'phase' | 'unit'>,
  measured: Measured,
  extra?: Record<string, unknown>,
): ScenarioResult {
  const { load } = measured;
  const ops = Math.max(1, load.good);
  return {
    scenario: s.scenario,
    server: s.server,
    phase: s.phase ?? 'empty',
    unit: s.unit,
    rate: load.rps,
    latencyMs: { p50: load.latencyMs.p50, p90: load.latencyMs.p90, p99: load.latencyMs.p99, max: load.latencyMs.max },
    serverCpuMsPerOp: measured.serverCpuMs / ops,
    databaseCpuMsPerOp: measured.databaseCpuMs / ops,
    peakRssMiB: measured.peakRssMiB,
    ...(measured.database
      ? {
          databasePerOp: {
            transactions: measured.database.transactions / ops,
            inserted: measured.database.inserted / ops,
            updated: measured.database.updated / ops,
            deleted: measured.database.deleted / ops,
          },
        }
      : {}),
    good: load.good,
    bad: load.bad,
    durationS: load.durationS,
    exhausted: load.exhausted,
    samples: load.samples,
    ...(extra ? { extra } : {}),
  };
}

const MAX_POOL = 250_000;

export async function measureLoad(s: LoadScenario): Promise<ScenarioResult> {
  const connections = s.connections ?? settings.connections;
  const label = `${s.scenario} [${s.server}${s.phase === 'scale' ? `, ${scaleLabel()}` : ''}]`;
  const base = { url: s.target.url, connections, ...(s.overallRate ? { overallRate: s.overallRate } : {}) };
  const expectations = {
    ...(s.expect ? { expect: s.expect } : {}),
    ...(s.expectStatus ? { expectStatus: s.expectStatus } : {}),
    ...(s.repeat ? { repeat: true } : {}),
  };
  let rate = s.estimate;
  if (settings.warmup > 0) {
    const count = s.repeat ? 0 : Math.ceil(s.estimate * settings.warmup * 1.2) + connections;
    log(`${label}: warm-up ${settings.warmup}s`);
    const warm = await runLoad(
      { ...base, ...expectations, duration: settings.warmup, requests: await s.build(s.repeat ? 0 : count) },
      s.observed,
    );
    if (warm.load.bad > 0) log(`${label}: warm-up had ${warm.load.bad} bad responses, e.g. ${warm.load.samples[0] ?? '?'}`);
    rate = Math.max(warm.load.rps, s.estimate * 0.5);
  }
  const count = s.repeat ? 0 : Math.min(MAX_POOL, Math.ceil(rate * 1.6 * settings.duration) + connections);
  const requests = await s.build(count);
  log(`${label}: measuring ${settings.duration}s${s.repeat ? '' : ` (${requests.length} pre-built requests)`}`);
  const alongside = s.alongside?.();
  const measured = await runLoad({ ...base, ...expectations, duration: settings.duration, requests }, s.observed);
  const extra = alongside ? { alongside: await alongside } : undefined;
  const result = toResult(s, measured, extra);
  log(
    `${label}: ${result.rate.toFixed(0)} ${s.unit}/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, ` +
      `${result.serverCpuMsPerOp.toFixed(2)} CPU ms/op, PG ${result.databaseCpuMsPerOp.toFixed(2)} ms/op` +
      `${result.databasePerOp ? ` (${result.databasePerOp.transactions.toFixed(1)} xact/op)` : ''}${result.bad ? `, ${result.bad} bad: ${result.samples[0] ?? ''}` : ''}`,
  );
  return result;
}
