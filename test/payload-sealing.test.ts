// Personal data at rest in oidc_payloads (BRIEF "Data protection"). After a real payment journey
// (PAR with payment_initiation, sign-in with SCA, consent in Chromium, code for tokens, refresh)
// no row holds the payee or payer IBAN, the creditor name or the amount in plaintext, neither in
// the JSONB nor inside a base64url JWT (the pushed request object), while the token response,
// introspection and refresh still return the approved authorization_details. The sealed fields
// name their key: after ENCRYPTION_KEY is rotated old rows still open and new ones use the new
// key. The fields other code queries (accountId, clientId, grantId, session) stay plain, and a
// token without authorization_details is stored exactly as oidc-provider gave it.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { createAdapterClass } from '../src/oidc/adapter.ts';
import { DecryptionError } from '../src/security/encryption.ts';
import {
  approveConsent,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  type StartedAuthorization,
  startAuthorization,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { insecure, introspect, type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';

const PAYEE_IBAN = 'GB82WEST12345698765432';
const PAYER_IBAN = 'DE89370400440532013000';
const CREDITOR = 'Zebra Quill Roasters';
const AMOUNT = '4321.09';
const PERSONAL = [PAYEE_IBAN, PAYER_IBAN, CREDITOR, AMOUNT];
const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { amount: AMOUNT, currency: 'EUR' },
  creditorName: CREDITOR,
  creditorAccount: { iban: PAYEE_IBAN },
};

interface StoredRow {
  model: string;
  id: string;
  payload: Record<string, unknown>;
  text: string;
}

/** Every JWT inside `text`, decoded: base64url hides nothing from whoever reads the table. */
const decodedJwts = (text: string) =>
  (text.match(/eyJ[\w-]*(?:\.[\w-]*){1,2}/g) ?? [])
    .flatMap((jwt) => jwt.split('.'))
    .map((part) => Buffer.from(part, 'base64url').toString('latin1'))
    .join('\n');

describe('personal data sealed in oidc_payloads', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let customer: TestCustomer;
  let browser: Browser;
  const knex = () => server.server.services.db.knex;

  before(async () => {
    server = await startTestServer();
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { authorization_details_types: ['payment_initiation'] });
    customer = await createCustomer(
      server,
      [{ iban: PAYER_IBAN, name: 'Everyday account', currency: 'EUR' }],
      undefined,
      undefined,
      {
        totp: true,
      },
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  async function storedRows(): Promise<StoredRow[]> {
    const rows: { model: string; id: string; payload: unknown; text: string }[] = await knex()('oidc_payloads')
      .select('model', 'id', 'payload', knex().raw('payload::text AS text'))
      .whereNot('model', 'ReplayDetection');
    return rows.map((r) => ({
      model: r.model,
      id: r.id,
      payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as Record<string, unknown>,
      text: r.text,
    }));
  }

  /** No row shows an IBAN, the payee's name or the amount; the fields that carry them are sealed. */
  async function assertSealed(stage: string, expected: Record<string, string[]>): Promise<StoredRow[]> {
    const rows = await storedRows();
    for (const row of rows) {
      const readable = `${row.text}\n${decodedJwts(row.text)}`;
      for (const value of PERSONAL)
        assert.ok(!readable.includes(value), `${stage}: the ${row.model} row holds ${value} in plaintext`);
    }
    const kid = server.config.ENCRYPTION_KEY_ID;
    for (const [model, fields] of Object.entries(expected)) {
      const ofModel = rows.filter((r) => r.model === model);
      assert.ok(ofModel.length > 0, `${stage}: a ${model} row exists`);
      for (const row of ofModel) {
        for (const field of fields)
          assert.match(String(row.payload[field]), new RegExp(`^v1\\.${kid}\\.`), `${stage}: ${model}.${field}`);
      }
    }
    return rows;
  }

  async function refresh(started: StartedAuthorization, refreshToken: string): Promise<oauth.TokenEndpointResponse> {
    const send = () =>
      oauth.refreshTokenGrantRequest(started.as, tpp.client, tpp.auth, refreshToken, { ...insecure, DPoP: started.dpop });
    try {
      return await oauth.processRefreshTokenResponse(started.as, tpp.client, await send());
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      return oauth.processRefreshTokenResponse(started.as, tpp.client, await send());
    }
  }

  let started: StartedAuthorization;
  let approved: unknown[];
  let latest: oauth.TokenEndpointResponse;

  test('a payment journey leaves no IBAN, payee name or amount in plaintext; introspection and refresh still return them', async () => {
    const { page, context } = await newPage(browser);
    try {
      started = await startAuthorization(server, tpp, {
        scope: 'openid payments',
        resource: rs.resource,
        authorization_details: [PAYMENT],
      });
      await assertSealed('after PAR', { PushedAuthorizationRequest: ['request'] });

      const { received } = await interceptCallback(page, started.redirectUri);
      await page.goto(started.url);
      await completeLogin(page, customer.username, customer.password, customer.totp);
      assert.match(String(await page.locator('main').textContent()), new RegExp(CREDITOR), 'the consent page shows the payee');
      await assertSealed('on the consent page', { Interaction: ['params', 'prompt'] });
      // The incident and erasure queries still find the customer's interaction and session.
      const customerId = customer.customer.id;
      assert.equal((await knex()('oidc_payloads').whereRaw("payload->'session'->>'accountId' = ?", [customerId])).length, 1);
      assert.equal(
        (await knex()('oidc_payloads').where('model', 'Session').whereRaw("payload->>'accountId' = ?", [customerId])).length,
        1,
      );

      await approveConsent(page, ['Everyday account']);
      const tokens = await exchangeCode(started, await received);
      approved = tokens.authorization_details as unknown[];
      assert.equal((approved[0] as { creditorAccount: { iban: string } }).creditorAccount.iban, PAYEE_IBAN);
      assert.equal((approved[0] as { debtorAccount: { iban: string } }).debtorAccount.iban, PAYER_IBAN);
      const rows = await assertSealed('after the code exchange', {
        Grant: ['rar'],
        AuthorizationCode: ['rar'],
        AccessToken: ['rar'],
        RefreshToken: ['rar'],
      });
      const grantIds = await knex()('oidc_payloads')
        .whereIn('model', ['AccessToken', 'RefreshToken', 'AuthorizationCode'])
        .whereRaw("payload->>'accountId' = ? AND payload->>'clientId' = ?", [customerId, tpp.clientId])
        .pluck('grant_id');
      assert.deepEqual(
        new Set(grantIds),
        new Set(rows.filter((r) => r.model === 'Grant').map((r) => r.id)),
        'accountId, clientId and grantId stay plain',
      );

      const info = await introspect(started.as, rs, tokens.access_token);
      assert.equal(info.active, true);
      assert.deepEqual(info.authorization_details, approved);

      latest = await refresh(started, tokens.refresh_token as string);
      assert.deepEqual(latest.authorization_details, approved);
      assert.deepEqual((await introspect(started.as, rs, latest.access_token)).authorization_details, approved);
      await assertSealed('after a refresh', { Grant: ['rar'], AccessToken: ['rar'], RefreshToken: ['rar'] });
    } finally {
      await context.close();
    }
  });

  test('after ENCRYPTION_KEY is rotated, rows sealed under the retired key still open; new rows use the new key', async () => {
    assert.ok(latest, 'the journey ran');
    const retiredKid = server.config.ENCRYPTION_KEY_ID;
    const retired = `${retiredKid}:${server.config.ENCRYPTION_KEY}`;
    const before = new Set((await storedRows()).map((r) => `${r.model}:${r.id}`));
    await server.restart({
      ENCRYPTION_KEY_ID: 'rotated',
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      ENCRYPTION_KEYS_PREVIOUS: retired,
    });

    assert.deepEqual((await introspect(started.as, rs, latest.access_token)).authorization_details, approved);
    const next = await refresh(started, latest.refresh_token as string);
    assert.deepEqual(next.authorization_details, approved);
    assert.deepEqual((await introspect(started.as, rs, next.access_token)).authorization_details, approved);

    const rows = await storedRows();
    const fresh = rows.filter(
      (r) => !before.has(`${r.model}:${r.id}`) && (r.model === 'AccessToken' || r.model === 'RefreshToken'),
    );
    assert.equal(fresh.length, 2, 'the refresh stored a new access and refresh token');
    for (const row of fresh) assert.match(String(row.payload.rar), /^v1\.rotated\./);
    const grant = rows.find((r) => r.model === 'Grant');
    assert.match(
      String(grant?.payload.rar),
      new RegExp(`^v1\\.${retiredKid}\\.`),
      'the grant is still sealed under the retired key',
    );
  });

  describe('the adapter', () => {
    const adapter = (model: string) => {
      const { services } = server.server;
      const Adapter = createAdapterClass({
        knex: services.db.knex,
        clients: services.clients,
        cipher: services.cipher,
        refreshReuseWindowSeconds: 60,
      });
      return new Adapter(model);
    };
    const stored = async (model: string, id: string) => {
      const row = await knex()('oidc_payloads').where({ model, id }).first();
      return (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as Record<string, unknown>;
    };
    /** Writes an access token row as given, past the adapter (no sealing). */
    const storeUnsealed = (payload: { jti: string; grantId: string }) =>
      knex()('oidc_payloads').insert({
        model: 'AccessToken',
        id: payload.jti,
        payload: JSON.stringify(payload),
        grant_id: payload.grantId,
        expires_at: new Date(Date.now() + 60_000),
      });
    const token = (grantId: string, extra: Record<string, unknown> = {}) => ({
      jti: randomUUID(),
      kind: 'AccessToken',
      grantId,
      clientId: tpp.clientId,
      accountId: customer.customer.id,
      scope: 'payments',
      iat: Math.floor(Date.now() / 1000),
      ...extra,
    });

    test('a token without authorization_details is stored exactly as given: nothing sealed, nothing added', async () => {
      const payload = token(`grant-${randomUUID()}`);
      await adapter('AccessToken').upsert(payload.jti, payload, 60);
      assert.deepEqual(await stored('AccessToken', payload.jti), payload);
      assert.deepEqual(await adapter('AccessToken').find(payload.jti), payload);
    });

    test('a row stored in plaintext before sealing existed still reads', async () => {
      const payload = token(`grant-${randomUUID()}`, { rar: [PAYMENT] });
      await storeUnsealed(payload);
      assert.deepEqual(await adapter('AccessToken').find(payload.jti), payload);
    });

    test("a sealed rar copied into another grant's token does not open", async () => {
      const original = token(`grant-${randomUUID()}`, { rar: [PAYMENT] });
      await adapter('AccessToken').upsert(original.jti, original, 60);
      const sealed = (await stored('AccessToken', original.jti)).rar;
      assert.match(String(sealed), /^v1\./);
      assert.deepEqual(await adapter('AccessToken').find(original.jti), original);

      const forged = token(`grant-${randomUUID()}`, { rar: sealed });
      await storeUnsealed(forged);
      await assert.rejects(adapter('AccessToken').find(forged.jti), DecryptionError);
    });

    test('a NUL inside authorization_details is still refused (400), sealed or not', async () => {
      const payload = token(`grant-${randomUUID()}`, { rar: [{ ...PAYMENT, creditorName: 'a\0b' }] });
      await assert.rejects(adapter('AccessToken').upsert(payload.jti, payload, 60), {
        statusCode: 400,
        error: 'invalid_request',
      });
    });
  });
});
