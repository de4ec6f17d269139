// Runs one load phase from a separate process (load-child.ts) and measures the server around it:
// CPU of its processes (and of PostgreSQL's backends) between the start and the end of the load,
// and the peak resident memory of each worker, sampled every 200 ms.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuSince, cpuSnapshot, memory } from './proc.ts';

export interface BenchRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadSpec {
  url: string;
  connections: number;
  duration: number;
  requests: BenchRequest[];
  /** Requests may be sent more than once (nothing in them is single-use). */
  repeat?: boolean;
  /** A substring every good response body holds. */
  expect?: string;
  /** The status of a good response (default: any 2xx). */
  expectStatus?: number;
  /** Requests per second across all connections (a fixed-rate probe); unset = as fast as possible. */
  overallRate?: number;
}

export interface LoadResult {
  requests: number;
  durationS: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Responses with the expected status and body. */
  good: number;
  /** Everything else: other statuses, unexpected bodies, socket errors, timeouts. */
  bad: number;
  statusCodes: Record<string, number>;
  /** The pre-built requests ran out before the duration (the rate is still right: requests / time). */
  exhausted: boolean;
  /** A few bodies of failed or unexpected responses, to tell what went wrong. */
  samples: string[];
}

/** What the server looks like from outside while a phase runs. */
export interface Observed {
  /** The server's Node processes (cluster primary and workers, or one process). */
  serverPids: () => number[];
  /** The server's workers, whose memory is reported. */
  workerPids: () => number[];
  /** PostgreSQL backends serving the server (empty for the in-memory stock provider). */
  databasePids: () => Promise<number[]>;
  /** Counters of the server's database (pg_stat_database): transactions and rows. */
  databaseCounters?: () => Promise<DatabaseCounters>;
}

export interface DatabaseCounters {
  transactions: number;
  inserted: number;
  updated: number;
  deleted: number;
  fetched: number;
}

const minus = (a: DatabaseCounters, b: DatabaseCounters): DatabaseCounters => ({
  transactions: a.transactions - b.transactions,
  inserted: a.inserted - b.inserted,
  updated: a.updated - b.updated,
  deleted: a.deleted - b.deleted,
  fetched: a.fetched - b.fetched,
});

export interface Measured<R = LoadResult> {
  load: R;
  serverCpuMs: number;
  databaseCpuMs: number;
  /** Highest resident memory of any one worker during the phase, MiB. */
  peakRssMiB: number;
  /** What the database did during the phase (PostgreSQL only). */
  database?: DatabaseCounters;
}

const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
let counter = 0;
process.once('exit', () => rmSync(dir, { recursive: true, force: true }));

/** Runs a load phase (autocannon over pre-built requests) and measures the server around it. */
export const runLoad = (spec: LoadSpec, observed: Observed): Promise<Measured<LoadResult>> =>
  runChild(new URL('./load-child.ts', import.meta.url).pathname, spec, observed);

/**
 * Runs a load process (`script` gets the path of a JSON file holding `spec`) and measures the
 * server between the child's `started` message and its `result`.
 */
export async function runChild<R>(script: string, spec: unknown, observed: Observed): Promise<Measured<R>> {
  const file = join(dir, `load-${counter++}.json`);
  writeFileSync(file, JSON.stringify(spec));
  const child = fork(script, [file], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let serverBefore = new Map<number, number>();
  let databaseBefore = new Map<number, number>();
  let countersBefore: Promise<DatabaseCounters> | undefined;
  let peakRssMiB = 0;
  const sample = () => {
    for (const pid of observed.workerPids()) peakRssMiB = Math.max(peakRssMiB, memory(pid).rssMiB);
  };
  const sampler = setInterval(sample, 200);
  try {
    const load = await new Promise<R>((resolve, reject) => {
      child.on('message', (message: { type: string; result?: R; message?: string }) => {
        if (message.type === 'started') {
          serverBefore = cpuSnapshot(observed.serverPids());
          void observed.databasePids().then((pids) => {
            databaseBefore = cpuSnapshot(pids);
          });
          countersBefore = observed.databaseCounters?.();
        } else if (message.type === 'result' && message.result) resolve(message.result);
        else if (message.type === 'error') reject(new Error(`load generator: ${message.message}`));
      });
      child.once('exit', (code) => {
        if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      });
    });
    sample();
    const serverCpuMs = cpuSince(serverBefore, observed.serverPids());
    const databaseCpuMs = cpuSince(databaseBefore, await observed.databasePids());
    const before = await countersBefore;
    const after = before && (await observed.databaseCounters?.());
    return { load, serverCpuMs, databaseCpuMs, peakRssMiB, ...(before && after ? { database: minus(after, before) } : {}) };
  } finally {
    clearInterval(sampler);
    rmSync(file, { force: true });
  }
}
