// TPP clients (RFC 7591 metadata as JSONB) and the resource servers that may introspect.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clients', (t) => {
    t.text('client_id').primary();
    t.jsonb('metadata').notNullable();
    // active | suspended: a suspended client is invisible to the provider (invalid_client).
    t.text('status').notNullable().defaultTo('active');
    // tpp | resource_server
    t.text('kind').notNullable().defaultTo('tpp');
    t.text('trust_tier').notNullable().defaultTo('standard');
    // dynamic registration: set when created through RFC 7591
    t.boolean('dynamically_registered').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('resource_servers', (t) => {
    t.text('id').primary();
    t.text('resource').notNullable().unique();
    t.text('name').notNullable();
    t.specificType('scopes', 'text[]').notNullable();
    t.text('access_token_format').notNullable().defaultTo('opaque');
    t.integer('access_token_ttl');
    // The client record a resource server authenticates with at introspection/revocation.
    t.text('client_id').notNullable().unique().references('client_id').inTable('clients').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('resource_servers');
  await knex.schema.dropTable('clients');
}
