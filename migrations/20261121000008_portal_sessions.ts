// Sessions of the customer dashboard (/account), the bank's own site: separate from
// oidc-provider's session. Only the SHA-256 of the cookie value is stored, so a copy of the
// table cannot be replayed as a cookie.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('portal_sessions', (t) => {
    // hex SHA-256 of the 256-bit random cookie value
    t.text('id').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('revoked_at', { useTz: true });
    t.index(['customer_id']);
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('portal_sessions');
}
