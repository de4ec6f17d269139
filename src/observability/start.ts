// What a running server observes beyond its requests: Node's own metrics, the database pool, and
// the audit events it records. The CLI observes nothing (it has no /metrics to show it on).
import type { Services } from '../services.ts';
import { countAuditEvents } from './audit-metrics.ts';
import { metrics, startDefaultMetrics } from './metrics.ts';

/** Starts observing; returns the function that stops it (at shutdown). */
export function startObservability(services: Services): () => void {
  startDefaultMetrics();
  const stops = [metrics.observePool(services.db.knex), countAuditEvents(services.audit)];
  return () => {
    for (const stop of stops) stop();
  };
}
