// The WebAuthn user handle of a customer (user.id at registration): random, made at the first
// registration and kept, so an authenticator holds at most one passkey per customer for this
// bank. Random rather than the customer id, which TPPs see as `sub` (WebAuthn L3 14.6.1).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customers', (t) => {
    t.text('webauthn_user_handle').unique();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customers', (t) => {
    t.dropColumn('webauthn_user_handle');
  });
}
