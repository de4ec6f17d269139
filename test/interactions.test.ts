// The customer's login and consent pages in real Chromium, between a real TPP (oauth4webapi: PAR,
// PKCE S256, private_key_jwt, DPoP) and a real resource server (introspection): what the customer
// sees, what the TPP gets back, and what the consent record holds afterwards.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser, Page } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import {
  assertErrorCallback,
  authorizeInBrowser,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  rejectConsent,
  screenshot,
  shown,
  signInWithPassword,
  startAuthorization,
  submitForStatus,
  submitWith,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { introspect, type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const SAVINGS = { iban: 'DE02120300000000202051', name: 'Savings account', currency: 'EUR' };
const PAYEE_IBAN = 'GB82WEST12345698765432';
const RAR_TYPES = { authorization_details_types: ['account_information', 'payment_initiation'] };

const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

const accountInformation = () => ({
  type: 'account_information',
  permissions: ['accounts', 'balances', 'transactions'],
  expirationDateTime: inDays(30),
  frequencyPerDay: 4,
  transactionFromDateTime: '2025-01-01T00:00:00Z',
  transactionToDateTime: '2025-12-31T23:59:59Z',
});

const payment = (overrides: Record<string, unknown> = {}) => ({
  type: 'payment_initiation',
  instructedAmount: { amount: '12.34', currency: 'EUR' },
  creditorName: 'Corner Shop GmbH',
  creditorAccount: { iban: PAYEE_IBAN },
  remittanceInformation: 'Invoice 2025-042',
  ...overrides,
});

/** Statuses of the POSTs the page sends and of the redirects after them. */
function recordPosts(page: Page): { method: string; path: string; status: number; location?: string }[] {
  const seen: { method: string; path: string; status: number; location?: string }[] = [];
  page.on('response', (response) => {
    const request = response.request();
    if (request.method() !== 'POST') return;
    const location = response.headers().location;
    seen.push({
      method: request.method(),
      path: new URL(response.url()).pathname,
      status: response.status(),
      ...(location ? { location } : {}),
    });
  });
  return seen;
}

/** The consent id the account picker carries. */
const pickerConsentId = async (page: Page) =>
  (await page.locator('input[name="consent_id"]').getAttribute('value')) ?? assert.fail('no consent_id on the page');

describe('login and consent pages in Chromium', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let psu: TestCustomer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { ...RAR_TYPES, client_name: 'Demo Fintech', organisation_name: 'Demo Fintech Ltd' });
    psu = await createCustomer(server, [EVERYDAY, SAVINGS], undefined, undefined, { totp: true });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const consentOf = (id: string) => server.server.services.consents.get(id);

  test('account information: login, allow, pick one of two accounts; the token carries exactly that consent', async () => {
    const { context, page } = await newPage(browser);
    const posts = recordPosts(page);
    const details = accountInformation();
    const started = await startAuthorization(server, tpp, {
      authorization_details: [details],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);

    const login = await page.goto(started.url);
    assert.equal(login?.status(), 200);
    assert.match(login?.headers()['content-security-policy'] ?? '', /default-src 'none'/);
    await page.getByText('Demo Fintech wants to connect to your bank').waitFor();
    assert.equal(await page.getByLabel('Username').getAttribute('autocomplete'), 'username');
    assert.equal(await page.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
    assert.equal(await page.locator('input[name="csrf"]').count(), 1);
    await screenshot(page, 'login');

    await completeLogin(page, psu.username, psu.password, psu.totp);
    const consentText = await shown(page);
    for (const expected of [
      'Demo Fintech asks for access to your bank',
      'Registered with the bank as Demo Fintech Ltd',
      'confirm your identity',
      'read account information',
      'See your account information',
      'your account names and numbers',
      'your balances',
      'your transactions',
      'from 1 January 2025 to 31 December 2025',
      'up to 4 times a day',
      'the accounts you choose in the next step',
    ]) {
      assert.ok(consentText.includes(expected), `the consent page shows "${expected}"`);
    }
    await screenshot(page, 'consent-account-information');

    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    assert.match(new URL(page.url()).pathname, /^\/interaction\/[^/]+\/accounts$/);
    const consentId = await pickerConsentId(page);
    assert.equal((await consentOf(consentId))?.status, 'awaiting_authorisation');
    const pickerText = await shown(page);
    assert.ok(pickerText.includes('DE89 3704 0044 0532 0130 00'));
    assert.ok(pickerText.includes('DE02 1203 0000 0000 2020 51'));
    assert.equal(await page.locator('input[type="checkbox"][name="account"]').count(), 2);
    await screenshot(page, 'consent-accounts');

    await page.getByLabel('Everyday account').check();
    await page.getByRole('button', { name: 'Approve' }).click();
    const callback = await received;
    assert.equal(callback.searchParams.get('iss'), server.issuer);
    assert.equal(callback.searchParams.get('state'), started.state);
    assert.ok(callback.searchParams.get('code'));

    // FAPI 2.0: every POST carrying the customer's credentials or decisions is answered with 303.
    const redirects = posts.filter((p) => p.status >= 300 && p.status < 400);
    assert.deepEqual(
      redirects.map((p) => [p.path.replace(/\/interaction\/[^/]+/, '/interaction/:uid'), p.status]),
      [
        ['/interaction/:uid/login', 303],
        ['/interaction/:uid/factor', 303],
        ['/interaction/:uid/consent', 303],
        ['/interaction/:uid/accounts', 303],
      ],
    );

    const tokens = await exchangeCode(started, callback);
    assert.equal(tokens.token_type, 'dpop');
    const introspection = await introspect(started.as, rs, tokens.access_token);
    assert.equal(introspection.active, true);
    assert.equal(introspection.consent_id, consentId);
    assert.equal(introspection.consent_status, 'authorised');
    assert.deepEqual(introspection.authorization_details, [{ ...details, accounts: [{ iban: EVERYDAY.iban }] }]);
    assert.equal((introspection.cnf as { jkt?: string }).jkt, await started.dpop.calculateThumbprint());

    const consent = await consentOf(consentId);
    assert.equal(consent?.status, 'authorised');
    assert.equal(consent?.customerId, psu.customer.id);
    assert.equal(consent?.clientId, tpp.clientId);
    assert.ok(consent?.lastScaAt);
    await context.close();
  });

  test('payment: the customer sees amount and payee exactly, picks the account to pay from', async () => {
    const { context, page } = await newPage(browser);
    const details = payment();
    const started = await startAuthorization(server, tpp, {
      authorization_details: [details],
      scope: 'openid payments',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);

    const consentText = await shown(page);
    for (const expected of [
      'Demo Fintech asks to make a payment',
      'Make a payment',
      'initiate payments',
      '€12.34 EUR',
      'Corner Shop GmbH',
      'GB82 WEST 1234 5698 7654 32',
      'Invoice 2025-042',
      'the account you choose in the next step',
    ]) {
      assert.ok(consentText.includes(expected), `the consent page shows "${expected}"`);
    }
    await screenshot(page, 'consent-payment-initiation');

    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    assert.ok((await shown(page)).includes('Pay €12.34 to Corner Shop GmbH'));
    assert.equal(await page.locator('input[type="radio"][name="account"]').count(), 2);
    await screenshot(page, 'consent-accounts-payment');
    await page.getByLabel('Savings account').check();
    await page.getByRole('button', { name: 'Approve' }).click();

    const callback = await received;
    const tokens = await exchangeCode(started, callback);
    const introspection = await introspect(started.as, rs, tokens.access_token);
    assert.equal(introspection.active, true);
    assert.equal(introspection.consent_status, 'authorised');
    assert.deepEqual(introspection.authorization_details, [{ ...details, debtorAccount: { iban: SAVINGS.iban } }]);
    const consent = await consentOf(introspection.consent_id as string);
    assert.equal(consent?.type, 'payment_initiation');
    await context.close();
  });

  test('accounts the request names are fixed: shown checked, and exactly those are approved', async () => {
    const { context, page } = await newPage(browser);
    const details = { ...accountInformation(), accounts: [{ iban: SAVINGS.iban }] };
    const started = await startAuthorization(server, tpp, {
      authorization_details: [details],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    assert.ok((await shown(page)).includes('DE02 1203 0000 0000 2020 51'));
    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    const choice = page.getByLabel('Savings account');
    assert.equal(await choice.isChecked(), true);
    assert.equal(await choice.isDisabled(), true);
    assert.equal(await page.getByLabel('Everyday account').count(), 0);
    await screenshot(page, 'consent-accounts-fixed');
    await page.getByRole('button', { name: 'Approve' }).click();
    const tokens = await exchangeCode(started, await received);
    const introspection = await introspect(started.as, rs, tokens.access_token);
    assert.deepEqual(introspection.authorization_details, [details]);
    await context.close();
  });

  test('approving without choosing an account shows the picker again with the reason, and nothing is granted', async () => {
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    const consentId = await pickerConsentId(page);
    assert.equal(await submitForStatus(page, page.getByRole('button', { name: 'Approve' }), /\/accounts$/), 400);
    assert.equal(await shown(page, '[role="alert"]'), 'Choose at least one account.');
    assert.equal(await page.locator('input[type="checkbox"][name="account"]').count(), 2);
    assert.equal((await consentOf(consentId))?.status, 'awaiting_authorisation');
    await screenshot(page, 'consent-accounts-problem');

    await page.getByLabel('Savings account').check();
    await page.getByRole('button', { name: 'Approve' }).click();
    assert.ok((await received).searchParams.get('code'));
    assert.equal((await consentOf(consentId))?.status, 'authorised');
    await context.close();
  });

  test('denial on the consent page: access_denied with iss and state reaches the TPP, no consent is made', async () => {
    const { context, page } = await newPage(browser);
    const before = (await server.server.services.consents.listForCustomer(psu.customer.id)).length;
    const started = await startAuthorization(server, tpp, {
      authorization_details: [payment()],
      scope: 'openid payments',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await rejectConsent(page);
    const callback = await received;
    assertErrorCallback(callback, { error: 'access_denied', issuer: server.issuer, state: started.state as string });
    assert.equal(callback.searchParams.get('error_description'), 'The customer rejected the request');
    assert.throws(
      () => oauth.validateAuthResponse(started.as, tpp.client, callback, started.state as string),
      (err: unknown) => err instanceof oauth.AuthorizationResponseError && err.error === 'access_denied',
    );
    assert.equal((await server.server.services.consents.listForCustomer(psu.customer.id)).length, before);
    await context.close();
  });

  test('denial on the account picker: the consent becomes rejected and the TPP gets access_denied', async () => {
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    const consentId = await pickerConsentId(page);
    await rejectConsent(page);
    const callback = await received;
    assert.equal(callback.searchParams.get('error'), 'access_denied');
    assert.equal(callback.searchParams.get('iss'), server.issuer);
    assert.equal((await consentOf(consentId))?.status, 'rejected');
    await context.close();
  });

  test('a wrong password or an unknown user: 401, only the generic message, the username kept, no redirect', async () => {
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    let redirected = false;
    await page.route(
      (url) => url.hostname === 'tpp.example',
      (route) => {
        redirected = true;
        return route.abort();
      },
    );
    await page.goto(started.url);
    const since = new Date();
    for (const [username, password] of [
      [psu.username, 'not-the-password'],
      ['nobody-by-this-name', 'whatever'],
    ] as const) {
      assert.equal(await signInWithPassword(page, { username, password }), 401);
      assert.equal(await shown(page, '[role="alert"]'), LOGIN_FAILED);
      assert.equal(await page.getByLabel('Username').inputValue(), username);
      assert.equal(await page.getByLabel('Password').inputValue(), '');
      const text = await shown(page);
      assert.doesNotMatch(text, /unknown|not found|incorrect|wrong|locked/i);
    }
    await screenshot(page, 'login-failed');
    assert.equal(redirected, false);
    // The same interaction still signs in with the right password.
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await page.getByText('Demo Fintech asks for access to your bank').waitFor();

    // Each attempt is in the audit log; the typed username only among the erasable personal data.
    const events = await server.server.services.audit.query({ type: 'customer.login', since, limit: 10 });
    assert.deepEqual(
      events.map((e) => [e.outcome, e.actor_type, e.customer_id, e.personal?.username ?? null]),
      [
        ['failure', 'anonymous', null, psu.username],
        ['failure', 'anonymous', null, 'nobody-by-this-name'],
        ['success', 'customer', psu.customer.id, null],
      ],
    );
    assert.ok(events.every((e) => e.client_id === tpp.clientId && !JSON.stringify(e).includes('not-the-password')));
    await context.close();
  });

  test('CSRF: consent and account POSTs without a valid token are 403 and change nothing', async () => {
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    const consentId = await pickerConsentId(page);
    const pendingBefore = (await server.server.services.consents.listForCustomer(psu.customer.id)).filter(
      (c) => c.status === 'awaiting_authorisation',
    ).length;
    const base = new URL(page.url());
    const uidPath = base.pathname.replace(/\/accounts$/, '');
    const everyday = psu.accounts[0]?.id as string;

    // The browser's own cookies (interaction, CSRF) go with these requests: only the token is missing or wrong.
    const attempts: [string, Record<string, string>][] = [
      [`${uidPath}/consent`, { action: 'reject', consent_id: consentId }],
      [`${uidPath}/consent`, { action: 'reject', consent_id: consentId, csrf: 'forged' }],
      [`${uidPath}/consent`, { action: 'accept' }],
      [`${uidPath}/accounts`, { consent_id: consentId, account: everyday }],
      [`${uidPath}/accounts`, { consent_id: consentId, account: everyday, csrf: 'x'.repeat(43) }],
      [`${uidPath}/login`, { username: psu.username, password: psu.password }],
    ];
    for (const [path, form] of attempts) {
      const response = await context.request.post(`${server.issuer}${path}`, { form, maxRedirects: 0 });
      assert.equal(response.status(), 403, `${path} ${JSON.stringify(form)}`);
      assert.match(await response.text(), /This form has expired or was not sent from this site/);
    }
    const consents = await server.server.services.consents.listForCustomer(psu.customer.id);
    assert.equal(consents.find((c) => c.id === consentId)?.status, 'awaiting_authorisation');
    // No consent was created by the forged "accept" either.
    assert.equal(consents.filter((c) => c.status === 'awaiting_authorisation').length, pendingBefore);

    // A CSRF token of another interaction does not fit this one either.
    const csrf = (await page.locator('input[name="csrf"]').getAttribute('value')) as string;
    const other = await context.request.post(`${server.issuer}/interaction/another-uid/consent`, {
      form: { action: 'accept', csrf },
      maxRedirects: 0,
    });
    assert.equal(other.status(), 403);

    // The page's own form still works afterwards.
    await page.getByLabel('Everyday account').check();
    await page.getByRole('button', { name: 'Approve' }).click();
    assert.ok((await received).searchParams.get('code'));
    assert.equal((await consentOf(consentId))?.status, 'authorised');
    await context.close();
  });

  test('a consent id that is not this request’s pending consent is refused', async () => {
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await submitWith(page, page.getByRole('button', { name: 'Allow' }));
    const picker = new URL(page.url());
    // An authorised consent of the same customer and client (from an earlier test) is not pending.
    const authorised = (await server.server.services.consents.listForCustomer(psu.customer.id)).find(
      (c) => c.status === 'authorised',
    );
    for (const consentId of ['00000000-0000-4000-8000-000000000000', 'not-a-uuid', authorised?.id ?? '']) {
      picker.searchParams.set('consent_id', consentId);
      const response = await page.goto(picker.href);
      assert.equal(response?.status(), 400, consentId);
      assert.ok((await shown(page)).includes('This request can no longer be approved'));
    }
    await context.close();
  });

  test('a request for a bank scope of no consent kind, without authorization_details, goes back to the TPP as invalid_authorization_details', async () => {
    // A consent scope (`accounts`, `payments`) without its detail never gets this far: PAR refuses
    // it with invalid_scope (test/consent-scopes.test.ts). A resource server's own scope does.
    const own = await registerResourceServer(server, { scopes: ['accounts', 'fx_rates'] });
    const { context, page } = await newPage(browser);
    const started = await startAuthorization(server, tpp, { scope: 'openid fx_rates', resource: own.resource });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    const callback = await received;
    assert.equal(callback.searchParams.get('error'), 'invalid_authorization_details');
    assert.equal(callback.searchParams.get('iss'), server.issuer);
    assert.equal(callback.searchParams.get('state'), started.state);
    await context.close();
  });

  test('an unknown or expired interaction: an HTML error page with status 400', async () => {
    const { context, page } = await newPage(browser);
    const response = await page.goto(`${server.issuer}/interaction/no-such-interaction`);
    assert.equal(response?.status(), 400);
    assert.match(response?.headers()['content-type'] ?? '', /^text\/html/);
    assert.ok((await shown(page)).includes('This sign-in has expired or was already completed'));
    await screenshot(page, 'interaction-error');
    await context.close();
  });

  test('everything the TPP controls is shown as text, never as markup', async () => {
    const hostile = await registerTpp(server, {
      ...RAR_TYPES,
      client_name: '<script>alert("name")</script> Fintech',
      organisation_name: '<i>Org</i> & Co',
      logo_uri: 'https://tpp.example/logo.svg',
    });
    const { context, page } = await newPage(browser);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await page.route('https://tpp.example/logo.svg', (route) =>
      route.fulfill({
        contentType: 'image/svg+xml',
        body: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48"><rect width="48" height="48" rx="8" fill="#0f766e"/></svg>',
      }),
    );
    const started = await startAuthorization(server, hostile, {
      authorization_details: [payment({ creditorName: '<b>Bold</b> Payee', remittanceInformation: '"><img src=x>' })],
      scope: 'openid payments',
      resource: rs.resource,
    });
    await page.goto(started.url);
    assert.ok((await shown(page)).includes('<script>alert("name")</script> Fintech wants to connect'));
    await completeLogin(page, psu.username, psu.password, psu.totp);
    const text = await shown(page);
    assert.ok(text.includes('<script>alert("name")</script> Fintech asks to make a payment'));
    assert.ok(text.includes('Registered with the bank as <i>Org</i> & Co'));
    assert.ok(text.includes('<b>Bold</b> Payee'));
    assert.ok(text.includes('"><img src=x>'));
    assert.equal(await page.locator('main script, main b, main i, main img[src="x"]').count(), 0);
    const logo = page.locator('img.tpp-logo');
    assert.equal(await logo.getAttribute('src'), 'https://tpp.example/logo.svg');
    assert.equal(await logo.getAttribute('alt'), '<script>alert("name")</script> Fintech');
    const html = await page.content();
    assert.ok(html.includes('&lt;b&gt;Bold&lt;/b&gt; Payee'));
    await screenshot(page, 'consent-escaping');
    assert.deepEqual(dialogs, []);
    await context.close();
  });

  test('the helper journey (used by other suites) ends with DPoP-bound tokens', async () => {
    const { context, page } = await newPage(browser);
    const journey = await authorizeInBrowser(page, server, tpp, psu, ['Savings account'], {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
    });
    assert.equal(journey.tokens.token_type, 'dpop');
    const introspection = await introspect(journey.started.as, rs, journey.tokens.access_token);
    const [approved] = introspection.authorization_details as unknown as { accounts: unknown }[];
    assert.deepEqual(approved?.accounts, [{ iban: SAVINGS.iban }]);
    await context.close();
  });
});
