// Consents: what a customer approved for a TPP (RFC 9396 authorization_details, encrypted),
// linked to the oidc-provider Grant that carries it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('consents', (t) => {
    t.text('id').primary();
    t.text('client_id').notNullable();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // account_information | payment_initiation
    t.text('type').notNullable();
    // awaiting_authorisation | authorised | rejected | revoked | expired | consumed
    t.text('status').notNullable();
    // The approved authorization_details (chosen accounts included), sealed: they hold IBANs and names.
    t.text('details_encrypted').notNullable();
    t.text('grant_id').unique();
    t.integer('frequency_per_day');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('authorised_at', { useTz: true });
    t.timestamp('last_sca_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.index(['customer_id', 'status']);
    t.index(['client_id', 'customer_id']);
  });
  await knex.raw(
    "CREATE INDEX consents_expiry ON consents (expires_at) WHERE status IN ('awaiting_authorisation', 'authorised')",
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consents');
}
