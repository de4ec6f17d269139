// Abuse protection: IP blocks (incident response, by an operator or by anomaly detection) and the
// PostgreSQL store of rate-limit counters, in the layout rate-limiter-flexible's
// RateLimiterPostgres expects (key, points, expire in epoch milliseconds).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('ip_blocks', (t) => {
    t.text('id').primary();
    // PostgreSQL's cidr type refuses malformed ranges and host bits set past the mask.
    t.specificType('cidr', 'cidr').notNullable();
    t.text('reason').notNullable();
    // Who blocked: `admin:<key name>`, `cli:<user>` or `system:anomaly-detection`.
    t.text('created_by').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // NULL: until lifted.
    t.timestamp('expires_at', { useTz: true });
    // Kept after unblocking, so an incident's history stays readable next to the audit log.
    t.timestamp('lifted_at', { useTz: true });
    t.text('lifted_by');
    t.index(['lifted_at', 'expires_at']);
  });
  // Counters are disposable: UNLOGGED skips the write-ahead log (a crash empties the table, which
  // only resets the windows in progress).
  await knex.raw(`
    CREATE UNLOGGED TABLE rate_limits (
      key varchar(255) PRIMARY KEY,
      points integer NOT NULL DEFAULT 0,
      expire bigint
    )
  `);
  await knex.raw('CREATE INDEX rate_limits_expire_index ON rate_limits (expire)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('rate_limits');
  await knex.schema.dropTable('ip_blocks');
}
