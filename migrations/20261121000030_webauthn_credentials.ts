// WebAuthn credentials (security keys and passkeys), each the detail of one `customer_factors`
// row of kind `webauthn`: the customer's name for it, its dates and its removal stay with the
// factor (removing the factor removes the credential). Only public material is kept: the COSE
// public key, never a secret, so nothing here is sealed.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webauthn_credentials', (t) => {
    t.text('factor_id').primary().references('id').inTable('customer_factors').onDelete('CASCADE');
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // The authenticator's credential id, base64url: unique across every customer (WebAuthn L3 7.1 step 25).
    t.text('credential_id').notNullable().unique();
    // The credential public key as the authenticator gave it (COSE_Key), base64url.
    t.text('public_key').notNullable();
    // The signature counter of the last accepted assertion; a later one must be higher (L3 6.1.1).
    t.bigInteger('sign_count').notNullable().defaultTo(0);
    // Hints for the browser (usb, nfc, ble, internal, hybrid), as the authenticator reported them.
    t.jsonb('transports').notNullable().defaultTo(knex.raw(`'[]'::jsonb`));
    t.text('aaguid');
    // Backup eligible (a synced passkey): the key may leave the device (RFC 8176 swk, not hwk).
    t.boolean('backup_eligible').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['customer_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webauthn_credentials');
}
