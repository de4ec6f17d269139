// Security counters derived from the audit log as events are recorded: every event by type and
// outcome, and the ones dashboards and alerts watch by name (login and SCA failures, lockouts,
// refresh-token reuse). Rate-limit refusals and anomalies are counted where they happen.
import type { AuditEvent, AuditLog } from '../security/audit.ts';
import { metrics } from './metrics.ts';

// A failed login is recorded as `customer.login` / failure; `details.step: 'second_factor'` marks
// the SCA step (the password step carries no step).
const isLoginFailure = (e: AuditEvent) => e.type === 'customer.login' && e.outcome === 'failure';
const isSecondFactor = (e: AuditEvent) => e.details?.step === 'second_factor';
const isLockout = (e: AuditEvent) => e.type === 'customer.locked';

function count(event: AuditEvent): void {
  metrics.auditEvents.inc({ type: event.type, outcome: event.outcome });
  if (isLoginFailure(event)) (isSecondFactor(event) ? metrics.scaFailures : metrics.loginFailures).inc();
  if (isLockout(event)) metrics.lockouts.inc();
  if (event.type === 'refresh_token.reuse_detected') metrics.refreshReuse.inc();
}

/** Counts every event the log records from now on; returns the function that stops counting. */
export function countAuditEvents(audit: AuditLog): () => void {
  return audit.onRecord(count);
}
