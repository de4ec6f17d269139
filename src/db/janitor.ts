// Deletes expired oidc-provider rows in bounded batches, so no sweep holds long locks. Several
// instances may sweep at once: SKIP LOCKED makes them share the work instead of waiting.
import type { Knex } from 'knex';
import type { Logger } from 'pino';

const MAX_BATCHES_PER_SWEEP = 50;

/** Deletes oidc-provider rows expired for more than `graceSeconds` (TOKEN_RETENTION_GRACE_SECONDS). */
export async function sweepExpired(knex: Knex, batchSize: number, graceSeconds = 0): Promise<number> {
  let total = 0;
  for (let i = 0; i < MAX_BATCHES_PER_SWEEP; i++) {
    const result = await knex.raw(
      `DELETE FROM oidc_payloads WHERE (model, id) IN (
         SELECT model, id FROM oidc_payloads WHERE expires_at < now() - make_interval(secs => ?::double precision)
         LIMIT ? FOR UPDATE SKIP LOCKED)`,
      [graceSeconds, batchSize],
    );
    const deleted = result.rowCount ?? result.affectedRows ?? 0;
    total += deleted;
    if (deleted < batchSize) break;
  }
  return total;
}

/** Further lifecycle sweeps run on the same schedule (e.g. expiring consents and their grants). */
export type Sweep = () => Promise<unknown>;

export function startJanitor(
  knex: Knex,
  logger: Logger,
  intervalSeconds: number,
  batchSize: number,
  sweeps: Sweep[] = [],
  graceSeconds = 0,
): () => void {
  if (intervalSeconds === 0) return () => {};
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      for (const sweep of sweeps) await sweep();
      const deleted = await sweepExpired(knex, batchSize, graceSeconds);
      if (deleted) logger.debug({ deleted }, 'janitor removed expired rows');
    } catch (err) {
      logger.error({ err }, 'janitor sweep failed');
    } finally {
      running = false;
    }
  }, intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
