// The scale run's database: 1,000,000 token rows in oidc_payloads, as months of traffic leave
// them (access and refresh tokens, grants and sessions of thousands of customers and TPPs, with
// realistic JSONB payloads: scopes, DPoP thumbprints, RAR details; 5% already expired, for the
// janitor to sweep while the scenarios run). Then the plans of the adapter's lookups, which
// must be index scans whatever the table's size.
import type { Knex } from 'knex';
import { ADAPTER_STATEMENTS } from '../../src/oidc/adapter.ts';
import { log } from '../lib/scenario.ts';

const CHUNK = 250_000;

export async function fillTokenRows(knex: Knex, rows: number): Promise<{ seconds: number; tableMiB: number }> {
  const started = performance.now();
  for (let from = 1; from <= rows; from += CHUNK) {
    const to = Math.min(rows, from + CHUNK - 1);
    await knex.raw(
      `INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, expires_at, consumed_at)
       SELECT t.model, t.id, t.payload, t.grant_id, t.uid, t.expires_at, t.consumed_at FROM (
         SELECT
           CASE WHEN g % 20 < 12 THEN 'AccessToken' WHEN g % 20 < 17 THEN 'RefreshToken'
                WHEN g % 20 < 19 THEN 'Grant' ELSE 'Session' END AS model,
           rtrim(translate(encode(decode(md5(random()::text || g) || md5(g::text || random()::text), 'hex'), 'base64'), '+/', '-_'), '=') AS id,
           'grant-' || (g % 100000) AS grant_id,
           CASE WHEN g % 20 = 19 THEN 'uid-' || g END AS uid,
           CASE WHEN g % 20 = 3 THEN now() - make_interval(secs => g % 7200)
                WHEN g % 20 < 12 THEN now() + make_interval(secs => 60 + g % 3600)
                ELSE now() + make_interval(days => 1 + g % 90) END AS expires_at,
           CASE WHEN g % 20 BETWEEN 12 AND 13 THEN now() - make_interval(secs => g % 86400) END AS consumed_at,
           jsonb_build_object(
             'iat', extract(epoch FROM now())::int - g % 86400,
             'exp', extract(epoch FROM now())::int + 3600,
             'kind', 'AccessToken',
             'accountId', 'customer-' || (g % 50000),
             'clientId', 'tpp-' || (g % 200),
             'grantId', 'grant-' || (g % 100000),
             'scope', 'openid accounts',
             'aud', 'https://api.bench/accounts',
             'gty', 'authorization_code',
             'sessionUid', md5(g::text),
             'expiresWithSession', false,
             'jkt', rtrim(translate(encode(decode(md5('jkt' || g) || md5(g || 'jkt'), 'hex'), 'base64'), '+/', '-_'), '='),
             'extra', jsonb_build_object('consent_id', md5('consent' || (g % 100000))::uuid),
             'rar', jsonb_build_array(jsonb_build_object(
               'type', 'account_information',
               'permissions', jsonb_build_array('balances', 'transactions'),
               'accounts', jsonb_build_array(jsonb_build_object('iban', 'DE89370400440532013000'))))
           ) AS payload
         FROM generate_series(?::int, ?::int) AS g) t`,
      [from, to],
    );
    log(`scale: ${to.toLocaleString('en')} token rows`);
  }
  // What autovacuum does to a table that grew: statistics for the planner, a visibility map.
  await knex.raw('VACUUM ANALYZE oidc_payloads');
  // A table that grew over months has long been written out; the fill's dirty pages would
  // otherwise be flushed by the next checkpoint, in the middle of a measured phase.
  try {
    await knex.raw('CHECKPOINT');
  } catch (err) {
    log(`scale: no CHECKPOINT (${(err as Error).message}): the fill's writes may be flushed while measuring`);
  }
  const size = await knex.raw("SELECT pg_total_relation_size('oidc_payloads') AS bytes");
  return { seconds: (performance.now() - started) / 1000, tableMiB: Number(size.rows[0].bytes) / 1048576 };
}

export interface Plan {
  query: string;
  plan: string[];
  /** No sequential scan of oidc_payloads in the plan. */
  indexBound: boolean;
  /** Runs inside a request (the janitor's batch does not; a scan that stops at LIMIT is fine there). */
  requestPath: boolean;
}

/**
 * The plans of the adapter's own statements (ADAPTER_STATEMENTS) as the server runs them: prepared,
 * with PostgreSQL's generic plan forced (what a prepared statement settles on after five runs),
 * with values like the scenarios'. EXPLAIN without ANALYZE plans without running: nothing is written.
 */
export async function explainAdapterQueries(knex: Knex): Promise<Plan[]> {
  const sample = await knex('oidc_payloads')
    .select('id', 'grant_id')
    .where({ model: 'AccessToken' })
    .whereNotNull('grant_id')
    .first();
  const now = new Date().toISOString();
  const s = ADAPTER_STATEMENTS;
  const statements: [string, string, unknown[], boolean][] = [
    [
      'find (token by id, as AccessToken and as ClientCredentials)',
      s.find,
      ['AccessToken', sample.id, 'ClientCredentials', sample.id, now],
      true,
    ],
    ['findByUid (session)', s.findByUid, ['Session', 'uid-19', now], true],
    ['consume (refresh rotation)', s.consume, ['RefreshToken', sample.id, now, now], true],
    ['upsert (token saved)', s.upsert, ['AccessToken', 'new-id', '{}', sample.grant_id, null, null, now], true],
    ['claimReplay (jti)', s.claimReplay, ['bench-jti', '{}', now, now], true],
    ['revokeByGrantId', s.revokeByGrantId, ['AccessToken', sample.grant_id], true],
    [
      'janitor batch',
      'SELECT model, id FROM oidc_payloads WHERE expires_at < now() LIMIT 1000 FOR UPDATE SKIP LOCKED',
      [],
      false,
    ],
  ];
  const plans: Plan[] = [];
  await knex.transaction(async (trx) => {
    await trx.raw('SET LOCAL plan_cache_mode = force_generic_plan');
    for (const [i, [name, sql, values, requestPath]] of statements.entries()) {
      const literal = values.map((v) => (v === null ? 'NULL' : `'${String(v).replace(/'/g, "''")}'`)).join(', ');
      await trx.raw(`PREPARE bench_plan_${i} AS ${sql}`);
      const result = await trx.raw(`EXPLAIN EXECUTE bench_plan_${i}${values.length ? `(${literal})` : ''}`);
      const plan = (result.rows as { 'QUERY PLAN': string }[]).map((r) => r['QUERY PLAN']);
      plans.push({ query: name, plan, indexBound: !plan.some((line) => /Seq Scan on oidc_payloads/.test(line)), requestPath });
      await trx.raw(`DEALLOCATE bench_plan_${i}`);
    }
  });
  return plans;
}
