// The load generator, in its own process: autocannon over a file of pre-built requests. Each
// request is sent once (unique assertions and DPoP proofs) unless the file says they may repeat.
// Tells the parent over IPC when the load starts (so it reads the server's CPU counters then)
// and sends the result at the end.
import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import type { LoadResult, LoadSpec } from './load.ts';

const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as LoadSpec;
const total = spec.requests.length;
let next = 0;
let exhausted = false;
let good = 0;
const samples: string[] = [];
const isGood = (status: number, body: string) =>
  (spec.expectStatus ? status === spec.expectStatus : status >= 200 && status < 300) &&
  (!spec.expect || body.includes(spec.expect));

const unique = !spec.repeat;
// With unique requests, stop after the pool (rounded so every connection gets the same share).
const amount = unique ? Math.max(spec.connections, Math.floor(total / spec.connections) * spec.connections) : undefined;

const instance = autocannon(
  {
    url: spec.url,
    connections: spec.connections,
    ...(amount ? { amount } : { duration: spec.duration }),
    ...(spec.overallRate ? { overallRate: spec.overallRate } : {}),
    timeout: 30,
    requests: [
      {
        setupRequest: (request) => {
          const item = unique ? spec.requests[next++] : spec.requests[next++ % total];
          if (!item) {
            exhausted = true;
            return { ...request, ...(spec.requests[total - 1] as object) } as typeof request;
          }
          return { ...request, method: item.method, path: item.path, headers: item.headers, body: item.body } as typeof request;
        },
        onResponse: (status, body) => {
          if (isGood(status, body)) good++;
          else if (samples.length < 3) samples.push(`${status} ${body.slice(0, 300)}`);
        },
      },
    ],
  },
  (err, result) => {
    if (err) {
      process.send?.({ type: 'error', message: String(err) });
      return;
    }
    const statusCodes = Object.fromEntries(
      Object.entries((result as unknown as { statusCodeStats?: Record<string, { count: number }> }).statusCodeStats ?? {}).map(
        ([code, stats]) => [code, stats.count],
      ),
    );
    const out: LoadResult = {
      requests: result.requests.total,
      durationS: result.duration,
      rps: good / result.duration,
      latencyMs: {
        p50: result.latency.p50,
        p90: result.latency.p90,
        p99: result.latency.p99,
        max: result.latency.max,
        mean: result.latency.average,
      },
      good,
      bad: result.requests.total - good + result.errors + result.timeouts,
      statusCodes,
      exhausted,
      samples,
    };
    process.send?.({ type: 'result', result: out }, () => process.exit(0));
  },
);

process.send?.({ type: 'started' });
// With a request pool (amount), the measured time is still the configured duration at most.
if (amount) setTimeout(() => instance.stop(), spec.duration * 1000).unref();
