// A second factor enrolled in a dashboard session whose second step was a recovery code is held:
// until `held_until` it signs in to the dashboard but is not the possession element of SCA for a
// TPP (PSD2 RTS Art. 4, 7: a recovery code never counts as possession for a payment, not even one
// step removed through a factor it enrolled). TOTP devices and WebAuthn credentials are both rows
// of `customer_factors` (the credential is its detail), so one column holds both. Null: never held.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customer_factors', (t) => {
    t.timestamp('held_until', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customer_factors', (t) => {
    t.dropColumn('held_until');
  });
}
