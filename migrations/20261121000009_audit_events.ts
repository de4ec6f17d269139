// The append-only, hash-chained audit log. Each row stores the hash of its predecessor and the
// hash of its own canonical content; `portcullis audit verify` recomputes the chain.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_events', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.text('event_type').notNullable();
    // success | failure | info
    t.text('outcome').notNullable();
    // customer | client | admin | resource_server | system | anonymous
    t.text('actor_type').notNullable();
    t.text('actor_id');
    t.text('client_id');
    t.text('customer_id');
    t.text('request_id');
    // Personal data (IP, user agent, a typed username) with a random salt, kept apart from the
    // chain: the chain covers only its salted digest, so erasing it for a GDPR request (set to
    // NULL) leaves every hash verifiable.
    t.jsonb('personal');
    t.text('personal_digest').notNullable();
    t.jsonb('details').notNullable();
    t.text('prev_hash').notNullable();
    t.text('hash').notNullable();
    t.index(['occurred_at']);
    t.index(['event_type', 'occurred_at']);
    t.index(['customer_id', 'occurred_at']);
    t.index(['client_id', 'occurred_at']);
  });
  // Append-only at the database too: deletes and updates are refused, except erasing the
  // personal column (a DBA can still drop the trigger, which is what the hash chain is for).
  await knex.raw(`
    CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.personal IS NULL
         AND (to_jsonb(NEW) - 'personal') = (to_jsonb(OLD) - 'personal') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_events is append-only';
    END $$;
  `);
  await knex.raw(`
    CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('audit_events');
  await knex.raw('DROP FUNCTION IF EXISTS audit_events_append_only()');
}
