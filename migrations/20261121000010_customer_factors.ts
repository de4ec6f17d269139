// Second factors of bank customers (PSD2 RTS Art. 4: the possession element of SCA) and their
// one-time recovery codes. A TOTP seed is sealed (AES-256-GCM, AAD bound to the factor id);
// recovery codes are high-entropy and only compared, so only their SHA-256 is kept.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('customer_factors', (t) => {
    t.text('id').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // totp | webauthn
    t.text('kind').notNullable();
    t.text('label').notNullable();
    // The kind's secret material, sealed (the TOTP seed); null for kinds that keep only public keys.
    t.text('secret_encrypted');
    // TOTP replay protection: the last accepted time step; a code of that step or earlier is refused.
    t.bigInteger('last_used_step');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Null while enrolment waits for its first valid code: such a factor authenticates nothing.
    t.timestamp('confirmed_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['customer_id']);
  });
  await knex.schema.createTable('customer_recovery_codes', (t) => {
    t.text('id').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // hex SHA-256 of the normalised code
    t.text('code_hash').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('used_at', { useTz: true });
    t.unique(['customer_id', 'code_hash']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('customer_recovery_codes');
  await knex.schema.dropTable('customer_factors');
}
