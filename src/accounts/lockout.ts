// PSD2 RTS Art. 4(3)(b): at most 5 consecutive failed authentication attempts, on any factor,
// counted per customer in the database (so every instance sees the same count), then a block
// that grows on repeat: 15 minutes, 1 hour, then until an operator unlocks the customer. A
// block is a security event (audit `customer.locked`) and the customer is alerted. Attempts while
// blocked are refused without counting, so they never extend the block.
import type { Knex } from 'knex';
import type { AuditEvent, AuditLog } from '../security/audit.ts';
import type { Notifier } from './notifications.ts';

export const MAX_FAILED_ATTEMPTS = 5;
/** Length of the first, second, ... block; one more block than listed locks until unlocked. */
export const BLOCK_SECONDS = [15 * 60, 60 * 60];

export type LockContext = Pick<AuditEvent, 'requestId' | 'personal' | 'clientId'>;

export interface Lockout {
  /** The customer may not authenticate now (temporary block, or locked until unlocked). */
  isBlocked(customerId: string): Promise<boolean>;
  /** A wrong password or second factor; the fifth in a row blocks. */
  recordFailure(customerId: string, context: LockContext): Promise<void>;
  /** A complete authentication: the count and the escalation start again. */
  recordSuccess(customerId: string): Promise<void>;
  /** Operator: lifts any block and resets the counts; false for an unknown customer. */
  unlock(customerId: string): Promise<boolean>;
}

export function createLockout(deps: { knex: Knex; audit: AuditLog; notifier: Notifier }): Lockout {
  const { knex, audit, notifier } = deps;

  const block = async (customerId: string, lockouts: number, context: LockContext) => {
    const seconds = BLOCK_SECONDS[lockouts];
    const [row] = await knex('customers')
      .where({ id: customerId, lockouts })
      .where('failed_attempts', '>=', MAX_FAILED_ATTEMPTS)
      .update({
        failed_attempts: 0,
        lockouts: lockouts + 1,
        ...(seconds === undefined
          ? { status: 'locked', locked_until: null }
          : { locked_until: knex.raw('now() + make_interval(secs => ?::double precision)', [seconds]) }),
        updated_at: knex.fn.now(),
      })
      .returning(['username', 'locked_until']);
    // Another request got here first and already blocked the customer.
    if (!row) return;
    const lockedUntil = row.locked_until ? new Date(row.locked_until).toISOString() : null;
    await audit.record({
      type: 'customer.locked',
      outcome: 'info',
      actor: { type: 'system' },
      customerId,
      ...context,
      details: { locked_until: lockedUntil, block: lockouts + 1, until_unlocked: lockedUntil === null },
    });
    void notifier.notify({
      type: 'customer.locked',
      customerId,
      username: row.username,
      lockedUntil,
      occurredAt: new Date().toISOString(),
    });
  };

  return {
    async isBlocked(customerId) {
      const row = await knex('customers')
        .select(knex.raw("status = 'locked' OR coalesce(locked_until > now(), false) AS blocked"))
        .where({ id: customerId })
        .first();
      return Boolean(row?.blocked);
    },
    async recordFailure(customerId, context) {
      const [row] = await knex('customers')
        .where({ id: customerId, status: 'active' })
        .where((q) => q.whereNull('locked_until').orWhere('locked_until', '<=', knex.fn.now()))
        .update({ failed_attempts: knex.raw('failed_attempts + 1'), last_failed_at: knex.fn.now() })
        .returning(['failed_attempts', 'lockouts']);
      if (row && row.failed_attempts >= MAX_FAILED_ATTEMPTS) await block(customerId, row.lockouts, context);
    },
    async recordSuccess(customerId) {
      await knex('customers')
        .where({ id: customerId })
        .where((q) => q.where('failed_attempts', '>', 0).orWhere('lockouts', '>', 0))
        .update({ failed_attempts: 0, lockouts: 0 });
    },
    async unlock(customerId) {
      const changed = await knex('customers')
        .where({ id: customerId })
        .update({
          failed_attempts: 0,
          lockouts: 0,
          locked_until: null,
          status: knex.raw("CASE WHEN status = 'locked' THEN 'active' ELSE status END"),
          updated_at: knex.fn.now(),
        });
      return changed === 1;
    },
  };
}
