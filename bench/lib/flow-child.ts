// The full-flow load generator, in its own process: `concurrency` customers run complete FAPI
// code flows back to back (flow.ts) for `duration` seconds, each flow on pre-generated material.
import { readFileSync } from 'node:fs';
import { type FlowClient, type FlowMaterial, runFlow } from './flow.ts';
import type { Target } from './http.ts';

export interface FlowSpec {
  target: Target;
  client: FlowClient;
  materials: FlowMaterial[];
  concurrency: number;
  duration: number;
}

export interface FlowLoadResult {
  flows: number;
  failed: number;
  durationS: number;
  flowsPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Mean milliseconds per step, over the successful flows. */
  stepMeanMs: Record<string, number>;
  exhausted: boolean;
  samples: string[];
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as FlowSpec;
let next = 0;
let failed = 0;
let exhausted = false;
const latencies: number[] = [];
const stepTotals: Record<string, number> = {};
const samples: string[] = [];

process.send?.({ type: 'started' });
const started = performance.now();
const deadline = started + spec.duration * 1000;

async function loop(): Promise<void> {
  while (performance.now() < deadline) {
    const material = spec.materials[next++];
    if (!material) {
      exhausted = true;
      return;
    }
    const t0 = performance.now();
    try {
      const { steps } = await runFlow(spec.target, spec.client, material);
      latencies.push(performance.now() - t0);
      for (const [step, ms] of Object.entries(steps)) stepTotals[step] = (stepTotals[step] ?? 0) + ms;
    } catch (err) {
      failed++;
      if (samples.length < 3) samples.push(String(err));
    }
  }
}

await Promise.all(Array.from({ length: spec.concurrency }, loop));
const durationS = (performance.now() - started) / 1000;
const sorted = [...latencies].sort((a, b) => a - b);
const result: FlowLoadResult = {
  flows: latencies.length,
  failed,
  durationS,
  flowsPerSecond: latencies.length / durationS,
  latencyMs: {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? 0,
    mean: sorted.reduce((a, b) => a + b, 0) / (sorted.length || 1),
  },
  stepMeanMs: Object.fromEntries(Object.entries(stepTotals).map(([step, ms]) => [step, ms / (latencies.length || 1)])),
  exhausted,
  samples,
};
process.send?.({ type: 'result', result }, () => process.exit(0));
