// WEB_CONCURRENCY: `npm start` as one primary and N workers (node:cluster). The primary migrates
// and creates the first signing keys before any worker starts; the workers share the port and
// serve; SIGTERM stops them all cleanly. More than one worker needs PostgreSQL (PGlite is one
// process's), and the server says so at start-up.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import { createTestDatabase, type TestDatabase, testDatabaseKind } from './support/database.ts';
import { freePort } from './support/server.ts';

/** The process's children (the cluster workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Resolves with the output once `ready` holds for it (workers and primary write to one pipe, in any order). */
function waitFor(child: ChildProcess, ready: (output: string) => boolean, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out; output:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (ready(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      if (!ready(seen)) reject(new Error(`exited too early; output:\n${seen}`));
    });
  });
}

describe('cluster (WEB_CONCURRENCY)', () => {
  test('more than one worker on the embedded PGlite database is refused, naming the variable', () => {
    assert.throws(() => parseConfig({ WEB_CONCURRENCY: '2' }), /WEB_CONCURRENCY: more than one worker needs DATABASE_URL/);
    assert.equal(parseConfig({ WEB_CONCURRENCY: '1' }).WEB_CONCURRENCY, 1);
  });

  describe('on PostgreSQL', { skip: testDatabaseKind() === 'pglite' && 'workers need PostgreSQL' }, () => {
    let database: TestDatabase;
    before(async () => {
      database = await createTestDatabase();
    });
    after(() => database.drop());

    test('two workers share the port after one migration; SIGTERM stops them all', async () => {
      const port = await freePort();
      const child = spawn(process.execPath, ['src/main.ts'], {
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'production',
          ISSUER: 'https://bank.example',
          ENCRYPTION_KEY: randomBytes(32).toString('base64'),
          DATABASE_URL: database.url as string,
          DATA_DIR: database.dataDir,
          PORT: String(port),
          WEB_CONCURRENCY: '2',
          JANITOR_INTERVAL_SECONDS: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const count = (output: string, pattern: RegExp) => output.match(pattern)?.length ?? 0;
        // The primary may report all workers listening before a worker's own line reaches the pipe.
        const output = await waitFor(
          child,
          (seen) => count(seen, /all workers are listening/g) === 1 && count(seen, /Portcullis is listening/g) === 2,
        );
        // Migrations ran once, in the primary; the workers were told not to.
        assert.equal(count(output, /migrations applied/g), 1);
        const workers = childrenOf(child.pid as number);
        assert.equal(workers.length, 2);

        for (let i = 0; i < 6; i++) {
          const response = await fetch(`http://127.0.0.1:${port}/.well-known/openid-configuration`);
          assert.equal(response.status, 200);
          assert.equal(((await response.json()) as { issuer: string }).issuer, 'https://bank.example');
        }
        // Both workers publish the same signing keys (created once, by the primary).
        const jwks = await Promise.all(
          Array.from({ length: 6 }, async () => (await (await fetch(`http://127.0.0.1:${port}/jwks`)).json()) as unknown),
        );
        for (const set of jwks) assert.deepEqual(set, jwks[0]);

        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
        for (const pid of workers) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} still runs`);
      } finally {
        child.kill('SIGKILL');
      }
    });
  });
});
