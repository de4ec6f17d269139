// Prometheus metrics (prom-client), one registry per process. Everything that counts something
// increments the `metrics` object below; GET /metrics (see metrics-route.ts) renders the registry.
//
// Labels are bounded: routes are templates or oidc-provider route names (never raw paths with
// ids), clients are registered client ids, event types are the code's own audit event names.
import type { Knex } from 'knex';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export const registry = new Registry();

// Request latency from 5 ms to 10 s: token and PAR sit around 10-50 ms, argon2 logins near 100 ms.
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Knex pools being observed (normally one; tests run several servers in one process). */
const pools = new Set<Knex>();

interface TarnPool {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
  max: number;
}
const poolOf = (knex: Knex) => (knex.client as { pool?: TarnPool }).pool;
const sumPools = (read: (pool: TarnPool) => number) => {
  let total = 0;
  for (const knex of pools) {
    const pool = poolOf(knex);
    if (pool) total += read(pool);
  }
  return total;
};

export const metrics = {
  registry,

  httpRequests: new Counter({
    name: 'portcullis_http_requests_total',
    help: 'HTTP requests answered, by method, route (template or oidc-provider route name) and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  }),
  httpDuration: new Histogram({
    name: 'portcullis_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  }),

  /** Tokens issued at the token endpoint (oidc-provider `grant.success`). */
  tokensIssued: new Counter({
    name: 'portcullis_tokens_issued_total',
    help: 'Successful token endpoint responses, by grant type and client.',
    labelNames: ['grant_type', 'client_id'] as const,
    registers: [registry],
  }),

  /** Every audit event recorded by this process, by type and outcome. */
  auditEvents: new Counter({
    name: 'portcullis_audit_events_total',
    help: 'Audit events recorded, by event type and outcome.',
    labelNames: ['type', 'outcome'] as const,
    registers: [registry],
  }),
  loginFailures: new Counter({
    name: 'portcullis_login_failures_total',
    help: 'Failed customer logins at the password step (wrong username or password, or a locked customer).',
    registers: [registry],
  }),
  scaFailures: new Counter({
    name: 'portcullis_sca_failures_total',
    help: 'Failed second-factor steps of strong customer authentication.',
    registers: [registry],
  }),
  lockouts: new Counter({
    name: 'portcullis_lockouts_total',
    help: 'Customers blocked after too many failed attempts.',
    registers: [registry],
  }),
  refreshReuse: new Counter({
    name: 'portcullis_refresh_token_reuse_total',
    help: 'Refresh tokens presented again after their retry window (the grant was revoked).',
    registers: [registry],
  }),

  /**
   * Requests refused by a rate limit. The rate limiter calls
   * `metrics.rateLimitRejections.inc({ family: 'token', dimension: 'client' })`.
   */
  rateLimitRejections: new Counter({
    name: 'portcullis_rate_limit_rejections_total',
    help: 'Requests refused with 429 by a rate limit, by endpoint family and limited dimension (ip, client, customer, ...).',
    labelNames: ['family', 'dimension'] as const,
    registers: [registry],
  }),
  /** Anomaly rules that fired: `metrics.anomalies.inc({ rule: 'credential_stuffing' })`. */
  anomalies: new Counter({
    name: 'portcullis_anomalies_total',
    help: 'Anomaly detection rules that fired, by rule.',
    labelNames: ['rule'] as const,
    registers: [registry],
  }),

  /** Starts sampling a knex pool into the database pool gauges; returns the function that stops it. */
  observePool(knex: Knex): () => void {
    pools.add(knex);
    return () => pools.delete(knex);
  },
};

new Gauge({
  name: 'portcullis_db_pool_connections_in_use',
  help: 'Database connections checked out of the pool.',
  registers: [registry],
  collect() {
    this.set(sumPools((p) => p.numUsed()));
  },
});
new Gauge({
  name: 'portcullis_db_pool_connections_idle',
  help: 'Open database connections waiting in the pool.',
  registers: [registry],
  collect() {
    this.set(sumPools((p) => p.numFree()));
  },
});
new Gauge({
  name: 'portcullis_db_pool_pending_acquires',
  help: 'Queries waiting for a database connection.',
  registers: [registry],
  collect() {
    this.set(sumPools((p) => p.numPendingAcquires()));
  },
});
new Gauge({
  name: 'portcullis_db_pool_connections_max',
  help: 'Largest number of database connections the pool may open.',
  registers: [registry],
  collect() {
    this.set(sumPools((p) => p.max));
  },
});

let defaultsStarted = false;
/** Node's own metrics (event-loop lag, heap, GC, CPU, handles) under their standard names; once per process. */
export function startDefaultMetrics(): void {
  if (defaultsStarted) return;
  defaultsStarted = true;
  collectDefaultMetrics({ register: registry });
}
