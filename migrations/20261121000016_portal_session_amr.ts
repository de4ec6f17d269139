// How a dashboard session was authenticated (RFC 8176 methods): removing a second factor needs a
// session that is fresh and was opened with one.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portal_sessions', (t) => {
    t.jsonb('amr').notNullable().defaultTo(knex.raw(`'["pwd"]'::jsonb`));
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('portal_sessions', (t) => {
    t.dropColumn('amr');
  });
}
