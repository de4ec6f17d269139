// The adapter batches finds, saves and replay claims made in one round of I/O into one statement
// each (db/batch.ts). Batching must be invisible: every caller gets exactly its own answer, a jti
// claimed twice in one batch is a replay for the second caller, the last of two saves of one
// token wins, a NUL or a database error in one caller's value fails that caller alone, and a
// replay row lives as long as its save() asks even when the claim's own lifetime is shorter.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import { createDatabase, type Database, migrateLatest } from '../src/db/database.ts';
import { createAdapterClass } from '../src/oidc/adapter.ts';
import { createClientStore } from '../src/oidc/clients.ts';
import { createFieldCipher } from '../src/security/encryption.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

/** Seals the payload fields with personal data, as the server's ENCRYPTION_KEY does. */
const cipher = createFieldCipher('test', new Map([['test', randomBytes(32)]]));

type Adapter = InstanceType<ReturnType<typeof createAdapterClass>>;

describe('oidc-provider adapter: batched statements', () => {
  let database: TestDatabase;
  let db: Database;
  let knex: Knex;
  let adapter: (model: string) => Adapter;

  before(async () => {
    database = await createTestDatabase();
    db = createDatabase({ DATABASE_URL: database.url, DATABASE_POOL_MAX: 5, DATA_DIR: database.dataDir });
    knex = db.knex;
    await migrateLatest(knex);
    // As the server builds it: prepared statements on their own pool (knex.raw on PGlite).
    const Adapter = createAdapterClass({
      knex,
      sql: db.sql,
      clients: createClientStore(knex, 0),
      cipher,
      refreshReuseWindowSeconds: 60,
    });
    adapter = (model) => new Adapter(model);
  });
  after(async () => {
    await db.close();
    await database.drop();
  });

  test('40 finds of different tokens and models at once each get their own row or nothing', async () => {
    const saved = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const model = i % 2 ? 'AccessToken' : 'ClientCredentials';
        const id = randomUUID();
        await adapter(model).upsert(id, { jti: id, kind: model, n: i }, 60);
        return { model, id, n: i };
      }),
    );
    const lookups = saved.flatMap((s) => [
      { ...s, expect: s.n },
      { model: s.model === 'AccessToken' ? 'ClientCredentials' : 'AccessToken', id: s.id, expect: undefined },
    ]);
    const found = await Promise.all(lookups.map((l) => adapter(l.model).find(l.id)));
    for (const [i, l] of lookups.entries()) assert.equal(found[i]?.n, l.expect, `${l.model} ${l.id}`);
  });

  test('one jti claimed twice in one batch: the first caller claims it, the second is a replay', async () => {
    const jti = randomUUID();
    const [first, second] = await Promise.all([adapter('ReplayDetection').find(jti), adapter('ReplayDetection').find(jti)]);
    assert.equal(first, undefined, 'the first use claims the jti');
    assert.ok(second, 'the second use in the same batch is a replay');
    assert.ok(await adapter('ReplayDetection').find(jti), 'and so is any later use');
  });

  test('claims of different jtis in one batch are all first uses', async () => {
    const jtis = Array.from({ length: 25 }, () => randomUUID());
    const results = await Promise.all(jtis.map((jti) => adapter('ReplayDetection').find(jti)));
    assert.deepEqual(
      results,
      jtis.map(() => undefined),
    );
  });

  test('two saves of one token in one batch: the later one is stored', async () => {
    const id = randomUUID();
    await Promise.all([
      adapter('AccessToken').upsert(id, { jti: id, version: 1 }, 60),
      adapter('AccessToken').upsert(id, { jti: id, version: 2 }, 60),
    ]);
    assert.equal((await adapter('AccessToken').find(id))?.version, 2);
  });

  test('a NUL in one caller’s token fails that caller alone (400), not the batch it was in', async () => {
    const good = randomUUID();
    await adapter('AccessToken').upsert(good, { jti: good }, 60);
    const [bad, fine] = await Promise.allSettled([adapter('AccessToken').find('evil\0token'), adapter('AccessToken').find(good)]);
    assert.equal(bad.status, 'rejected');
    assert.equal((bad as PromiseRejectedResult).reason.status, 400);
    assert.equal(fine.status === 'fulfilled' && fine.value?.jti, good);
  });

  test('a save that fails in the database (a taken session uid) fails alone; the others in its batch are stored', async () => {
    const uid = randomUUID();
    await adapter('Session').upsert(randomUUID(), { uid, kind: 'Session' }, 60);
    const clashing = randomUUID();
    const innocent = randomUUID();
    const [bad, good] = await Promise.allSettled([
      adapter('Session').upsert(clashing, { uid, kind: 'Session' }, 60),
      adapter('Session').upsert(innocent, { uid: randomUUID(), kind: 'Session' }, 60),
    ]);
    assert.equal(bad.status, 'rejected');
    assert.equal(good.status, 'fulfilled');
    assert.ok(await adapter('Session').find(innocent));
    assert.equal(await adapter('Session').find(clashing), undefined);
  });

  test('a replay row outlives its claim when the save asks for longer (a far-off assertion exp)', async () => {
    const jti = randomUUID();
    assert.equal(await adapter('ReplayDetection').find(jti), undefined);
    await adapter('ReplayDetection').upsert(jti, { jti, iss: 'client-1' }, 3600);
    const row = await knex('oidc_payloads').where({ model: 'ReplayDetection', id: jti }).first();
    assert.ok(new Date(row.expires_at).getTime() > Date.now() + 3500_000, 'kept for the hour the save asked');
  });

  test('a replay row keeps the claim’s lifetime when the save asks for less (no second write)', async () => {
    const jti = randomUUID();
    assert.equal(await adapter('ReplayDetection').find(jti), undefined);
    const claimed = (await knex('oidc_payloads').where({ model: 'ReplayDetection', id: jti }).first()).expires_at;
    await adapter('ReplayDetection').upsert(jti, { jti, iss: 'client-1' }, 60);
    const row = await knex('oidc_payloads').where({ model: 'ReplayDetection', id: jti }).first();
    assert.equal(new Date(row.expires_at).getTime(), new Date(claimed).getTime());
    assert.ok(new Date(row.expires_at).getTime() >= Date.now() + 60_000, 'still refused for at least the asked 60 s');
  });
});
