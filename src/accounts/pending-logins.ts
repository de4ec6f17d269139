// A login between its factors: which customer passed the password, and when. Nothing else is
// granted by it; it lives a few minutes (PSD2 RTS Art. 4(3)(d)) and is taken once the second
// factor passes. Keyed by `interaction:<uid>` for a TPP's request (the interaction cookie must
// match too) or by the SHA-256 of a random cookie value for the dashboard.
import type { Knex } from 'knex';

export interface PendingLogin {
  customerId: string;
  /** RFC 8176 methods already passed, e.g. ["pwd"]. */
  amr: string[];
  createdAt: Date;
}

export interface PendingLogins {
  put(key: string, login: { customerId: string; amr: string[] }, ttlSeconds: number): Promise<void>;
  get(key: string): Promise<PendingLogin | undefined>;
  delete(key: string): Promise<void>;
  /** Drops expired rows (janitor); returns how many. */
  deleteExpired(limit: number): Promise<number>;
}

export function createPendingLogins(knex: Knex): PendingLogins {
  return {
    async put(key, login, ttlSeconds) {
      const row = {
        id: key,
        customer_id: login.customerId,
        amr: JSON.stringify(login.amr),
        created_at: knex.fn.now(),
        expires_at: knex.raw('now() + make_interval(secs => ?::double precision)', [ttlSeconds]),
      };
      await knex('pending_logins').insert(row).onConflict('id').merge();
    },
    async get(key) {
      const row = await knex('pending_logins').where({ id: key }).where('expires_at', '>', knex.fn.now()).first();
      if (!row) return undefined;
      const amr = typeof row.amr === 'string' ? JSON.parse(row.amr) : row.amr;
      return { customerId: row.customer_id, amr, createdAt: new Date(row.created_at) };
    },
    async delete(key) {
      await knex('pending_logins').where({ id: key }).delete();
    },
    async deleteExpired(limit) {
      const expired = knex('pending_logins').select('id').where('expires_at', '<=', knex.fn.now()).limit(limit);
      return knex('pending_logins').whereIn('id', expired).delete();
    },
  };
}
