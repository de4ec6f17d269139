// What a TPP's eIDAS certificate (QWAC) says about it, as last presented at PAR or supplied at
// registration: legal name, organisation identifier, NCA and PSD2 roles (PSD2 RTS Art. 34). The
// consent page shows them; the roles themselves are checked on the certificate of each request.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('client_certificates', (t) => {
    t.text('client_id').primary().references('client_id').inTable('clients').onDelete('CASCADE');
    t.text('legal_name');
    t.text('organization_id');
    t.text('nca_name');
    t.text('nca_id');
    t.specificType('roles', 'text[]').notNullable().defaultTo('{}');
    // SHA-256 of the certificate (base64url, as x5t#S256): a new certificate replaces the row.
    t.text('thumbprint').notNullable();
    t.timestamp('not_after', { useTz: true }).notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('client_certificates');
}
