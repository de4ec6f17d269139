// The oidc-provider adapter's contract, driven directly (BRIEF "consume must be atomic"): under
// 50 concurrent callers exactly one consume() and one ReplayDetection claim win; expired rows are
// invisible; revokeByGrantId stays within its model; the janitor deletes expired rows in batches.
// Concurrency needs a real connection pool, so that part runs on PostgreSQL only.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import { createDatabase, type Database, migrateLatest } from '../src/db/database.ts';
import { sweepExpired } from '../src/db/janitor.ts';
import { createAdapterClass } from '../src/oidc/adapter.ts';
import { createClientStore } from '../src/oidc/clients.ts';
import { createFieldCipher } from '../src/security/encryption.ts';
import { createTestDatabase, type TestDatabase, testDatabaseKind } from './support/database.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const CONCURRENCY = 50;

/** Seals the payload fields with personal data, as the server's ENCRYPTION_KEY does. */
const cipher = createFieldCipher('test', new Map([['test', randomBytes(32)]]));

type Adapter = InstanceType<ReturnType<typeof createAdapterClass>>;

const payload = (model: string, grantId: string, extra: Record<string, unknown> = {}) => ({
  jti: randomUUID(),
  kind: model,
  grantId,
  clientId: 'client-1',
  iat: Math.floor(Date.now() / 1000),
  ...extra,
});

describe('oidc-provider adapter', () => {
  let database: TestDatabase;
  let db: Database;
  let knex: Knex;
  let adapter: (model: string) => Adapter;
  let retrying: (model: string) => Adapter;

  before(async () => {
    database = await createTestDatabase();
    db = createDatabase({ DATABASE_URL: database.url, DATABASE_POOL_MAX: 20, DATA_DIR: database.dataDir });
    knex = db.knex;
    await migrateLatest(knex);
    const clients = createClientStore(knex, 0);
    // Strict single use everywhere (no refresh retry window) ...
    const Adapter = createAdapterClass({ knex, clients, cipher, refreshReuseWindowSeconds: 0 });
    adapter = (model) => new Adapter(model);
    // ... and as the server runs it: refresh tokens keep a 60 s retry window.
    const Retrying = createAdapterClass({ knex, clients, cipher, refreshReuseWindowSeconds: 60 });
    retrying = (model) => new Retrying(model);
  });
  after(async () => {
    await db.close();
    await database.drop();
  });

  const expire = (model: string, id: string) =>
    knex('oidc_payloads')
      .where({ model, id })
      .update({ expires_at: new Date(Date.now() - 1000) });

  describe('concurrent use', {
    skip: testDatabaseKind() === 'pglite' && 'PGlite has one connection: no concurrency to test',
  }, () => {
    let server: TestServer;

    before(async () => {
      server = await startTestServer({ database: { ...database, drop: async () => {} } });
    });
    after(() => server.stop());

    for (const model of ['AuthorizationCode', 'RefreshToken']) {
      test(`${CONCURRENCY} simultaneous consume() of one ${model}: exactly one wins, the rest get invalid_grant`, async () => {
        const id = randomUUID();
        await adapter(model).upsert(id, payload(model, `grant-${id}`), 60);
        const results = await Promise.allSettled(Array.from({ length: CONCURRENCY }, () => adapter(model).consume(id)));
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, `${won.length} callers consumed the same ${model}`);
        assert.equal(lost.length, CONCURRENCY - 1);
        for (const { reason } of lost) assert.equal((reason as { error?: string }).error, 'invalid_grant', String(reason));
        const found = await adapter(model).find(id);
        assert.ok(found);
        assert.equal(typeof found.consumed, 'number');
      });
    }

    test(`with the retry window, ${CONCURRENCY} simultaneous consume() of one RefreshToken all succeed; an AuthorizationCode still has one winner`, async () => {
      const rt = randomUUID();
      await retrying('RefreshToken').upsert(rt, payload('RefreshToken', `grant-${rt}`), 60);
      const refreshes = await Promise.allSettled(Array.from({ length: CONCURRENCY }, () => retrying('RefreshToken').consume(rt)));
      assert.equal(refreshes.filter((r) => r.status === 'fulfilled').length, CONCURRENCY);
      const inWindow = await retrying('RefreshToken').find(rt);
      assert.equal(inWindow?.consumed, undefined, 'inside the window the token still reads as unused');

      const code = randomUUID();
      await retrying('AuthorizationCode').upsert(code, payload('AuthorizationCode', `grant-${code}`), 60);
      const redemptions = await Promise.allSettled(
        Array.from({ length: CONCURRENCY }, () => retrying('AuthorizationCode').consume(code)),
      );
      assert.equal(redemptions.filter((r) => r.status === 'fulfilled').length, 1);
    });

    test('after the retry window a consumed RefreshToken reads as consumed and cannot be consumed again', async () => {
      const rt = randomUUID();
      await retrying('RefreshToken').upsert(rt, payload('RefreshToken', `grant-${rt}`), 600);
      await retrying('RefreshToken').consume(rt);
      await knex('oidc_payloads')
        .where({ model: 'RefreshToken', id: rt })
        .update({ consumed_at: new Date(Date.now() - 61_000) });
      const found = await retrying('RefreshToken').find(rt);
      assert.equal(typeof found?.consumed, 'number');
      await assert.rejects(retrying('RefreshToken').consume(rt), (err: { error?: string }) => err.error === 'invalid_grant');
    });

    test(`${CONCURRENCY} simultaneous ReplayDetection.unique() of one jti: exactly one is unique`, async () => {
      const { ReplayDetection } = server.server.holder.current;
      const jti = randomUUID();
      const exp = Math.floor(Date.now() / 1000) + 60;
      const results = await Promise.all(Array.from({ length: CONCURRENCY }, () => ReplayDetection.unique('client-1', jti, exp)));
      assert.equal(results.filter(Boolean).length, 1, `${results.filter(Boolean).length} callers saw the jti as new`);
      assert.equal(await ReplayDetection.unique('client-1', jti, exp), false);
    });
  });

  describe('expiry', () => {
    test('find() of an expired row returns undefined', async () => {
      const id = randomUUID();
      await adapter('AccessToken').upsert(id, payload('AccessToken', 'g'), 60);
      assert.ok(await adapter('AccessToken').find(id));
      await expire('AccessToken', id);
      assert.equal(await adapter('AccessToken').find(id), undefined);
    });

    test('findByUid() of an expired session returns undefined', async () => {
      const id = randomUUID();
      const uid = randomUUID();
      await adapter('Session').upsert(id, { jti: id, uid, kind: 'Session' }, 60);
      assert.equal((await adapter('Session').findByUid(uid))?.jti, id);
      await expire('Session', id);
      assert.equal(await adapter('Session').findByUid(uid), undefined);
    });

    test('consume() of an expired code gets invalid_grant', async () => {
      const id = randomUUID();
      await adapter('AuthorizationCode').upsert(id, payload('AuthorizationCode', 'g'), 60);
      await expire('AuthorizationCode', id);
      await assert.rejects(adapter('AuthorizationCode').consume(id), { error: 'invalid_grant' });
    });

    test('a row without expiresIn never expires', async () => {
      const id = randomUUID();
      await adapter('Grant').upsert(id, { jti: id, kind: 'Grant' });
      const row = await knex('oidc_payloads').where({ model: 'Grant', id }).first();
      assert.equal(row.expires_at, null);
      assert.equal((await adapter('Grant').find(id))?.jti, id);
    });
  });

  describe('revokeByGrantId', () => {
    test("deletes only this model's rows of this grant", async () => {
      const grant = `grant-${randomUUID()}`;
      const other = `grant-${randomUUID()}`;
      const ids = { access: randomUUID(), refresh: randomUUID(), otherAccess: randomUUID() };
      await adapter('AccessToken').upsert(ids.access, payload('AccessToken', grant), 60);
      await adapter('RefreshToken').upsert(ids.refresh, payload('RefreshToken', grant), 60);
      await adapter('AccessToken').upsert(ids.otherAccess, payload('AccessToken', other), 60);

      await adapter('AccessToken').revokeByGrantId(grant);

      assert.equal(await adapter('AccessToken').find(ids.access), undefined);
      assert.ok(await adapter('RefreshToken').find(ids.refresh), 'another model of the grant was deleted');
      assert.ok(await adapter('AccessToken').find(ids.otherAccess), 'another grant was deleted');
    });
  });

  describe('janitor', () => {
    test('sweepExpired deletes expired rows in batches and leaves live ones', async () => {
      await knex('oidc_payloads').delete();
      const rows = (count: number, expiresAt: Date | null, prefix: string) =>
        Array.from({ length: count }, (_, i) => ({
          model: 'AccessToken',
          id: `${prefix}-${i}`,
          payload: JSON.stringify({ jti: `${prefix}-${i}` }),
          expires_at: expiresAt,
        }));
      await knex('oidc_payloads').insert([
        ...rows(25, new Date(Date.now() - 60_000), 'expired'),
        ...rows(5, new Date(Date.now() + 60_000), 'live'),
        ...rows(3, null, 'forever'),
      ]);

      const deletes: string[] = [];
      const onQuery = (query: { sql: string }) => {
        if (/^\s*delete/i.test(query.sql)) deletes.push(query.sql);
      };
      knex.on('query', onQuery);
      try {
        assert.equal(await sweepExpired(knex, 10), 25);
      } finally {
        knex.removeListener('query', onQuery);
      }
      assert.equal(deletes.length, 3, 'batches of 10: 10 + 10 + 5');

      const left = (await knex('oidc_payloads').select('id').orderBy('id')).map((r) => r.id as string);
      assert.deepEqual(left, [...rows(3, null, 'forever'), ...rows(5, null, 'live')].map((r) => r.id).sort());
      assert.equal(await sweepExpired(knex, 10), 0);
    });
  });
});
