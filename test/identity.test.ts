// An OpenID Connect sign-in and nothing more (no authorization_details, no resource): the customer
// confirms who they are to the TPP on a page that says the app gets nothing of the bank's. The
// access token is for the userinfo endpoint alone (sub only), no refresh token outlives the
// request, no consent record is made, and the confirmation is in the audit log.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import {
  assertErrorCallback,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  rejectConsent,
  screenshot,
  shown,
  startAuthorization,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { insecure, registerTpp, type Tpp } from './support/tpp.ts';

describe('identity-only sign-in (scope openid, no authorization_details)', () => {
  let server: TestServer;
  let tpp: Tpp;
  let psu: TestCustomer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    tpp = await registerTpp(server);
    psu = await createCustomer(server, [{ iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' }]);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server.close();
  });

  test('the page says what the app gets; allowed, the ID token and userinfo carry sub only, and no refresh token', async () => {
    const since = new Date();
    const { context, page } = await newPage(browser);
    try {
      const started = await startAuthorization(server, tpp, { scope: 'openid offline_access', nonce: 'n-0S6_WzA2Mj' });
      const { received } = await interceptCallback(page, started.redirectUri);
      await page.goto(started.url);
      await completeLogin(page, psu.username, psu.password);
      await page.getByRole('heading', { name: 'Confirm who you are' }).waitFor();
      const text = await shown(page);
      assert.match(text, /Test Fintech asks to confirm who you are/);
      assert.match(text, /nothing about your accounts, balances or payments/);
      assert.doesNotMatch(text, /Everyday account|DE89/);
      await screenshot(page, 'consent-identity');
      await page.getByRole('button', { name: 'Allow' }).click();
      const tokens = await exchangeCode(started, await received);

      assert.equal(tokens.refresh_token, undefined, 'no refresh token without a consent');
      const idToken = decodeJwt(tokens.id_token as string);
      assert.equal(idToken.sub, psu.customer.id);
      assert.equal(idToken.nonce, 'n-0S6_WzA2Mj');

      const as = started.as;
      const response = await oauth.userInfoRequest(as, tpp.client, tokens.access_token, { ...insecure, DPoP: started.dpop });
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { sub: psu.customer.id });

      const consents = await server.server.services.db.knex('consents').where({ customer_id: psu.customer.id });
      assert.equal(consents.length, 0, 'no consent record: nothing of the bank is shared');
      const [shared] = await server.server.services.audit.query({ type: 'identity.shared', since, limit: 5 });
      assert.equal(shared?.customer_id, psu.customer.id);
      assert.equal(shared?.client_id, tpp.clientId);
    } finally {
      await context.close();
    }
  });

  test('denied, the TPP gets access_denied with iss', async () => {
    const { context, page } = await newPage(browser);
    try {
      const started = await startAuthorization(server, tpp, { scope: 'openid' });
      const { received } = await interceptCallback(page, started.redirectUri);
      await page.goto(started.url);
      await completeLogin(page, psu.username, psu.password);
      await rejectConsent(page);
      assertErrorCallback(await received, { error: 'access_denied', issuer: server.issuer });
    } finally {
      await context.close();
    }
  });
});
