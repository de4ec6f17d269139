// PSD2 RTS Art. 4(3)(b): consecutive failed authentication attempts per customer, and the block
// they lead to. `lockouts` counts blocks since the last success, so each block lasts longer;
// past the last step the customer's status becomes `locked` until an operator unlocks it.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customers', (t) => {
    t.integer('failed_attempts').notNullable().defaultTo(0);
    t.integer('lockouts').notNullable().defaultTo(0);
    t.timestamp('locked_until', { useTz: true });
    t.timestamp('last_failed_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customers', (t) => {
    t.dropColumns('failed_attempts', 'lockouts', 'locked_until', 'last_failed_at');
  });
}
