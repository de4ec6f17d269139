// One knex instance over PostgreSQL (DATABASE_URL) or the embedded PGlite in DATA_DIR.
// Both run the same migrations and the same SQL.
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import pg from 'pg';
import { type FastSql, knexSql, pgSql } from './fast-sql.ts';
import { guardText } from './text-guard.ts';

// timestamptz and bigint come back as strings, parsed where they are read.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export const MIGRATIONS_DIR = resolve(fileURLToPath(new URL('../../migrations', import.meta.url)));

export interface DatabaseSettings {
  DATABASE_URL?: string | undefined;
  DATABASE_POOL_MAX: number;
  DATA_DIR: string;
}

export type DatabaseKind = 'postgresql' | 'pglite';

export interface Database {
  knex: Knex;
  /** Prepared statements for the hot paths (its own pool on PostgreSQL; knex.raw on PGlite). */
  sql: FastSql;
  kind: DatabaseKind;
  close(): Promise<void>;
}

const migrations: Knex.MigratorConfig = {
  directory: MIGRATIONS_DIR,
  loadExtensions: ['.ts'],
  tableName: 'knex_migrations',
};

export function knexConfig(settings: DatabaseSettings): Knex.Config {
  if (settings.DATABASE_URL) {
    return {
      client: 'pg',
      connection: settings.DATABASE_URL,
      pool: { min: 0, max: settings.DATABASE_POOL_MAX },
      migrations,
      // knex otherwise writes every binding into the message of a failed query, and so into the
      // logs: token ids (which are the opaque tokens), hashes, personal data.
      compileSqlOnError: false,
    };
  }
  const filename = join(resolve(settings.DATA_DIR), 'pglite');
  mkdirSync(filename, { recursive: true });
  return { client: ClientPgLite, dialect: 'postgres', connection: { filename }, migrations, compileSqlOnError: false };
}

/** Where knex's own warnings go (it would print them on stdout otherwise). */
export interface DatabaseLog {
  warn(message: string): void;
  error(message: string): void;
}

export function createDatabase(settings: DatabaseSettings, log?: DatabaseLog): Database {
  const text = (m: unknown) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m));
  const knex = knexFactory({
    ...knexConfig(settings),
    ...(log
      ? {
          log: {
            warn: (m: unknown) => log.warn(text(m)),
            error: (m: unknown) => log.error(text(m)),
            deprecate: (method: string, alternative: string) => log.warn(`knex: ${method} is deprecated, use ${alternative}`),
            debug: () => {},
          },
        }
      : {}),
  });
  guardText(knex);
  const sql = settings.DATABASE_URL ? pgSql(settings.DATABASE_URL, settings.DATABASE_POOL_MAX) : knexSql(knex);
  return {
    knex,
    sql,
    kind: settings.DATABASE_URL ? 'postgresql' : 'pglite',
    close: async () => {
      await sql.close();
      await knex.destroy();
    },
  };
}

/** Applies pending migrations; returns the names applied. */
export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest(migrations)) as [number, string[]];
  return applied;
}

/** Round-trips the database (readiness). */
export async function ping(knex: Knex): Promise<void> {
  await knex.raw('select 1');
}
