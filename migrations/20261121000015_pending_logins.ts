// A login between its first and second factor: the customer whose password was accepted, for a
// few minutes, and nothing else. No session exists until the second factor passes.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('pending_logins', (t) => {
    // `interaction:<uid>` for a TPP's authorization request; hex SHA-256 of a cookie value for the dashboard.
    t.text('id').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // RFC 8176 methods already passed, e.g. ["pwd"].
    t.jsonb('amr').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('pending_logins');
}
