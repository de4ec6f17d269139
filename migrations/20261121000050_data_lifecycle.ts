// Data lifecycle: audit retention and GDPR erasure.
// - `audit_anchors`: when the janitor deletes the oldest audit rows (AUDIT_RETENTION_DAYS), it
//   records the first retained row and the hash it links back to, so `portcullis audit verify`
//   starts the chain there instead of at the genesis hash. Append-only like the log itself.
// - The append-only trigger lets a delete through only inside the pruning transaction (which sets
//   `portcullis.audit_prune`); updates stay limited to erasing the personal column.
// - `customers.erased_at`: the customer was pseudonymised (`portcullis customers erase`).
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('audit_anchors', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    // Rows with a smaller id were deleted; this one (or, if it went too, the next) starts the chain.
    t.bigInteger('first_retained_id').notNullable();
    // The prev_hash of the first retained row: the hash of the last deleted one.
    t.text('prev_hash').notNullable();
    t.integer('rows_deleted').notNullable();
  });
  await knex.raw(`
    CREATE FUNCTION audit_anchors_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_anchors is append-only';
    END $$;
  `);
  await knex.raw(`
    CREATE TRIGGER audit_anchors_no_change BEFORE UPDATE OR DELETE ON audit_anchors
    FOR EACH ROW EXECUTE FUNCTION audit_anchors_append_only();
  `);
  await knex.raw(`
    CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.personal IS NULL
         AND (to_jsonb(NEW) - 'personal') = (to_jsonb(OLD) - 'personal') THEN
        RETURN NEW;
      END IF;
      IF TG_OP = 'DELETE' AND current_setting('portcullis.audit_prune', true) = 'on' THEN
        RETURN OLD;
      END IF;
      RAISE EXCEPTION 'audit_events is append-only';
    END $$;
  `);
  await knex.schema.alterTable('customers', (t) => {
    t.timestamp('erased_at', { useTz: true });
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('customers', (t) => {
    t.dropColumn('erased_at');
  });
  await knex.raw(`
    CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'UPDATE' AND NEW.personal IS NULL
         AND (to_jsonb(NEW) - 'personal') = (to_jsonb(OLD) - 'personal') THEN
        RETURN NEW;
      END IF;
      RAISE EXCEPTION 'audit_events is append-only';
    END $$;
  `);
  await knex.schema.dropTable('audit_anchors');
  await knex.raw('DROP FUNCTION IF EXISTS audit_anchors_append_only()');
}
