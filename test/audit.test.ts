// The tamper-evident audit log: events from the admin API and the protocol engine, a hash chain
// that stays whole under concurrent writers, `portcullis audit verify` naming the first broken
// row, filters at GET /admin/audit, and personal data that can be erased without breaking it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import type * as oauth from 'oauth4webapi';
import { auditEventOutput } from '../src/admin/schemas.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  dpopKeyPair,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

type Row = {
  id: number;
  event_type: string;
  actor_id: string | null;
  client_id: string | null;
  details: Record<string, unknown>;
};

describe('audit log', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  const issuedTokens: string[] = [];

  const knex = (): Knex => server.server.services.db.knex;
  const events = async (query: string): Promise<Row[]> => {
    const response = await server.admin('GET', `/admin/audit?${query}`);
    assert.equal(response.status, 200);
    const rows = (await response.json()) as unknown[];
    for (const row of rows) auditEventOutput.parse(row);
    return rows as Row[];
  };
  /** `portcullis audit verify` against the test database (the server is stopped: PGlite has one owner). */
  const cliVerify = async () => {
    await server.stop();
    const env = {
      ...process.env,
      DATA_DIR: server.config.DATA_DIR,
      ENCRYPTION_KEY: server.config.ENCRYPTION_KEY,
      ...(server.config.DATABASE_URL ? { DATABASE_URL: server.config.DATABASE_URL } : {}),
      LOG_LEVEL: 'silent',
    };
    const result = spawnSync(process.execPath, ['src/cli/main.ts', 'audit', 'verify'], { env, encoding: 'utf8' });
    await server.restart();
    return result;
  };
  const withoutTrigger = async (change: (k: Knex) => Promise<unknown>) => {
    await knex().raw('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
    try {
      await change(knex());
    } finally {
      await knex().raw('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change');
    }
  };

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
    // A busy log: token requests and admin calls at the same time.
    const dpop = await dpopKeyPair();
    const work = [
      ...Array.from({ length: 20 }, () =>
        clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop).then((t) =>
          issuedTokens.push(t.access_token),
        ),
      ),
      ...Array.from({ length: 10 }, () => server.admin('GET', '/admin/clients')),
    ];
    await Promise.all(work);
    await server.server.services.audit.flush();
  });
  after(() => server.close());

  test('admin changes are recorded with the admin key as actor', async () => {
    const [created] = await events(`type=client.created&client_id=${encodeURIComponent(tpp.clientId)}`);
    assert.ok(created, 'client.created recorded');
    assert.match(created.actor_id ?? '', /^test-/);
    assert.equal(created.client_id, tpp.clientId);
    assert.ok((await events('type=admin_key.used')).length >= 10, 'reads are recorded as admin_key.used');
  });

  test('every token issued is recorded, with a reference and never the token', async () => {
    const issued = await events(`type=token.issued&client_id=${encodeURIComponent(tpp.clientId)}&limit=1000`);
    assert.equal(issued.length, 20);
    assert.equal(issued[0]?.details.grant_type, 'client_credentials');
    assert.match(String(issued[0]?.details.token_ref), /^[0-9a-f]{16}$/);
    const everything = JSON.stringify(await knex()('audit_events').select('*'));
    for (const token of issuedTokens) assert.ok(!everything.includes(token), 'an access token appears in the audit log');
  });

  test('filters by time: nothing before the start, everything since', async () => {
    assert.equal((await events(`until=${encodeURIComponent('2000-01-01T00:00:00Z')}`)).length, 0);
    assert.ok((await events(`since=${encodeURIComponent(new Date(Date.now() - 3600_000).toISOString())}`)).length > 0);
  });

  test('bad filters are a 400 invalid_request naming the field', async () => {
    const response = await server.admin('GET', '/admin/audit?since=yesterday');
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_request');
    assert.match(body.error_description, /since/);
  });

  test('the chain written by concurrent requests verifies', async () => {
    const result = await cliVerify();
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /audit chain intact: \d+ rows verified/);
  });

  test('hostile text (NUL, lone surrogates, non-ASCII) is stored as U+FFFD without costing its batch a row; the chain verifies', async () => {
    const { audit } = server.server.services;
    const hostile = 'a\0b\ud800c ü € 𝄞';
    const recorded = [
      audit.record({
        type: 'test.hostile',
        outcome: 'failure',
        actor: { type: 'anonymous', id: '\udc00x' },
        details: { note: hostile, nested: { list: [hostile] } },
        personal: { username: hostile },
      }),
      ...Array.from({ length: 30 }, (_, i) =>
        audit.record({ type: 'test.batch', outcome: 'success', actor: { type: 'system' }, details: { i } }),
      ),
    ];
    await Promise.all(recorded);
    const [row] = await knex()('audit_events').where({ event_type: 'test.hostile' });
    const shownAs = 'a\uFFFDb\uFFFDc ü € 𝄞';
    assert.equal(row.actor_id, '\uFFFDx');
    assert.deepEqual(row.details, { note: shownAs, nested: { list: [shownAs] } });
    assert.equal(row.personal.username, shownAs);
    assert.equal((await knex()('audit_events').where({ event_type: 'test.batch' })).length, 30);
    const result = await cliVerify();
    assert.equal(result.status, 0, result.stderr);
  });

  test('the database refuses updates and deletes of audit rows', async () => {
    await assert.rejects(knex()('audit_events').where('id', 1).update({ event_type: 'nothing.happened' }), /append-only/);
    await assert.rejects(knex()('audit_events').where('id', 1).delete(), /append-only/);
  });

  test('erasing the personal data of a row (GDPR) keeps the chain verifiable', async () => {
    const row = await knex()('audit_events').whereNotNull('personal').orderBy('id').first();
    assert.ok(row, 'requests carry personal data (IP, user agent)');
    await knex()('audit_events').where('id', row.id).update({ personal: null });
    const result = await cliVerify();
    assert.equal(result.status, 0, result.stderr);
  });

  test('an altered row is named by verify', async () => {
    const target = await knex()('audit_events').orderBy('id').offset(5).first();
    await withoutTrigger((k) => k('audit_events').where('id', target.id).update({ event_type: 'token.issued.tampered' }));
    const result = await cliVerify();
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`broken at row ${target.id}: its content was changed`));
    await withoutTrigger((k) => k('audit_events').where('id', target.id).update({ event_type: target.event_type }));
    assert.equal((await cliVerify()).status, 0);
  });

  test('a deleted row breaks the link of the row after it', async () => {
    const [victim, next] = await knex()('audit_events').orderBy('id').offset(8).limit(2);
    await withoutTrigger((k) => k('audit_events').where('id', victim.id).delete());
    const result = await cliVerify();
    assert.equal(result.status, 1);
    assert.match(result.stderr, new RegExp(`broken at row ${next.id}: its predecessor is missing or was changed`));
  });
});
