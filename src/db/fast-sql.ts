// SQL for the hot paths (the oidc-provider adapter: every token request makes several calls),
// without knex's query builder, runner and pool bookkeeping, and as named prepared statements,
// so PostgreSQL parses and plans each statement once per connection. Measured on the 2-core
// bench machine: knex's builder cost 2.5x the Node CPU of the same query through pg, and a
// prepared statement 40% less PostgreSQL CPU than an unnamed one (docs/performance.md).
// On PostgreSQL it is a pg.Pool of its own beside knex's; on PGlite (one connection, no pool)
// it goes through knex.raw. Statements use $1..$n, each placeholder once and in order.
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { assertStorable } from './text-guard.ts';

export interface SqlResult<R> {
  rows: R[];
  rowCount: number;
}

export interface FastSql {
  query<R = Record<string, unknown>>(text: string, values: unknown[]): Promise<SqlResult<R>>;
  close(): Promise<void>;
}

const names = new Map<string, string>();
/** A stable statement name per SQL text (PostgreSQL prepares it once per connection). */
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) {
    name = `pc_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`;
    names.set(text, name);
  }
  return name;
}

/** Through knex.raw: for PGlite, and for callers (tests) that hand the adapter a knex only. */
export function knexSql(knex: Knex): FastSql {
  return {
    async query<R>(text: string, values: unknown[]) {
      const result = await knex.raw(text.replace(/\$\d+/g, '?'), values as Knex.RawBinding[]);
      const rows = (result.rows ?? []) as R[];
      return { rows, rowCount: Number(result.rowCount ?? result.affectedRows ?? rows.length) };
    },
    close: async () => {},
  };
}

export function pgSql(connectionString: string, max: number): FastSql {
  const pool = new pg.Pool({ connectionString, max, idleTimeoutMillis: 30_000 });
  // An idle connection the server closed (a restart, a terminated backend) is dropped from the
  // pool and replaced on the next query; it must not crash the process.
  pool.on('error', () => {});
  return {
    async query<R>(text: string, values: unknown[]) {
      // The same NUL guard knex's bindings get (text-guard.ts): a 400, never a 500.
      assertStorable(values);
      const result = await pool.query({ name: statementName(text), text, values });
      return { rows: result.rows as R[], rowCount: result.rowCount ?? 0 };
    },
    close: () => pool.end(),
  };
}
