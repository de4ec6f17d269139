// The full FAPI 2.0 code flow over HTTP (PAR -> authorize -> login -> second factor -> consent
// -> accounts -> code -> token with DPoP), measured as flows per second and server CPU per flow.
// Password hashing is reported apart: its CPU is measured on its own (argon2id at the server's
// settings) and subtracted, since it is a fixed, deliberate cost set by OWASP, not by the
// server's code. Stock oidc-provider runs the same flow through its development interactions
// (a login form taking any name, a consent button): the protocol engine's own cost of a flow.
import { createPasswordHasher } from '../../src/accounts/passwords.ts';
import { type Customer, type FlowClient, flowMaterials } from '../lib/flow.ts';
import type { FlowLoadResult, FlowSpec } from '../lib/flow-child.ts';
import type { Target } from '../lib/http.ts';
import { type Observed, runChild } from '../lib/load.ts';
import type { Portcullis } from '../lib/portcullis.ts';
import { log, type ScenarioResult, type ServerName } from '../lib/scenario.ts';
import { settings } from '../lib/settings.ts';
import type { SigningKey } from '../lib/sign.ts';

export interface FlowSide {
  server: ServerName;
  target: Target;
  observed: Observed;
  client: FlowClient;
  tppKey: SigningKey;
  dpopKey: SigningKey;
  customers: Customer[];
  /** CPU ms of one password hash at the server's settings (0: the server hashes nothing). */
  hashMs: number;
}

const FLOW_CHILD = new URL('../lib/flow-child.ts', import.meta.url).pathname;

/** CPU milliseconds of one argon2id verification at the server's parameters. */
export async function hashCpuMs(server: Portcullis, rounds = 8): Promise<number> {
  const hasher = createPasswordHasher(server.config);
  const hash = await hasher.hash('bench-password');
  await hasher.verify(hash, 'bench-password');
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await hasher.verify(hash, 'bench-password');
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / rounds;
}

export async function fullFlow(side: FlowSide): Promise<ScenarioResult> {
  const { hashMs } = side;
  const concurrency = settings.flowConcurrency;
  const spec = async (count: number, duration: number): Promise<FlowSpec> => ({
    target: { url: side.target.url, issuer: side.target.issuer },
    client: side.client,
    materials: await flowMaterials(side.target.issuer, side.client, side.tppKey, side.dpopKey, side.customers, count),
    concurrency,
    duration,
  });
  let rate = 30;
  if (settings.warmup > 0) {
    log(`full_flow [${side.server}]: warm-up ${settings.warmup}s`);
    const warm = await runChild<FlowLoadResult>(
      FLOW_CHILD,
      await spec(rate * settings.warmup * 2, settings.warmup),
      side.observed,
    );
    if (warm.load.failed) log(`full_flow: warm-up had ${warm.load.failed} failed flows, e.g. ${warm.load.samples[0]}`);
    rate = Math.max(rate / 2, warm.load.flowsPerSecond);
  }
  const count = Math.ceil(rate * 1.6 * settings.duration) + concurrency;
  log(`full_flow [${side.server}]: measuring ${settings.duration}s (${count} prepared flows, ${concurrency} at a time)`);
  const measured = await runChild<FlowLoadResult>(FLOW_CHILD, await spec(count, settings.duration), side.observed);
  const { load } = measured;
  const flows = Math.max(1, load.flows);
  const cpuPerFlow = measured.serverCpuMs / flows;
  const result: ScenarioResult = {
    scenario: 'full_flow',
    server: side.server,
    phase: 'empty',
    unit: 'flow',
    rate: load.flowsPerSecond,
    latencyMs: load.latencyMs,
    serverCpuMsPerOp: cpuPerFlow,
    databaseCpuMsPerOp: measured.databaseCpuMs / flows,
    peakRssMiB: measured.peakRssMiB,
    good: load.flows,
    bad: load.failed,
    durationS: load.durationS,
    exhausted: load.exhausted,
    samples: load.samples,
    extra: {
      hashCpuMsPerLogin: hashMs,
      serverCpuMsPerFlowExcludingHashing: cpuPerFlow - hashMs,
      stepMeanMs: load.stepMeanMs,
      concurrency,
    },
  };
  log(
    `full_flow [${side.server}]: ${result.rate.toFixed(1)} flows/s, p50 ${load.latencyMs.p50.toFixed(0)} ms, ` +
      `${cpuPerFlow.toFixed(1)} CPU ms/flow (${(cpuPerFlow - hashMs).toFixed(1)} without the ${hashMs.toFixed(1)} ms hash)` +
      `${load.failed ? `, ${load.failed} failed: ${load.samples[0]}` : ''}`,
  );
  return result;
}
