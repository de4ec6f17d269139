// oidc-provider storage on PostgreSQL (or PGlite): one JSONB payload table for every model but
// Client, which lives in the `clients` table behind the ClientStore (admin-managed, cached).
//
// Contract (oidc-provider Adapter):
// - upsert(id, payload, expiresIn): store as-is; expiresIn seconds from now (absent = no expiry).
// - find(id): the payload, with `consumed` set when consumed; undefined when absent or expired.
// - consume(id): atomic; exactly one caller wins, every other gets InvalidGrant.
// - revokeByGrantId(grantId): deletes this model's rows of the grant (called once per model).
//
// Refresh-token retry window (FAPI 2.0 SP 5.3.2.1 note on rotation; BRIEF): a rotated refresh
// token keeps working for `refreshReuseWindowSeconds` after its first use, so a client that lost
// the response can retry, and concurrent refreshes with one token all succeed. Inside the window
// find() hides `consumed` and consume() succeeds again; the window is measured from the first
// use. After it, find() reports `consumed` and oidc-provider revokes the whole grant (reuse).
//
// Speed (docs/performance.md): every statement is a prepared statement on the token store's own
// pool (db/fast-sql.ts); finds, saves and replay claims made during one round of I/O go to the
// database as one statement each (db/batch.ts): concurrent requests share round trips, and
// introspection's two lookups of one token (as AccessToken and as ClientCredentials) are one;
// and the ReplayDetection row a claim inserts already lives as long as any DPoP proof or usual
// client assertion needs, so the save() that follows writes only when it must live longer.
//
// Personal data (BRIEF "Data protection"): the fields carrying authorization_details (`rar`, the
// PAR request object, an Interaction's params and prompt) are sealed on upsert and opened on
// find (payload-sealing.ts); every other field stays plain JSONB and queryable.
import type { Knex } from 'knex';
import { errors } from 'oidc-provider';
import { batcher, valuesList } from '../db/batch.ts';
import { type FastSql, knexSql } from '../db/fast-sql.ts';
import { assertStorable } from '../db/text-guard.ts';
import type { FieldCipher } from '../security/encryption.ts';
import type { ClientStore } from './clients.ts';
import { createPayloadSealer } from './payload-sealing.ts';

type Payload = Record<string, unknown>;

interface Row {
  model: string;
  id: string;
  payload: Payload;
  consumed_at: Date | string | null;
}

/** `payload` (the row's, opened), with `consumed` set when the row is consumed and that shows. */
function toPayload(row: Row, payload: Payload, hideConsumed = false): Payload {
  if (!row.consumed_at || hideConsumed) return payload;
  return { ...payload, consumed: Math.floor(new Date(row.consumed_at).getTime() / 1000) };
}

const expiresAt = (expiresIn?: number) => (expiresIn ? new Date(Date.now() + expiresIn * 1000) : null);

// A live row is never expired-but-not-yet-swept (the janitor deletes those later).
const LIVE = '(expires_at IS NULL OR expires_at > $$now)';
const live = (sql: string, at: number) => sql.replace('$$now', () => `$${at}`);

const UPSERT_COLUMNS = 7;
/** Saves `rows` tokens in one statement (a batch never holds one (model, id) twice). */
const upsertSql = (rows: number) => `INSERT INTO oidc_payloads (model, id, payload, grant_id, uid, user_code, expires_at)
  VALUES ${valuesList(rows, UPSERT_COLUMNS, 1, ['', '', '::jsonb', '', '', '', '::timestamptz'])}
  ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
    uid = EXCLUDED.uid, user_code = EXCLUDED.user_code, expires_at = EXCLUDED.expires_at`;

/** Looks up `rows` (model, id) pairs in one statement, each through the primary key. */
const findSql = (rows: number) =>
  live(
    `SELECT p.model, p.id, p.payload, p.consumed_at FROM oidc_payloads p
     JOIN (VALUES ${valuesList(rows, 2, 1, ['::text', '::text'])}) AS v (model, id) ON p.model = v.model AND p.id = v.id
     WHERE (p.expires_at IS NULL OR p.expires_at > $$now)`,
    rows * 2 + 1,
  );

const BY_UID = live(
  `SELECT model, id, payload, consumed_at FROM oidc_payloads WHERE model = $1 AND uid = $2 AND ${LIVE} LIMIT 1`,
  3,
);
const BY_USER_CODE = live(
  `SELECT model, id, payload, consumed_at FROM oidc_payloads WHERE model = $1 AND user_code = $2 AND ${LIVE} LIMIT 1`,
  3,
);
const CONSUME = live(
  `UPDATE oidc_payloads SET consumed_at = now() WHERE model = $1 AND id = $2 AND consumed_at IS NULL AND ${LIVE}`,
  3,
);
// A refresh token inside its retry window may be consumed again; the first use's time is kept.
const CONSUME_RETRYABLE = live(
  `UPDATE oidc_payloads SET consumed_at = COALESCE(consumed_at, now())
   WHERE model = $1 AND id = $2 AND (consumed_at IS NULL OR consumed_at > $3) AND ${LIVE}`,
  4,
);
const DESTROY = 'DELETE FROM oidc_payloads WHERE model = $1 AND id = $2';
const REVOKE_GRANT = 'DELETE FROM oidc_payloads WHERE model = $1 AND grant_id = $2';
/** Claims `rows` jtis in one statement; RETURNING names the ones this call claimed. */
const claimSql = (rows: number) => `INSERT INTO oidc_payloads (model, id, payload, expires_at)
  VALUES ${Array.from({ length: rows }, (_, r) => `('ReplayDetection', $${r * 3 + 1}, $${r * 3 + 2}::jsonb, $${r * 3 + 3}::timestamptz)`).join(', ')}
  ON CONFLICT (model, id) DO UPDATE SET payload = EXCLUDED.payload, expires_at = EXCLUDED.expires_at
    WHERE oidc_payloads.expires_at <= $${rows * 3 + 1}
  RETURNING id`;

/** The statements the adapter sends, for plan checks (bench/scenarios/scale.ts EXPLAINs them). */
export const ADAPTER_STATEMENTS = {
  find: findSql(2),
  findByUid: BY_UID,
  consume: CONSUME_RETRYABLE,
  upsert: upsertSql(1),
  destroy: DESTROY,
  revokeByGrantId: REVOKE_GRANT,
  claimReplay: claimSql(1),
};

// What a claimed ReplayDetection row lives before its save(): DPoP proofs need 300 s (oidc-provider's
// CHALLENGE_OK_WINDOW), client assertions their exp plus the 15 s clock tolerance; a margin on top.
const REPLAY_CLAIM_SECONDS = 330;

export interface AdapterDependencies {
  knex: Knex;
  /** The hot-path SQL (prepared statements); through knex.raw when absent. */
  sql?: FastSql;
  clients: ClientStore;
  /** Seals the payload fields that hold personal data (payload-sealing.ts). */
  cipher: FieldCipher;
  refreshReuseWindowSeconds: number;
}

export function createAdapterClass({
  knex,
  sql = knexSql(knex),
  clients,
  cipher,
  refreshReuseWindowSeconds,
}: AdapterDependencies) {
  const sealer = createPayloadSealer(cipher);
  /** The row's payload as oidc-provider saved it, or undefined when there is no row. */
  const read = (row: Row | undefined, hideConsumed = false) =>
    row && toPayload(row, sealer.open(row.model, row.id, row.payload), hideConsumed);
  const windowMs = refreshReuseWindowSeconds * 1000;
  /** A refresh token consumed less than the window ago still counts as unused. */
  const inRetryWindow = (model: string, consumedAt: Date | string | null) =>
    model === 'RefreshToken' && consumedAt !== null && Date.now() - new Date(consumedAt).getTime() < windowMs;

  const key = (model: string, id: string) => `${model}:${id}`;

  const findRow = batcher<{ model: string; id: string }, Row | undefined>(async (items) => {
    const unique = [...new Map(items.map((i) => [key(i.model, i.id), i])).values()];
    const { rows } = await sql.query<Row>(findSql(unique.length), [...unique.flatMap((i) => [i.model, i.id]), new Date()]);
    const found = new Map(rows.map((r) => [key(r.model, r.id), r]));
    return items.map((i) => found.get(key(i.model, i.id)));
  });

  type Saved = [
    model: string,
    id: string,
    payload: string,
    grantId: string | null,
    uid: string | null,
    userCode: string | null,
    expiresAt: Date | null,
  ];
  const save = batcher<Saved, void>(async (items) => {
    // The last save of a (model, id) in the batch wins, as it would one after the other.
    const unique = [...new Map(items.map((i) => [key(i[0], i[1]), i])).values()];
    await sql.query(upsertSql(unique.length), unique.flat());
    return items.map(() => undefined);
  });

  /** true: this call claimed the jti (first use); false: it was there already (replay). */
  const claim = batcher<{ id: string; until: Date }, boolean>(async (items) => {
    const firsts = [...new Map(items.map((i) => [i.id, i])).values()];
    const payload = (id: string) => JSON.stringify({ jti: id, claimed: true });
    const { rows } = await sql.query<{ id: string }>(claimSql(firsts.length), [
      ...firsts.flatMap((i) => [i.id, payload(i.id), i.until]),
      new Date(),
    ]);
    const won = new Set(rows.map((r) => r.id));
    // A jti twice in one batch is a replay for the second caller whatever the first got.
    const seen = new Set<string>();
    return items.map((i) => {
      const first = !seen.has(i.id);
      seen.add(i.id);
      return first && won.has(i.id);
    });
  });

  // ReplayDetection ids this process claimed, with the instant their row lives until.
  const claimed = new Map<string, number>();

  return class PostgresAdapter {
    readonly model: string;

    constructor(model: string) {
      this.model = model;
    }

    async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
      if (this.model === 'Client') {
        await clients.saveDynamic(id, payload);
        return;
      }
      if (this.model === 'ReplayDetection') {
        const until = claimed.get(id);
        claimed.delete(id);
        // The claim's row already outlives what this save asks: replay stays refused until then.
        if (until !== undefined && expiresIn !== undefined && Date.now() + expiresIn * 1000 <= until) return;
      }
      const row: Saved = [
        this.model,
        id,
        JSON.stringify(sealer.seal(this.model, id, payload)),
        (payload.grantId as string | undefined) ?? null,
        (payload.uid as string | undefined) ?? null,
        (payload.userCode as string | undefined) ?? null,
        expiresAt(expiresIn),
      ];
      // Checked per call: one unstorable value must not fail the others batched with it.
      assertStorable(row);
      await save(row);
    }

    async find(id: string): Promise<Payload | undefined> {
      if (this.model === 'Client') return clients.findForProvider(id);
      if (this.model === 'ReplayDetection') return this.claimReplay(id);
      assertStorable([id]);
      const row = await findRow({ model: this.model, id });
      return read(row, row !== undefined && inRetryWindow(this.model, row.consumed_at));
    }

    async findByUid(uid: string): Promise<Payload | undefined> {
      const { rows } = await sql.query<Row>(BY_UID, [this.model, uid, new Date()]);
      return read(rows[0]);
    }

    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const { rows } = await sql.query<Row>(BY_USER_CODE, [this.model, userCode, new Date()]);
      return read(rows[0]);
    }

    async consume(id: string): Promise<void> {
      const retryable = this.model === 'RefreshToken' && windowMs > 0;
      const { rowCount } = retryable
        ? await sql.query(CONSUME_RETRYABLE, [this.model, id, new Date(Date.now() - windowMs), new Date()])
        : await sql.query(CONSUME, [this.model, id, new Date()]);
      // The loser of a race (or a second use) must not proceed: BRIEF "consume must be atomic".
      if (rowCount === 0)
        throw new errors.InvalidGrant(`${this.model.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()} already used`);
    }

    async destroy(id: string): Promise<void> {
      if (this.model === 'Client') {
        await clients.deleteDynamic(id);
        return;
      }
      await sql.query(DESTROY, [this.model, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await sql.query(REVOKE_GRANT, [this.model, grantId]);
    }

    /**
     * ReplayDetection.unique() calls find() then save(): racing callers would both see "not found".
     * Claiming the id here (insert, or take over an expired row) makes the check insert-or-fail:
     * exactly one caller gets `undefined` (first use); every other sees the row (replay).
     */
    private async claimReplay(id: string): Promise<Payload | undefined> {
      assertStorable([id]);
      const now = Date.now();
      const until = now + REPLAY_CLAIM_SECONDS * 1000;
      if (await claim({ id, until: new Date(until) })) {
        if (claimed.size > 100_000) claimed.clear(); // a save() that never came must not grow memory
        claimed.set(id, until);
        return undefined;
      }
      const iat = Math.floor(now / 1000);
      return { jti: id, iat, exp: iat + 60 };
    }
  };
}
