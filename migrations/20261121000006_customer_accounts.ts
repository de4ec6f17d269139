// The bank accounts a customer holds (the default AccountDirectory). IBAN and display name are
// personal data: stored encrypted (AES-256-GCM); the IBAN's SHA-256 allows exact lookups.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('customer_accounts', (t) => {
    t.text('id').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    t.text('iban_encrypted').notNullable();
    t.text('iban_hash').notNullable();
    t.text('name_encrypted').notNullable();
    t.text('currency').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['customer_id', 'iban_hash']);
    t.index(['customer_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('customer_accounts');
}
