// Signing keys (private part encrypted with AES-256-GCM) and shared server secrets
// (cookie keys, DPoP nonce secret) so every instance signs and verifies alike.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('signing_keys', (t) => {
    t.text('kid').primary();
    t.text('alg').notNullable();
    t.jsonb('public_jwk').notNullable();
    t.text('private_jwk_encrypted').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Published from creation; signs from activates_at until a newer key of its alg activates.
    t.timestamp('activates_at', { useTz: true }).notNullable();
    // Set when a successor is created: after this instant the key is no longer published.
    t.timestamp('retires_at', { useTz: true });
  });
  await knex.raw('CREATE INDEX signing_keys_alg ON signing_keys (alg, activates_at DESC)');
  await knex.schema.createTable('server_secrets', (t) => {
    t.text('name').primary();
    t.text('value_encrypted').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('server_secrets');
  await knex.schema.dropTable('signing_keys');
}
