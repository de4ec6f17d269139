// Data lifecycle: GDPR export and erasure of a customer (admin API and CLI), and the retention
// settings: audit rows (kept forever unless AUDIT_RETENTION_DAYS, then pruned with an anchor that
// keeps `audit verify` meaningful), ended consents (CONSENT_RETENTION_DAYS) and expired token rows
// (TOKEN_RETENTION_GRACE_SECONDS). Checked as an operator and a TPP see it: the CLI's output and
// exit codes, introspection, the refresh grant, the bank's sign-in page, and the database.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import type { CustomerExport, ErasureReport } from '../src/accounts/customer-data.ts';
import { parseConfig } from '../src/config.ts';
import { sweepExpired } from '../src/db/janitor.ts';
import { pruneAudit, pruneConsents } from '../src/db/retention.ts';
import {
  authorizeInBrowser,
  createCustomer,
  interceptCallback,
  type Journey,
  launchBrowser,
  newPage,
  screenshot,
  shown,
  startAuthorization,
  submitWith,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  discover,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const ACCOUNT = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const DAY_MS = 86_400_000;

type ExportedConsent = { id: string; status: string; client_id: string; authorization_details: { type: string }[] };

describe('data lifecycle', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let browser: Browser;
  let alice: TestCustomer;
  let bob: TestCustomer;
  let aliceJourney: Journey;
  let bobJourney: Journey;

  const knex = () => server.server.services.db.knex;
  const active = async (token: string) => (await introspect(as, rs, token)).active;
  const journey = async (customer: TestCustomer) => {
    const { context, page } = await newPage(browser);
    try {
      return await authorizeInBrowser(page, server, tpp, customer, [ACCOUNT.name], {
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [{ type: 'account_information', permissions: ['balances'], expirationDateTime: inDays(30) }],
      });
    } finally {
      await context.close();
    }
  };
  const refreshError = async (j: Journey) => {
    const response = await oauth.refreshTokenGrantRequest(as, tpp.client, tpp.auth, j.tokens.refresh_token as string, {
      ...insecure,
      DPoP: j.started.dpop,
    });
    return ((await response.json()) as { error?: string }).error;
  };
  /** The bank's sign-in page in Chromium, reached through a fresh PAR; returns the page text after submitting. */
  const signInText = async (customer: TestCustomer, name: string) => {
    const { context, page } = await newPage(browser);
    try {
      const started = await startAuthorization(server, tpp, {
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [{ type: 'account_information', permissions: ['balances'], expirationDateTime: inDays(30) }],
      });
      await interceptCallback(page, started.redirectUri);
      await page.goto(started.url);
      await page.getByLabel('Username').fill(customer.username);
      await page.getByLabel('Password').fill(customer.password);
      await submitWith(page, page.getByRole('button', { name: 'Sign in' }));
      await screenshot(page, name);
      return { text: await shown(page, 'body'), url: page.url() };
    } finally {
      await context.close();
    }
  };
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['src/cli/main.ts', ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        DATA_DIR: server.config.DATA_DIR,
        ENCRYPTION_KEY: server.config.ENCRYPTION_KEY,
        ...(server.config.DATABASE_URL ? { DATABASE_URL: server.config.DATABASE_URL } : {}),
        NODE_ENV: 'test',
        LOG_LEVEL: 'silent',
        ARGON2_MEMORY_KIB: '8192',
        ARGON2_TIME_COST: '1',
      },
    });

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { client_name: 'Lifecycle Fintech' });
    alice = await createCustomer(server, [ACCOUNT], undefined, undefined, { totp: true });
    bob = await createCustomer(server, [ACCOUNT], undefined, undefined, { totp: true });
    browser = await launchBrowser();
    aliceJourney = await journey(alice);
    bobJourney = await journey(bob);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('retention settings default to keeping audit rows and consents forever', () => {
    const config = parseConfig({});
    assert.equal(config.AUDIT_RETENTION_DAYS, 0);
    assert.equal(config.CONSENT_RETENTION_DAYS, 0);
    assert.equal(config.TOKEN_RETENTION_GRACE_SECONDS, 0);
    assert.throws(() => parseConfig({ AUDIT_RETENTION_DAYS: '-1' }), /AUDIT_RETENTION_DAYS/);
  });

  test('export through the admin API: profile, accounts, consents, factors and audit events, never a secret', async () => {
    const unknown = await server.admin('GET', '/admin/customers/no-such-customer/export');
    assert.equal(unknown.status, 404);

    const response = await server.admin('GET', `/admin/customers/${alice.customer.id}/export`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as CustomerExport;
    const text = JSON.stringify(body);
    assert.equal(body.customer.id, alice.customer.id);
    assert.equal(body.customer.username, alice.username);
    assert.equal(body.customer.status, 'active');
    assert.doesNotMatch(text, /password_hash|\$argon2/);
    assert.deepEqual(
      body.accounts.map((a: { iban: string; name: string }) => [a.iban, a.name]),
      [[ACCOUNT.iban, ACCOUNT.name]],
    );
    const consentId = (await introspect(as, rs, aliceJourney.tokens.access_token)).consent_id;
    const consent = (body.consents as ExportedConsent[]).find((c) => c.id === consentId);
    assert.equal(consent?.status, 'authorised');
    assert.equal(consent?.client_id, tpp.clientId);
    assert.equal(consent?.authorization_details[0]?.type, 'account_information');
    assert.equal(body.factors.length, 1);
    assert.equal(body.factors[0]?.kind, 'totp');
    assert.deepEqual(Object.keys(body.factors[0] ?? {}).sort(), [
      'confirmed_at',
      'created_at',
      'id',
      'kind',
      'label',
      'last_used_at',
    ]);
    assert.doesNotMatch(text, /secret_encrypted|code_hash/);
    const types = new Set(body.audit_events.map((e) => e.event_type));
    assert.ok(types.has('consent.granted') || types.has('consent.authorised'), [...types].join(', '));
    for (const event of body.audit_events) {
      assert.ok(
        event.customer_id === alice.customer.id || event.actor_id === alice.customer.id || event.personal?.username,
        `${event.event_type} is about someone else`,
      );
    }

    await server.server.services.audit.flush();
    const [audited] = await knex()('audit_events').where({ event_type: 'customer.exported', customer_id: alice.customer.id });
    assert.match(audited?.actor_id ?? '', /^test-/);
  });

  test('the CLI exports and erases a customer; the chain verifies, tokens die, the customer cannot sign in', async () => {
    assert.equal(await active(bobJourney.tokens.access_token), true);
    // A failed sign-in keeps the typed username among the audit row's erasable personal data.
    const wrong = await signInText({ ...bob, password: 'not-the-password' }, 'data-lifecycle-wrong-password');
    assert.match(wrong.text, new RegExp(LOGIN_FAILED.replace(/\./g, '\\.')));
    await server.server.services.audit.flush();
    const personalBefore = await knex()('audit_events').whereRaw("personal->>'username' = ?", [bob.username]).count({ n: '*' });
    assert.ok(Number(personalBefore[0]?.n) >= 1);

    await server.stop(); // PGlite has one owner: the CLI opens the database itself
    const exported = cli('customers', 'export', bob.username);
    const refused = cli('customers', 'erase', bob.username);
    const erased = cli('customers', 'erase', bob.username, '--yes', '--json');
    const again = cli('customers', 'erase', bob.username, '--yes');
    const verified = cli('audit', 'verify');
    await server.restart();

    assert.equal(exported.status, 0, exported.stderr);
    const data = JSON.parse(exported.stdout) as CustomerExport;
    assert.equal(data.customer.id, bob.customer.id);
    assert.equal(data.accounts[0]?.iban, ACCOUNT.iban);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /--yes/);
    assert.equal(erased.status, 0, erased.stderr);
    const report = JSON.parse(erased.stdout) as ErasureReport;
    assert.equal(report.customer_id, bob.customer.id);
    assert.equal(report.consents_revoked, 1);
    assert.ok(report.grants_revoked >= 1);
    assert.ok(report.audit_rows_erased >= 1);
    assert.equal(report.rows_deleted.customer_factors, 1);
    assert.equal(report.rows_deleted.customer_accounts, 1);
    assert.equal(again.status, 1);
    assert.match(again.stderr, /no customer/);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /audit chain intact/);

    // The TPP's tokens are dead.
    assert.equal(await active(bobJourney.tokens.access_token), false);
    assert.equal(await refreshError(bobJourney), 'invalid_grant');
    // The customer row is a pseudonym; nothing that identifies or authenticates the person is left.
    const row = await knex()('customers').where({ id: bob.customer.id }).first();
    assert.equal(row.username, `erased-${bob.customer.id}`);
    assert.equal(row.status, 'disabled');
    assert.ok(row.erased_at);
    for (const table of ['customer_factors', 'customer_recovery_codes', 'customer_accounts', 'portal_sessions']) {
      const [count] = await knex()(table).where({ customer_id: bob.customer.id }).count({ n: '*' });
      assert.equal(Number(count?.n), 0, table);
    }
    const consents = await server.server.services.consents.listForCustomer(bob.customer.id);
    assert.equal(consents.length, 1);
    assert.equal(consents[0]?.status, 'revoked');
    assert.deepEqual(consents[0]?.details, [], 'the approved details (IBANs) are gone');
    // Audit rows about the customer stay (the chain), without personal data.
    const about = await knex()('audit_events').where({ customer_id: bob.customer.id });
    assert.ok(about.length >= 3);
    assert.ok(about.every((r) => r.personal === null));
    const [typed] = await knex()('audit_events').whereRaw("personal->>'username' = ?", [bob.username]).count({ n: '*' });
    assert.equal(Number(typed?.n), 0);
    const [event] = await knex()('audit_events').where({ event_type: 'customer.erased', customer_id: bob.customer.id });
    assert.match(event?.actor_id ?? '', /^cli:/);
    assert.equal((await server.server.services.audit.verify()).ok, true);

    // The bank's sign-in page refuses the old credentials with the usual message.
    const signIn = await signInText(bob, 'data-lifecycle-erased-sign-in');
    assert.match(signIn.text, new RegExp(LOGIN_FAILED.replace(/\./g, '\\.')));
    assert.match(new URL(signIn.url).pathname, /^\/interaction\//);
  });

  test('erase through the admin API; other customers are untouched', async () => {
    const carol = await createCustomer(server, [{ ...ACCOUNT, iban: 'FR1420041010050500013M02606' }]);
    const response = await server.admin('POST', `/admin/customers/${alice.customer.id}/erase`);
    assert.equal(response.status, 200);
    const report = (await response.json()) as ErasureReport;
    assert.equal(report.consents_revoked, 1);
    assert.equal(await active(aliceJourney.tokens.access_token), false);
    assert.equal((await server.server.services.customers.checkPassword(alice.username, alice.password))?.passwordOk, undefined);
    const still = await server.server.services.customers.checkPassword(carol.username, carol.password);
    assert.equal(still?.passwordOk, true);
    assert.equal((await server.server.services.accounts.listAccounts(carol.customer.id)).length, 1);
    assert.equal((await server.admin('POST', '/admin/customers/no-such-customer/erase')).status, 404);
    await server.server.services.audit.flush();
    assert.equal((await server.server.services.audit.verify()).ok, true);
  });

  test('audit retention deletes only rows past the period, oldest first, and verification starts at its anchor', async () => {
    const { audit } = server.server.services;
    await audit.flush();
    assert.equal(await pruneAudit(audit, 0, 100), 0, 'AUDIT_RETENTION_DAYS=0 keeps everything');

    const cutoff = new Date();
    await new Promise((resolve) => setTimeout(resolve, 50));
    for (let i = 0; i < 3; i++) {
      await audit.record({ type: 'test.recent', outcome: 'info', actor: { type: 'system' }, details: { i } });
    }
    const oldCount = Number((await knex()('audit_events').where('occurred_at', '<', cutoff).count({ n: '*' }))[0]?.n);
    assert.ok(oldCount > 3, `${oldCount} old rows`);
    // 30 days of retention, evaluated 30 days after the cutoff: everything before it is due.
    const deleted = await pruneAudit(audit, 30, 3, cutoff.getTime() + 30 * DAY_MS);
    assert.equal(deleted, oldCount);
    const left = await knex()('audit_events').orderBy('id');
    assert.deepEqual(
      left.filter((r) => r.event_type === 'test.recent').map((r) => r.details.i),
      [0, 1, 2],
    );
    assert.ok(left.every((r) => new Date(r.occurred_at) >= cutoff));
    const pruned = left.filter((r) => r.event_type === 'audit.pruned');
    assert.equal(pruned.length, Math.ceil(oldCount / 3), 'one anchor and one event per batch');
    const result = await audit.verify();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.checked, left.length);
    assert.ok(result.anchor && result.anchor.firstRetainedId > 1);

    const verified = cli('audit', 'verify');
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /older rows were deleted by retention/);

    // A row deleted outside retention (the trigger dropped by a DBA) is still caught.
    await knex().raw('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_change');
    await knex()('audit_events').where({ id: left[0]?.id }).delete();
    await knex().raw('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_change');
    const broken = await audit.verify();
    assert.equal(broken.ok, false);
    assert.equal(broken.brokenAt?.id, Number(left[1]?.id));
    // Outside the pruning transaction the table still refuses deletes.
    await assert.rejects(knex()('audit_events').where({ id: left[1]?.id }).delete(), /append-only/);
  });

  test('consent retention deletes ended consents past the period only; expired tokens go after their grace', async () => {
    const { consents } = server.server.services;
    const dave = await createCustomer(server, [ACCOUNT]);
    const make = async (end?: 'revoked' | 'expired') => {
      const created = await consents.create({
        clientId: tpp.clientId,
        customerId: dave.customer.id,
        type: 'account_information',
        details: [{ type: 'account_information', permissions: ['balances'] }] as never,
        expiresAt: new Date(Date.now() + DAY_MS),
      });
      if (end) await consents.finish(created.id, end);
      return created.id;
    };
    const oldRevoked = await make('revoked');
    const oldExpired = await make('expired');
    const recentRevoked = await make('revoked');
    const live = await make();
    await knex()('consents')
      .whereIn('id', [oldRevoked, oldExpired, live])
      .update({ updated_at: new Date(Date.now() - 40 * DAY_MS) });

    assert.equal(await pruneConsents(knex(), 0, 100), 0, 'CONSENT_RETENTION_DAYS=0 keeps everything');
    assert.equal(await pruneConsents(knex(), 30, 1), 2);
    const left = (await consents.listForCustomer(dave.customer.id)).map((c) => c.id).sort();
    assert.deepEqual(left, [recentRevoked, live].sort());

    const row = (id: string, secondsAgo: number) => ({
      model: 'AccessToken',
      id,
      payload: JSON.stringify({ jti: id }),
      expires_at: new Date(Date.now() - secondsAgo * 1000),
    });
    await knex()('oidc_payloads').insert([row('expired-long-ago', 3600), row('expired-just-now', 10)]);
    assert.equal(await sweepExpired(knex(), 100, 600), 1);
    const kept = await knex()('oidc_payloads').whereIn('id', ['expired-long-ago', 'expired-just-now']).pluck('id');
    assert.deepEqual(kept, ['expired-just-now']);
    assert.equal(await sweepExpired(knex(), 100, 0), 1);
  });
});
