// The bench's report: a table on stdout and a JSON file of every figure, with the machine, the
// ratios to stock oidc-provider and to the empty database, and each target met or not.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { type ScenarioResult, scaleLabel } from './scenario.ts';
import { settings } from './settings.ts';

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  postgres: string;
  oidcProvider: string;
  autocannon: string;
  commit: string;
}

const version = (pkg: string) =>
  (JSON.parse(readFileSync(new URL(`../../node_modules/${pkg}/package.json`, import.meta.url), 'utf8')) as { version: string })
    .version;

export function machine(postgres: string): Machine {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {}
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    postgres,
    oidcProvider: version('oidc-provider'),
    autocannon: version('autocannon'),
    commit,
  };
}

export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean | undefined;
}

const find = (results: ScenarioResult[], scenario: string, server = 'portcullis', phase = 'empty') =>
  results.find((r) => r.scenario === scenario && r.server === server && r.phase === phase);

// Stock oidc-provider has no consents: a consent's token is compared with its plain introspection.
const STOCK_EQUIVALENT: Record<string, string> = { introspection_consent: 'introspection_secret' };

export function ratioToStock(results: ScenarioResult[], r: ScenarioResult): number | undefined {
  const stock = find(results, STOCK_EQUIVALENT[r.scenario] ?? r.scenario, 'stock');
  return stock && stock.rate > 0 && r.server === 'portcullis' ? r.rate / stock.rate : undefined;
}

export function ratioToEmpty(results: ScenarioResult[], r: ScenarioResult): number | undefined {
  if (r.phase !== 'scale') return undefined;
  const empty = find(results, r.scenario, r.server, 'empty');
  return empty && empty.rate > 0 ? r.rate / empty.rate : undefined;
}

const fixed = (n: number | undefined, digits = 0) => (n === undefined ? 'n/a' : n.toFixed(digits));

export function targets(results: ScenarioResult[]): Target[] {
  const out: Target[] = [];
  const cc = find(results, 'client_credentials');
  if (cc) {
    const ratio = ratioToStock(results, cc);
    out.push({
      what: 'client_credentials (private_key_jwt + DPoP, JWT AT)',
      goal: '>= 2,500 tokens/s, p99 < 50 ms, >= 0.8 x stock',
      measured: `${fixed(cc.rate)} /s, p99 ${cc.latencyMs.p99} ms, ${fixed(ratio, 2)} x stock`,
      met: cc.rate >= 2500 && cc.latencyMs.p99 < 50 && (ratio === undefined || ratio >= 0.8),
    });
  }
  for (const scenario of ['introspection_secret', 'introspection_private_key_jwt', 'introspection_consent']) {
    const r = find(results, scenario);
    if (!r) continue;
    out.push({
      what: scenario.replace(/_/g, ' '),
      goal: '>= 5,500 req/s, p99 < 20 ms',
      measured: `${fixed(r.rate)} /s, p99 ${r.latencyMs.p99} ms`,
      met: r.rate >= 5500 && r.latencyMs.p99 < 20,
    });
  }
  const refresh = find(results, 'refresh_token');
  if (refresh) {
    out.push({
      what: 'refresh_token with rotation + DPoP',
      goal: '>= 1,000 /s',
      measured: `${fixed(refresh.rate)} /s`,
      met: refresh.rate >= 1000,
    });
  }
  const login = find(results, 'password_login');
  if (login) {
    const probe = login.extra?.signingProbe as { aloneP99Ms: number; underLoginLoadP99Ms?: number } | undefined;
    // "Unaffected": the probe's p99 under login load stays within 10 ms of its p99 alone.
    const unaffected = probe?.underLoginLoadP99Ms !== undefined && probe.underLoginLoadP99Ms <= probe.aloneP99Ms + 10;
    out.push({
      what: 'password login, argon2id m=19 MiB t=2 p=1',
      goal: '>= 35 /s with signing p99 unaffected',
      measured: `${fixed(login.rate, 1)} /s; signing probe p99 ${probe?.aloneP99Ms ?? '?'} ms alone, ${probe?.underLoginLoadP99Ms ?? '?'} ms under login load`,
      met: login.rate >= 35 && unaffected,
    });
  }
  const flow = find(results, 'full_flow');
  if (flow) {
    const excluding = flow.extra?.serverCpuMsPerFlowExcludingHashing as number | undefined;
    out.push({
      what: 'full FAPI code flow, excluding password hashing',
      goal: '<= 10 ms server CPU per flow',
      measured: `${fixed(excluding, 1)} ms (${fixed(flow.serverCpuMsPerOp, 1)} ms with the hash; PostgreSQL ${fixed(flow.databaseCpuMsPerOp, 1)} ms more)`,
      met: excluding !== undefined && excluding <= 10,
    });
  }
  const portcullis = results.filter((r) => r.server === 'portcullis');
  if (portcullis.length) {
    const peak = Math.max(...portcullis.map((r) => r.peakRssMiB));
    out.push({
      what: 'memory',
      goal: 'RSS < 300 MB per worker under load',
      measured: `peak ${fixed(peak)} MiB`,
      met: peak < 300,
    });
  }
  for (const r of results.filter((x) => x.phase === 'scale')) {
    const ratio = ratioToEmpty(results, r);
    out.push({
      what: `scale run (${scaleLabel()} of tokens): ${r.scenario}`,
      goal: 'within 10% of the empty database',
      measured: `${fixed(r.rate)} /s = ${fixed(ratio === undefined ? undefined : ratio * 100)}% of empty`,
      met: ratio !== undefined && ratio >= 0.9,
    });
  }
  return out;
}

export function table(results: ScenarioResult[]): string {
  const header = ['scenario', 'server', 'db', 'ops/s', 'p50 ms', 'p99 ms', 'CPU ms/op', 'PG ms/op', 'RSS MiB', 'x stock', 'bad'];
  const rows = results.map((r) => [
    r.scenario,
    r.server,
    r.server === 'stock' ? 'memory' : r.phase === 'scale' ? scaleLabel() : 'empty',
    fixed(r.rate, r.rate < 100 ? 1 : 0),
    fixed(r.latencyMs.p50, 1),
    fixed(r.latencyMs.p99, 1),
    fixed(r.serverCpuMsPerOp, 2),
    r.server === 'stock' ? '-' : fixed(r.databaseCpuMsPerOp, 2),
    fixed(r.peakRssMiB),
    fixed(ratioToStock(results, r), 2),
    String(r.bad),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] as string).length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] as number)).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function writeResults(document: Record<string, unknown>): string {
  const date = new Date().toISOString().replace(/:/g, '-').slice(0, 19);
  const path = settings.output ?? new URL(`../results/${date}.json`, import.meta.url).pathname;
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(document, null, 2)}\n`);
  return path;
}
