// WebAuthn challenges waiting for their answer: one per attempt (a TPP's interaction, a dashboard
// sign-in, an enrolment), single use (taken by the first answer, right or wrong) and short-lived.
// For a payment the challenge is derived from the payment's canonical details and the nonce kept
// here (PSD2 RTS Art. 5), so the answer is recomputed from what the server shows, not trusted.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('webauthn_challenges', (t) => {
    // `interaction:<uid>`, `portal:<sha256>` (dashboard sign-in) or `enrol:<session id>`.
    t.text('attempt').primary();
    t.text('customer_id').notNullable().references('id').inTable('customers').onDelete('CASCADE');
    // registration | authentication
    t.text('ceremony').notNullable();
    // 128 random bits, base64url: the server nonce the challenge is derived from.
    t.text('nonce').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.index(['expires_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('webauthn_challenges');
}
