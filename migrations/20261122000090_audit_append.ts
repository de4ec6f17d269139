// Appending to the audit chain in one statement: `audit_append` takes the chain's lock, reads the
// last hash and inserts the batch, each row's hash computed as the application computes it
// (sha256 of the previous hash, a newline and the row's canonical content, in UTF-8), so
// `portcullis audit verify` checks both alike. One round trip per batch instead of five (BEGIN,
// lock, last hash, INSERT, COMMIT): the audit row is part of every token request.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION audit_append(lock_id bigint, start_hash text, events jsonb) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
      prev text;
      event jsonb;
      next_hash text;
    BEGIN
      PERFORM pg_advisory_xact_lock(lock_id);
      SELECT hash INTO prev FROM audit_events ORDER BY id DESC LIMIT 1;
      prev := coalesce(prev, start_hash);
      FOR i IN 0 .. jsonb_array_length(events) - 1 LOOP
        event := events -> i;
        next_hash := encode(sha256(convert_to(prev || E'\\n' || (event ->> 'canonical'), 'UTF8')), 'hex');
        INSERT INTO audit_events (occurred_at, event_type, outcome, actor_type, actor_id, client_id,
                                  customer_id, request_id, personal, personal_digest, details, prev_hash, hash)
        VALUES ((event ->> 'occurred_at')::timestamptz, event ->> 'event_type', event ->> 'outcome',
                event ->> 'actor_type', event ->> 'actor_id', event ->> 'client_id', event ->> 'customer_id',
                event ->> 'request_id', nullif(event -> 'personal', 'null'::jsonb), event ->> 'personal_digest',
                event -> 'details', prev, next_hash);
        prev := next_hash;
      END LOOP;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP FUNCTION IF EXISTS audit_append(bigint, text, jsonb)');
}
