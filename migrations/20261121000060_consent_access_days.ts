// PSD2 RTS Art. 36(5): unattended accesses (the customer not present) per consent and calendar day
// (UTC), counted atomically at introspection so a consent's frequencyPerDay is never exceeded.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('consent_access_days', (t) => {
    t.text('consent_id').notNullable().references('id').inTable('consents').onDelete('CASCADE');
    t.date('day').notNullable();
    t.integer('unattended').notNullable().defaultTo(0);
    t.primary(['consent_id', 'day']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('consent_access_days');
}
