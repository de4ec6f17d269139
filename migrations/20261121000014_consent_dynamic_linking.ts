// PSD2 RTS Art. 5 dynamic linking: the authentication code of a payment consent, an HMAC over the
// payment's amount, currency and payee and the factors used, with the nonce and factors needed
// to recompute it. A change to the payment after SCA no longer matches the code.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('consents', (t) => {
    t.text('sca_auth_code');
    t.text('sca_nonce');
    // RFC 8176 methods of the authentication the code was made for, e.g. ["otp","pwd"].
    t.jsonb('sca_amr');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('consents', (t) => {
    t.dropColumns('sca_auth_code', 'sca_nonce', 'sca_amr');
  });
}
