// Incident response through the admin API and the CLI: ending a customer's sessions, revoking
// everything of a client or of a customer, suspending a client. What is checked is what a TPP and
// a resource server see afterwards (introspection, refresh, token requests), what the database
// holds, and the audit trail of each action.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { createPortalSessionStore } from '../src/portal/session-store.ts';
import {
  authorizeInBrowser,
  createCustomer,
  type Journey,
  launchBrowser,
  newPage,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  dpopKeyPair,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const ACCOUNT = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

type AuditRow = {
  event_type: string;
  actor_id: string | null;
  client_id: string | null;
  customer_id: string | null;
  details: Record<string, unknown>;
};

describe('incident response', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let browser: Browser;
  let tppA: Tpp;
  let tppB: Tpp;
  let alice: TestCustomer;
  let bob: TestCustomer;
  let aliceWithA: Journey;
  let bobWithB: Journey;
  let bTokenOfItsOwn: string;

  const knex = () => server.server.services.db.knex;
  const active = async (token: string) => (await introspect(as, rs, token)).active;
  const providerSessions = async (customerId: string) =>
    Number(
      (
        await knex()('oidc_payloads')
          .where('model', 'Session')
          .whereRaw("payload->>'accountId' = ?", [customerId])
          .count({ n: '*' })
          .first()
      )?.n,
    );
  const portalSessions = () => createPortalSessionStore(knex(), { idleSeconds: 300, lifetimeSeconds: 3600 });
  /** The consent behind a journey's tokens, as the resource server reads it. */
  const consentIdOf = async (journey: Journey) => (await introspect(as, rs, journey.tokens.access_token)).consent_id as string;
  const auditOf = async (query: string): Promise<AuditRow[]> => {
    await server.server.services.audit.flush();
    const response = await server.admin('GET', `/admin/audit?${query}`);
    assert.equal(response.status, 200);
    return (await response.json()) as AuditRow[];
  };
  const refreshFails = async (journey: Journey, tpp: Tpp) => {
    const response = await oauth.refreshTokenGrantRequest(as, tpp.client, tpp.auth, journey.tokens.refresh_token as string, {
      ...insecure,
      DPoP: journey.started.dpop,
    });
    return ((await response.json()) as { error?: string }).error;
  };
  const journey = async (tpp: Tpp, customer: TestCustomer) => {
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

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    tppA = await registerTpp(server, { client_name: 'Fintech A' });
    tppB = await registerTpp(server, { client_name: 'Fintech B' });
    alice = await createCustomer(server, [ACCOUNT], undefined, undefined, { totp: true });
    bob = await createCustomer(server, [ACCOUNT], undefined, undefined, { totp: true });
    browser = await launchBrowser();
    aliceWithA = await journey(tppA, alice);
    bobWithB = await journey(tppB, bob);
    bTokenOfItsOwn = (await clientCredentials(as, tppB, { scope: 'accounts', resource: rs.resource }, await dpopKeyPair()))
      .access_token;
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('end-sessions ends sign-in and dashboard sessions, and leaves consents and tokens alone', async () => {
    const { token } = await portalSessions().create(alice.customer.id);
    assert.ok((await providerSessions(alice.customer.id)) > 0, 'the journey left a sign-in session');

    const response = await server.admin('POST', `/admin/customers/${alice.customer.id}/end-sessions`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body.customer_id, alice.customer.id);
    assert.ok((body.sessions_ended as number) >= 1);
    assert.equal(body.portal_sessions_ended, 1);

    assert.equal(await providerSessions(alice.customer.id), 0);
    assert.equal(await portalSessions().get(token), undefined, 'the dashboard session is over');
    assert.equal(await active(aliceWithA.tokens.access_token), true, 'consented access continues');

    const [event] = await auditOf(`type=incident.customer_sessions_ended&customer_id=${alice.customer.id}`);
    assert.match(event?.actor_id ?? '', /^test-/);
    assert.equal(event?.details.portal_sessions_ended, 1);
  });

  test("revoke-all of a client: its tokens go inactive, its refresh tokens fail, its consents end; other clients' stay", async () => {
    const ownToken = (await clientCredentials(as, tppA, { scope: 'accounts', resource: rs.resource }, await dpopKeyPair()))
      .access_token;
    const consentId = await consentIdOf(aliceWithA);
    assert.equal(await active(ownToken), true);

    const response = await server.admin('POST', `/admin/clients/${tppA.clientId}/revoke-all`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, number | string>;
    assert.equal(body.client_id, tppA.clientId);
    assert.equal(body.consents_revoked, 1);
    assert.ok((body.grants_revoked as number) >= 1);
    assert.ok((body.tokens_revoked as number) >= 3, 'access token, refresh token and client credentials token');

    assert.equal(await active(aliceWithA.tokens.access_token), false);
    assert.equal(await active(ownToken), false);
    assert.equal(await refreshFails(aliceWithA, tppA), 'invalid_grant');
    assert.equal((await server.server.services.consents.get(consentId))?.status, 'revoked');
    const left = await knex()('oidc_payloads')
      .whereIn('model', ['AccessToken', 'RefreshToken', 'ClientCredentials', 'Grant'])
      .whereRaw("payload->>'clientId' = ?", [tppA.clientId]);
    assert.deepEqual(left, []);

    assert.equal(await active(bobWithB.tokens.access_token), true, "another client's grant is untouched");
    assert.equal(await active(bTokenOfItsOwn), true);

    const [event] = await auditOf(`type=incident.client_revoked&client_id=${tppA.clientId}`);
    assert.match(event?.actor_id ?? '', /^test-/);
    assert.deepEqual(event?.details.consent_ids, [consentId]);
    const consentEvents = await auditOf(`type=consent.revoked&client_id=${tppA.clientId}`);
    assert.equal(consentEvents.length, 1);
    assert.equal(consentEvents[0]?.customer_id, alice.customer.id);
  });

  test('revoke-all of a customer: consents, grants, tokens and sessions end', async () => {
    const { token } = await portalSessions().create(bob.customer.id);
    const consentId = await consentIdOf(bobWithB);
    assert.ok((await providerSessions(bob.customer.id)) > 0);

    const response = await server.admin('POST', `/admin/customers/${bob.customer.id}/revoke-all`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, number | string>;
    assert.equal(body.consents_revoked, 1);
    assert.ok((body.tokens_revoked as number) >= 2);
    assert.equal(body.portal_sessions_ended, 1);

    assert.equal((await server.server.services.consents.get(consentId))?.status, 'revoked');
    assert.equal(await active(bobWithB.tokens.access_token), false);
    assert.equal(await refreshFails(bobWithB, tppB), 'invalid_grant');
    assert.equal(await providerSessions(bob.customer.id), 0);
    assert.equal(await portalSessions().get(token), undefined);
    assert.equal(await active(bTokenOfItsOwn), true, "the client's own client-credentials token is not the customer's");

    const [event] = await auditOf(`type=incident.customer_revoked&customer_id=${bob.customer.id}`);
    assert.equal(event?.details.consents_revoked, 1);
    assert.deepEqual(event?.details.consent_ids, [consentId]);
  });

  test('a suspended client can get no token, and its tokens stop introspecting as active', async () => {
    const tpp = await registerTpp(server);
    const dpop = await dpopKeyPair();
    const before = (await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop)).access_token;
    assert.equal((await server.admin('POST', `/admin/clients/${tpp.clientId}/suspend`)).status, 200);

    await assert.rejects(
      clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop),
      (err: oauth.ResponseBodyError) => {
        assert.equal(err.error, 'invalid_client');
        return true;
      },
    );
    assert.equal(await active(before), false);

    assert.equal((await server.admin('POST', `/admin/clients/${tpp.clientId}/activate`)).status, 200);
    assert.ok((await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop)).access_token);
    const events = (await auditOf(`client_id=${tpp.clientId}`)).map((e) => e.event_type);
    assert.ok(events.includes('client.suspended') && events.includes('client.activated'));
  });

  test('unknown targets are 404, and the actions need the incident:write scope', async () => {
    for (const path of [
      '/admin/clients/nope/revoke-all',
      '/admin/customers/nope/revoke-all',
      '/admin/customers/nope/end-sessions',
    ]) {
      const response = await server.admin('POST', path);
      assert.equal(response.status, 404, path);
      assert.equal(((await response.json()) as { error: string }).error, 'not_found');
    }
    const created = await server.admin('POST', '/admin/admin-keys', { name: 'writer', scopes: ['clients:write', 'users:write'] });
    const { key } = (await created.json()) as { key: string };
    const forbidden = await server.admin('POST', `/admin/clients/${tppB.clientId}/revoke-all`, undefined, key);
    assert.equal(forbidden.status, 403);
    assert.match(((await forbidden.json()) as { error_description: string }).error_description, /incident:write/);
    assert.equal((await server.admin('POST', `/admin/customers/${bob.customer.id}/end-sessions`, undefined, '')).status, 401);
    assert.equal(await active(bTokenOfItsOwn), true, 'nothing was revoked');

    const openapi = (await (await server.admin('GET', '/admin/openapi.json')).json()) as { paths: Record<string, unknown> };
    for (const path of [
      '/admin/clients/{id}/revoke-all',
      '/admin/customers/{id}/revoke-all',
      '/admin/customers/{id}/end-sessions',
    ]) {
      assert.ok(openapi.paths[path], `${path} is documented`);
    }
  });

  test('the CLI: clients revoke-all, customers revoke-all and end-sessions, each audited', async () => {
    // State to end: a client-credentials token of B, a grant of Alice's and a dashboard session.
    const dpop = await dpopKeyPair();
    const bToken = (await clientCredentials(as, tppB, { scope: 'accounts', resource: rs.resource }, dpop)).access_token;
    const provider = server.server.holder.current;
    const grant = new provider.Grant({ accountId: alice.customer.id, clientId: tppA.clientId });
    grant.addResourceScope(rs.resource, 'accounts');
    const grantId = await grant.save();
    await portalSessions().create(alice.customer.id);

    await server.stop(); // PGlite has one owner: the CLI opens the database itself
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
        },
      });
    const revokeClient = cli('clients', 'revoke-all', tppB.clientId, '--json');
    const revokeCustomer = cli('customers', 'revoke-all', '--username', alice.username, '--json');
    const endSessions = cli('customers', 'end-sessions', '--username', alice.username);
    const unknown = cli('customers', 'end-sessions', '--username', 'nobody-by-that-name');
    await server.restart();

    assert.equal(revokeClient.status, 0, revokeClient.stderr);
    const clientResult = JSON.parse(revokeClient.stdout) as Record<string, number>;
    assert.ok(clientResult.tokens_revoked >= 1);
    assert.equal(revokeCustomer.status, 0, revokeCustomer.stderr);
    const customerResult = JSON.parse(revokeCustomer.stdout) as Record<string, number>;
    assert.equal(customerResult.grants_revoked, 1);
    assert.equal(customerResult.portal_sessions_ended, 1);
    assert.equal(endSessions.status, 0, endSessions.stderr);
    assert.match(endSessions.stdout, /0 sign-in session\(s\) and 0 dashboard session\(s\) ended/);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /no customer "nobody-by-that-name"/);

    assert.equal(await active(bToken), false);
    assert.equal(await knex()('oidc_payloads').where({ model: 'Grant', id: grantId }).first(), undefined);
    for (const type of ['incident.client_revoked', 'incident.customer_revoked', 'incident.customer_sessions_ended']) {
      const rows = await auditOf(`type=${type}`);
      assert.ok(
        rows.some((r) => r.actor_id?.startsWith('cli:')),
        `${type} recorded with the operator as actor`,
      );
    }
    const cliRows = await auditOf('type=cli.clients.revoke-all');
    assert.equal(cliRows.length, 0, 'one detailed event per action, not a second generic one');
  });
});
