// Each test file gets its own database: a fresh PostgreSQL database on the server
// (TEST_DATABASE=postgresql, the default) or a fresh PGlite folder (TEST_DATABASE=pglite).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const ADMIN_DATABASE_URL = process.env.TEST_ADMIN_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
export type TestDatabaseKind = 'postgresql' | 'pglite';
export const testDatabaseKind = (): TestDatabaseKind => (process.env.TEST_DATABASE === 'pglite' ? 'pglite' : 'postgresql');

export interface TestDatabase {
  kind: TestDatabaseKind;
  /** Set for PostgreSQL. */
  url?: string;
  dataDir: string;
  drop(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(kind: TestDatabaseKind = testDatabaseKind()): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  if (kind === 'pglite') {
    return { kind, dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `portcullis_test_${randomBytes(6).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    kind,
    url: url.toString(),
    dataDir,
    async drop() {
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
