// The tamper-evident audit log. Every security event becomes one row whose hash covers its own
// canonical content and the previous row's hash, so an altered or deleted row breaks the chain
// at that point (`verify`). Appends are serialised by a transaction-scoped advisory lock, so the
// chain stays linear with any number of writers and instances; events arriving together are
// written in one statement (batched, migration audit_append: the lock is held only while the
// database runs it), and `record()` resolves once its row is durable.
// Retention (AUDIT_RETENTION_DAYS) deletes the oldest rows only, in the same lock, and leaves an
// anchor (audit_anchors) plus an `audit.pruned` event in the chain, so verification starts at the
// first retained row and a deletion outside retention is still caught.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';

export type AuditOutcome = 'success' | 'failure' | 'info';
export type ActorType = 'customer' | 'client' | 'admin' | 'resource_server' | 'system' | 'anonymous';

export interface AuditEvent {
  type: string;
  outcome: AuditOutcome;
  actor: { type: ActorType; id?: string | undefined };
  clientId?: string | undefined;
  customerId?: string | undefined;
  requestId?: string | undefined;
  /** Personal data kept outside the chain (erasable): IP, user agent, a typed username. */
  personal?: { ip?: string | undefined; userAgent?: string | undefined; username?: string | undefined };
  /** Never a password, a full token or a code: callers pass digests or the last 4 characters. */
  details?: Record<string, unknown>;
}

export interface AuditRow {
  id: number;
  occurred_at: string;
  event_type: string;
  outcome: AuditOutcome;
  actor_type: ActorType;
  actor_id: string | null;
  client_id: string | null;
  customer_id: string | null;
  request_id: string | null;
  personal: Record<string, string> | null;
  details: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export interface AuditQuery {
  since?: Date | undefined;
  until?: Date | undefined;
  type?: string | undefined;
  customerId?: string | undefined;
  clientId?: string | undefined;
  afterId?: number | undefined;
  limit: number;
}

export interface VerifyResult {
  ok: boolean;
  checked: number;
  /** The first row at which the chain breaks, and why. */
  brokenAt?: { id: number; reason: string };
  /** Set when retention deleted older rows: the chain was checked from this anchor on. */
  anchor?: { firstRetainedId: number; prunedAt: string };
}

export interface AuditLog {
  record(event: AuditEvent): Promise<void>;
  query(query: AuditQuery): Promise<AuditRow[]>;
  verify(): Promise<VerifyResult>;
  /**
   * Deletes up to `limit` of the oldest rows that occurred before `before` (never a row after a
   * newer one), records the anchor and an `audit.pruned` event; returns the rows deleted.
   */
  prune(before: Date, limit: number): Promise<number>;
  /** Waits for every queued event to be written. */
  flush(): Promise<void>;
  /**
   * Calls `listener` with every event as it is recorded (before it is durable), e.g. to count it
   * in a metric. A listener that throws is logged and ignored. Returns the unsubscribe function.
   */
  onRecord(listener: (event: AuditEvent) => void): () => void;
}

export const GENESIS = '0'.repeat(64);
// One lock id for the whole table: "audit" in ASCII.
const LOCK_ID = 0x61756469;
const MAX_BATCH = 500;

/** Canonical JSON: keys sorted at every depth, so the same content always hashes the same. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

type Chained = Omit<AuditRow, 'id' | 'hash' | 'prev_hash'> & { personal_digest: string };

function contentOf(row: Chained) {
  return {
    occurred_at: row.occurred_at,
    event_type: row.event_type,
    outcome: row.outcome,
    actor_type: row.actor_type,
    actor_id: row.actor_id,
    client_id: row.client_id,
    customer_id: row.customer_id,
    request_id: row.request_id,
    details: row.details,
    personal_digest: row.personal_digest,
  };
}

export const rowHash = (prevHash: string, row: Chained) => sha256(`${prevHash}\n${canonical(contentOf(row))}`);

// PostgreSQL refuses NUL in text and jsonb, and a lone UTF-16 surrogate in jsonb; one refused row
// would fail its whole batch: a NUL typed into a login form must not cost other events their
// rows. Both are kept visible as U+FFFD.
const storable = <T>(value: T): T => (typeof value === 'string' ? value.replaceAll('\0', '\uFFFD').toWellFormed() : value) as T;

function toChained(event: AuditEvent): Chained & { personal: Record<string, string> | null } {
  const personalFields = Object.fromEntries(
    Object.entries(event.personal ?? {})
      .filter(([, v]) => typeof v === 'string' && v)
      .map(([k, v]) => [k, storable(v)]),
  );
  const personal = Object.keys(personalFields).length
    ? { ...(personalFields as Record<string, string>), salt: randomBytes(16).toString('hex') }
    : null;
  return {
    occurred_at: new Date().toISOString(),
    event_type: event.type,
    outcome: event.outcome,
    actor_type: event.actor.type,
    actor_id: storable(event.actor.id ?? null),
    client_id: storable(event.clientId ?? null),
    customer_id: storable(event.customerId ?? null),
    request_id: storable(event.requestId ?? null),
    // As the database will hand it back (JSONB): dates become strings, undefined disappears.
    details: JSON.parse(JSON.stringify(event.details ?? {}, (_key, value) => storable(value))),
    personal,
    personal_digest: personal ? sha256(canonical(personal)) : '',
  };
}

interface Pending {
  row: ReturnType<typeof toChained>;
  done: (err?: unknown) => void;
}

export function createAuditLog(knex: Knex, logger: Logger): AuditLog {
  let queue: Pending[] = [];
  let writing: Promise<void> | undefined;
  const listeners = new Set<(event: AuditEvent) => void>();

  /**
   * Appends rows to the chain in one statement (migration audit_append): under the chain's lock,
   * after the last row, or after `start` when the table is empty. The database hashes each row as
   * rowHash does, from the canonical content computed here.
   */
  const append = async (db: Knex | Knex.Transaction, chained: ReturnType<typeof toChained>[], start: string) => {
    const events = chained.map((row) => ({ ...row, canonical: canonical(contentOf(row)) }));
    await db.raw('SELECT audit_append(?, ?, ?::jsonb)', [LOCK_ID, start, JSON.stringify(events)]);
  };

  const writeBatch = (batch: Pending[]) =>
    append(
      knex,
      batch.map((p) => p.row),
      GENESIS,
    );

  const drain = async () => {
    while (queue.length) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        await writeBatch(batch);
        for (const p of batch) p.done();
      } catch (err) {
        logger.error({ err, events: batch.length }, 'audit log write failed');
        for (const p of batch) p.done(err);
      }
    }
  };

  const kick = () => {
    writing ??= drain().finally(() => {
      writing = undefined;
      if (queue.length) kick();
    });
    return writing;
  };

  return {
    record(event) {
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (err) {
          logger.error({ err, event: event.type }, 'audit listener failed');
        }
      }
      return new Promise<void>((resolve, reject) => {
        queue.push({ row: toChained(event), done: (err) => (err ? reject(err) : resolve()) });
        void kick();
      });
    },

    async query(q) {
      const rows = await knex('audit_events')
        .select(
          'id',
          'occurred_at',
          'event_type',
          'outcome',
          'actor_type',
          'actor_id',
          'client_id',
          'customer_id',
          'request_id',
          'personal',
          'details',
          'prev_hash',
          'hash',
        )
        .where((w) => {
          if (q.since) w.where('occurred_at', '>=', q.since);
          if (q.until) w.where('occurred_at', '<', q.until);
          if (q.type) w.where('event_type', q.type);
          if (q.customerId) w.where('customer_id', q.customerId);
          if (q.clientId) w.where('client_id', q.clientId);
          if (q.afterId !== undefined) w.where('id', '>', q.afterId);
        })
        .orderBy('id', 'asc')
        .limit(q.limit);
      return rows.map((r) => ({ ...r, id: Number(r.id), occurred_at: new Date(r.occurred_at).toISOString() }));
    },

    async prune(before, limit) {
      return knex.transaction(async (trx) => {
        await trx.raw('SELECT pg_advisory_xact_lock(?)', [LOCK_ID]);
        // Only a prefix of the chain goes: rows before the first one that is still due to be kept.
        const kept = await trx('audit_events').min({ id: 'id' }).where('occurred_at', '>=', before).first();
        const due = trx('audit_events').select('id', 'hash').where('occurred_at', '<', before);
        if (kept?.id != null) due.where('id', '<', kept.id);
        const doomed = await due.orderBy('id', 'asc').limit(limit);
        const last = doomed.at(-1);
        if (!last) return 0;
        const throughId = Number(last.id);
        await trx.raw("SELECT set_config('portcullis.audit_prune', 'on', true)");
        await trx('audit_events').where('id', '<=', throughId).delete();
        await trx.raw("SELECT set_config('portcullis.audit_prune', 'off', true)");
        const anchor = { first_retained_id: throughId + 1, prev_hash: last.hash as string, rows_deleted: doomed.length };
        await trx('audit_anchors').insert(anchor);
        const event = toChained({
          type: 'audit.pruned',
          outcome: 'success',
          actor: { type: 'system', id: 'janitor' },
          details: {
            rows_deleted: doomed.length,
            first_retained_id: anchor.first_retained_id,
            anchor_hash: anchor.prev_hash,
            before: before.toISOString(),
          },
        });
        await append(trx, [event], anchor.prev_hash);
        return doomed.length;
      });
    },

    async verify() {
      const anchorRow = await knex('audit_anchors').orderBy('id', 'desc').first();
      const anchor = anchorRow
        ? {
            firstRetainedId: Number(anchorRow.first_retained_id),
            prevHash: anchorRow.prev_hash as string,
            prunedAt: new Date(anchorRow.created_at).toISOString(),
          }
        : undefined;
      const anchorInfo = anchor ? { anchor: { firstRetainedId: anchor.firstRetainedId, prunedAt: anchor.prunedAt } } : {};
      // The anchor must be confirmed by its `audit.pruned` event inside the chain: an anchor
      // written by hand to hide deleted rows is not.
      let confirmed = !anchor;
      let prev = anchor?.prevHash ?? GENESIS;
      let checked = 0;
      let afterId = 0;
      for (;;) {
        const rows = await knex('audit_events').select('*').where('id', '>', afterId).orderBy('id', 'asc').limit(1000);
        if (!rows.length) {
          if (!confirmed && anchor) {
            return {
              ok: false,
              checked,
              brokenAt: { id: anchor.firstRetainedId, reason: 'the retention anchor has no audit.pruned event in the chain' },
              ...anchorInfo,
            };
          }
          return { ok: true, checked, ...anchorInfo };
        }
        for (const raw of rows) {
          const id = Number(raw.id);
          if (anchor && id < anchor.firstRetainedId) {
            return { ok: false, checked, brokenAt: { id, reason: 'the row precedes the retention anchor' }, ...anchorInfo };
          }
          const row: Chained = {
            occurred_at: new Date(raw.occurred_at).toISOString(),
            event_type: raw.event_type,
            outcome: raw.outcome,
            actor_type: raw.actor_type,
            actor_id: raw.actor_id,
            client_id: raw.client_id,
            customer_id: raw.customer_id,
            request_id: raw.request_id,
            personal: raw.personal,
            details: raw.details,
            personal_digest: raw.personal_digest,
          };
          if (raw.prev_hash !== prev) {
            return {
              ok: false,
              checked,
              brokenAt: { id, reason: 'its predecessor is missing or was changed (prev_hash does not match)' },
            };
          }
          if (rowHash(prev, row) !== raw.hash) {
            return { ok: false, checked, brokenAt: { id, reason: 'its content was changed (hash does not match)' } };
          }
          if (raw.personal && sha256(canonical(raw.personal)) !== raw.personal_digest) {
            return { ok: false, checked, brokenAt: { id, reason: 'its personal data was changed (digest does not match)' } };
          }
          if (
            anchor &&
            raw.event_type === 'audit.pruned' &&
            Number(raw.details?.first_retained_id) === anchor.firstRetainedId &&
            raw.details?.anchor_hash === anchor.prevHash
          ) {
            confirmed = true;
          }
          prev = raw.hash;
          afterId = id;
          checked++;
        }
      }
    },

    async flush() {
      while (queue.length || writing) await (writing ?? kick());
    },

    onRecord(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Who and where, from an HTTP request: the request id and the erasable personal fields. */
export function requestContext(ctx: { ip: string; get(name: string): string; state: { requestId?: string } }) {
  return {
    requestId: ctx.state.requestId,
    personal: { ip: ctx.ip, userAgent: ctx.get('user-agent').slice(0, 300) || undefined },
  };
}
