// Every model oidc-provider persists except Client, as the JSONB payload it hands us.
// Lookups: (model, id) primary key; grant_id for revokeByGrantId; uid for sessions; user_code
// for device codes; expires_at for the janitor.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('oidc_payloads', (t) => {
    t.text('model').notNullable();
    t.text('id').notNullable();
    t.jsonb('payload').notNullable();
    t.text('grant_id');
    t.text('uid');
    t.text('user_code');
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('consumed_at', { useTz: true });
    t.primary(['model', 'id']);
  });
  await knex.raw('CREATE INDEX oidc_payloads_grant_id ON oidc_payloads (grant_id) WHERE grant_id IS NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX oidc_payloads_uid ON oidc_payloads (model, uid) WHERE uid IS NOT NULL');
  await knex.raw('CREATE UNIQUE INDEX oidc_payloads_user_code ON oidc_payloads (model, user_code) WHERE user_code IS NOT NULL');
  await knex.raw('CREATE INDEX oidc_payloads_expires_at ON oidc_payloads (expires_at) WHERE expires_at IS NOT NULL');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('oidc_payloads');
}
