// Sessions of the customer dashboard. The cookie carries 256 random bits; the table keeps only
// their SHA-256, so neither a database copy nor a log line can be replayed as a cookie.
// Every check runs on the database clock, in one statement, so instances never disagree.
import type { Knex } from 'knex';
import { randomSecret, sha256Hex } from '../security/secrets.ts';

export interface PortalSession {
  /** SHA-256 (hex) of the cookie value. */
  id: string;
  customerId: string;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
  /** RFC 8176 methods the session was opened with, e.g. ["otp","pwd"]. */
  amr: string[];
}

export interface PortalSessionSettings {
  /** PSD2 RTS Art. 4(3)(d): a session idle this long after authentication is over. */
  idleSeconds: number;
  /** Hard lifetime, however active the session. */
  lifetimeSeconds: number;
}

export interface PortalSessionStore {
  /** A new session; `token` is the cookie value, returned once and stored only hashed. */
  create(customerId: string, amr?: string[]): Promise<{ token: string; session: PortalSession }>;
  /** The live session for a cookie value, its idle clock restarted; undefined when unknown, revoked, idle or expired. */
  get(token: string): Promise<PortalSession | undefined>;
  /** Ends a session at once (sign-out); unknown values are ignored. */
  revoke(token: string): Promise<void>;
  /** Deletes sessions that can no longer be used (janitor); returns how many. */
  deleteEnded(limit: number): Promise<number>;
}

// What randomSecret(32) produces: 43 base64url characters. Anything else is not ours.
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

const toSession = (row: Record<string, unknown>): PortalSession => ({
  id: row.id as string,
  customerId: row.customer_id as string,
  createdAt: new Date(row.created_at as string),
  lastSeenAt: new Date(row.last_seen_at as string),
  expiresAt: new Date(row.expires_at as string),
  amr: (typeof row.amr === 'string' ? JSON.parse(row.amr) : (row.amr ?? ['pwd'])) as string[],
});

export function createPortalSessionStore(knex: Knex, settings: PortalSessionSettings): PortalSessionStore {
  const secondsFromNow = (seconds: number) => knex.raw('now() + make_interval(secs => ?::double precision)', [seconds]);
  const secondsAgo = (seconds: number) => knex.raw('now() - make_interval(secs => ?::double precision)', [seconds]);
  const idOf = (token: string) => (TOKEN_SHAPE.test(token) ? sha256Hex(token) : undefined);

  return {
    async create(customerId, amr = ['pwd']) {
      const token = randomSecret();
      const [row] = await knex('portal_sessions')
        .insert({
          id: sha256Hex(token),
          customer_id: customerId,
          amr: JSON.stringify(amr),
          expires_at: secondsFromNow(settings.lifetimeSeconds),
        })
        .returning('*');
      return { token, session: toSession(row) };
    },
    async get(token) {
      const id = idOf(token);
      if (!id) return undefined;
      const [row] = await knex('portal_sessions')
        .where({ id })
        .whereNull('revoked_at')
        .where('expires_at', '>', knex.fn.now())
        .where('last_seen_at', '>', secondsAgo(settings.idleSeconds))
        .update({ last_seen_at: knex.fn.now() })
        .returning('*');
      return row ? toSession(row) : undefined;
    },
    async revoke(token) {
      const id = idOf(token);
      if (id) await knex('portal_sessions').where({ id }).whereNull('revoked_at').update({ revoked_at: knex.fn.now() });
    },
    async deleteEnded(limit) {
      const ended = knex('portal_sessions')
        .select('id')
        .whereNotNull('revoked_at')
        .orWhere('expires_at', '<=', knex.fn.now())
        .orWhere('last_seen_at', '<=', secondsAgo(settings.idleSeconds))
        .limit(limit);
      return knex('portal_sessions').whereIn('id', ended).delete();
    },
  };
}
