// Retention of what the bank keeps after it stops being used (docs/operations.md, data
// lifecycle): audit rows past AUDIT_RETENTION_DAYS and ended consents past CONSENT_RETENTION_DAYS.
// Both default to 0, which keeps them forever: nothing is deleted unless an operator says so.
// Expired tokens, codes and sessions are the janitor's own sweep (TOKEN_RETENTION_GRACE_SECONDS).
import type { Knex } from 'knex';
import type { Config } from '../config.ts';
import { LIVE_STATUSES } from '../consents/consent-store.ts';
import type { AuditLog } from '../security/audit.ts';
import type { Sweep } from './janitor.ts';

const DAY_MS = 86_400_000;
const MAX_BATCHES = 20;

type RetentionSettings = Pick<Config, 'AUDIT_RETENTION_DAYS' | 'CONSENT_RETENTION_DAYS' | 'JANITOR_BATCH_SIZE'>;

/** Deletes up to `limit` consents that ended (no longer live) before `before`; returns how many. */
export async function deleteEndedConsents(knex: Knex, before: Date, limit: number): Promise<number> {
  const ids = knex('consents').select('id').whereNotIn('status', LIVE_STATUSES).where('updated_at', '<', before).limit(limit);
  const deleted: unknown = await knex('consents').whereIn('id', ids).delete();
  // knex-pglite answers a DELETE with the raw result, not a count.
  return typeof deleted === 'number' ? deleted : Number((deleted as { rowCount?: number } | undefined)?.rowCount ?? 0);
}

/** Audit rows older than the retention period, in batches; each batch leaves its anchor. */
export async function pruneAudit(audit: AuditLog, days: number, batchSize: number, now = Date.now()): Promise<number> {
  if (days === 0) return 0;
  const before = new Date(now - days * DAY_MS);
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const deleted = await audit.prune(before, batchSize);
    total += deleted;
    if (deleted < batchSize) break;
  }
  return total;
}

export async function pruneConsents(knex: Knex, days: number, batchSize: number, now = Date.now()): Promise<number> {
  if (days === 0) return 0;
  const before = new Date(now - days * DAY_MS);
  let total = 0;
  for (let i = 0; i < MAX_BATCHES; i++) {
    const deleted = await deleteEndedConsents(knex, before, batchSize);
    total += deleted;
    if (deleted < batchSize) break;
  }
  return total;
}

/** The janitor sweeps for the retention settings (none does anything while its setting is 0). */
export function retentionSweeps(knex: Knex, audit: AuditLog, config: RetentionSettings): Sweep[] {
  return [
    () => pruneAudit(audit, config.AUDIT_RETENTION_DAYS, config.JANITOR_BATCH_SIZE),
    () => pruneConsents(knex, config.CONSENT_RETENTION_DAYS, config.JANITOR_BATCH_SIZE),
  ];
}
