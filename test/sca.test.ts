// PSD2 strong customer authentication in real Chromium between a real TPP (oauth4webapi) and a
// real resource server: a customer enrols an authenticator app on the dashboard (the test reads
// the seed from the page and computes codes with otplib), then payments ask for password + code
// with the amount and payee beside the code field and yield acr=sca; a ca session is stepped up;
// account access needs SCA on first access and again after 180 days; an idle session is not
// reused for SCA; a payment changed after SCA is refused (dynamic linking); codes never replay.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Browser, Page } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import type { AuthorizationDetail } from '../src/consents/authorization-details.ts';
import { ACR_CA as CA, ACR_SCA as SCA } from '../src/oidc/acr.ts';
import {
  ACR_CLAIMS,
  approveConsent,
  assertErrorCallback,
  beginAuthorization,
  CODE_LABEL,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  screenshot,
  shown,
  signInWithPassword,
  startAuthorization,
  submitCode,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TotpDevice } from './support/totp.ts';
import { introspect, type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const PAYEE_IBAN = 'GB82WEST12345698765432';
const RAR_TYPES = { authorization_details_types: ['account_information', 'payment_initiation'] };

const payment = (amount = '12.34') => ({
  type: 'payment_initiation',
  instructedAmount: { amount, currency: 'EUR' },
  creditorName: 'Corner Shop GmbH',
  creditorAccount: { iban: PAYEE_IBAN },
  remittanceInformation: 'Invoice 2025-042',
});
const accountInformation = () => ({ type: 'account_information', permissions: ['accounts', 'balances'] });

/** acr_values with amr requested through the claims parameter. */
const acrValues = (value: string) => ({ acr_values: value, claims: JSON.stringify({ id_token: { amr: null } }) });

const onFactorPage = (page: Page) =>
  /\/interaction\/[^/]+(\/factor)?$/.test(new URL(page.url()).pathname) && page.getByLabel(CODE_LABEL).count();

describe('strong customer authentication in Chromium', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let browser: Browser;

  const knex = () => server.server.services.db.knex;
  const services = () => server.server.services;

  before(async () => {
    server = await startTestServer();
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { ...RAR_TYPES, client_name: 'Demo Fintech' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const begin = (page: Page, details: unknown[], params?: Record<string, string>) =>
    beginAuthorization(page, server, tpp, { details, resource: rs.resource, ...(params ? { params } : {}) });

  /** Moves the customer's bank session's authentication `seconds` into the past (RTS Art. 4(3)(d) tests). */
  async function ageSession(customerId: string, seconds: number) {
    const moved = await knex()('oidc_payloads')
      .where({ model: 'Session' })
      .whereRaw("payload->>'accountId' = ?", [customerId])
      .update({
        payload: knex().raw("jsonb_set(payload, '{loginTs}', to_jsonb((payload->>'loginTs')::bigint - ?))", [seconds]),
      });
    assert.equal(moved, 1, 'one bank session to age');
  }

  const idToken = (tokens: oauth.TokenEndpointResponse) => decodeJwt(tokens.id_token as string);

  test('discovery lists both PSD2 authentication classes', async () => {
    const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(discovery.acr_values_supported, [CA, SCA]);
    assert.ok((discovery.claims_supported as string[]).includes('amr'));
  });

  test('enrol an authenticator on the dashboard, then a payment asks for password + code beside amount and payee: acr sca, amr pwd+otp', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page } = await newPage(browser);
    // The dashboard: a customer without a second factor signs in with the password alone.
    await page.goto(`${server.issuer}/account/login`);
    await page.getByLabel('Username').fill(psu.username);
    await page.getByLabel('Password').fill(psu.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Sign-in and security' }).click();
    await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    assert.match(await shown(page), /You have no second factor yet/);
    await screenshot(page, 'account-security-empty');

    await page.getByRole('link', { name: 'Set up an authenticator app' }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    const qr = (await page.locator('img.qr').getAttribute('src')) ?? '';
    assert.match(qr, /^data:image\/png;base64,/, 'the QR code is rendered by the bank, no external service');
    assert.ok(await page.locator('img.qr').evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 100));
    const secret = ((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, '');
    assert.match(secret, /^[A-Z2-7]{32}$/, 'a 160-bit base32 seed, in text');
    const enrol = page.getByLabel('Enter the code the app shows now');
    assert.equal(await enrol.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await enrol.getAttribute('inputmode'), 'numeric');
    await screenshot(page, 'account-totp-enrol');
    // The seed is stored sealed (AES-256-GCM), never in clear.
    const row = await knex()('customer_factors').where({ customer_id: psu.customer.id }).first();
    assert.match(row.secret_encrypted, /^v1\./);
    assert.ok(!row.secret_encrypted.includes(secret));

    const device = new TotpDevice(secret);
    await enrol.fill(await device.next());
    await page.getByRole('button', { name: 'Turn on' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    const codes = await page.locator('.recovery-codes code').allTextContents();
    assert.equal(codes.length, 10);
    assert.ok(codes.every((c) => /^[a-z0-9]{5}-[a-z0-9]{5}$/.test(c)));
    const hashes = await knex()('customer_recovery_codes').where({ customer_id: psu.customer.id }).pluck('code_hash');
    assert.equal(hashes.length, 10);
    assert.ok(hashes.every((h: string) => /^[0-9a-f]{64}$/.test(h) && !codes.includes(h)));
    await screenshot(page, 'account-recovery-codes');
    await page.getByRole('link', { name: 'I have saved my codes' }).click();
    await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    assert.match(await shown(page), /Authenticator app[\s\S]*Time-based code[\s\S]*10 of 10 codes unused/);
    await screenshot(page, 'account-security');
    await context.close();

    // A TPP's payment: password, then the code, with the amount and payee beside the field.
    const tab = await newPage(browser);
    const { started, received } = await begin(tab.page, [payment()]);
    await signInWithPassword(tab.page, psu);
    assert.match(new URL(tab.page.url()).pathname, /\/factor$/);
    const field = tab.page.getByLabel(CODE_LABEL);
    assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
    assert.equal(await field.getAttribute('inputmode'), 'numeric');
    const summary = tab.page.locator('form .factor-payment');
    const summaryText = await shown(tab.page, 'form .factor-payment');
    for (const expected of ['€12.34', 'EUR', 'Corner Shop GmbH', 'GB82 WEST 1234 5698 7654 32']) {
      assert.ok(summaryText.includes(expected), `beside the code field: ${expected}`);
    }
    const [box, input] = [await summary.boundingBox(), await field.boundingBox()];
    assert.ok(
      box && input && box.x + box.width <= input.x && input.y < box.y + box.height,
      'the payment sits beside the code field',
    );
    assert.equal(await tab.page.locator('script, [style]').count(), 0, 'no inline script or style');
    assert.equal(
      await tab.page.getByRole('link', { name: 'Use another way to confirm' }).count(),
      0,
      'no recovery code for a payment',
    );
    await screenshot(tab.page, 'sca-factor-payment');

    assert.equal(await submitCode(tab.page, await device.next()), 303);
    await approveConsent(tab.page, ['Everyday account']);
    const tokens = await exchangeCode(started, await received);
    const claims = idToken(tokens);
    assert.equal(claims.acr, SCA);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['otp', 'pwd']);
    const introspection = await introspect(started.as, rs, tokens.access_token);
    assert.equal(introspection.active, true);
    const consent = await services().consents.get(introspection.consent_id as string);
    assert.ok(consent?.lastScaAt && Date.now() - consent.lastScaAt.getTime() < 60_000);
    assert.match(consent?.dynamicLink?.code ?? '', /^[A-Za-z0-9_-]{43}$/, 'the payment carries its authentication code');
    assert.deepEqual(consent?.dynamicLink?.amr, ['otp', 'pwd']);
    await tab.context.close();
  });

  test('step-up: a customer signed in with the password only (ca) is asked only for the code when sca is requested', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    // An account consent through this TPP from an earlier SCA: a repeat access needs one factor.
    const earlier = await services().consents.create({
      clientId: tpp.clientId,
      customerId: psu.customer.id,
      type: 'account_information',
      details: [accountInformation() as AuthorizationDetail],
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    await services().consents.authorise(earlier.id, {
      details: [{ ...accountInformation(), accounts: [{ iban: EVERYDAY.iban }] } as AuthorizationDetail],
      grantId: `grant-${earlier.id}`,
      scaAt: new Date(Date.now() - 10 * 86_400_000),
      expiresAt: new Date(Date.now() + 86_400_000),
    });
    const { context, page } = await newPage(browser);
    const first = await begin(page, [accountInformation()], acrValues(CA));
    await signInWithPassword(page, psu);
    await page.getByRole('button', { name: 'Allow' }).waitFor();
    await approveConsent(page, ['Everyday account']);
    const ca = idToken(await exchangeCode(first.started, await first.received));
    assert.equal(ca.acr, CA);
    assert.deepEqual(ca.amr, ['pwd']);

    const second = await begin(page, [accountInformation()], acrValues(SCA));
    assert.equal(await page.getByLabel('Username').count(), 0, 'not logged in again');
    assert.equal(await page.getByLabel(CODE_LABEL).count(), 1, 'only the missing factor is asked');
    await screenshot(page, 'sca-step-up');
    assert.equal(await submitCode(page, await (psu.totp as TotpDevice).next()), 303);
    await approveConsent(page, ['Everyday account']);
    const sca = idToken(await exchangeCode(second.started, await second.received));
    assert.equal(sca.acr, SCA);
    assert.deepEqual([...(sca.amr as string[])].sort(), ['otp', 'pwd']);
    assert.equal(sca.sub, ca.sub);
    await context.close();
  });

  test('account information: SCA on first access through a TPP, not on a repeat within 180 days, again after 180 days', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const journey = async (expectSca: boolean, name: string) => {
      const { context, page } = await newPage(browser);
      const { started, received } = await begin(page, [accountInformation()]);
      await signInWithPassword(page, psu);
      const asked = new URL(page.url()).pathname.endsWith('/factor');
      assert.equal(asked, expectSca, `${name}: second factor ${expectSca ? '' : 'not '}asked`);
      if (asked) {
        if (name === 'first access') await screenshot(page, 'sca-factor-account-information');
        assert.equal(await submitCode(page, await device.next()), 303);
      }
      await approveConsent(page, ['Everyday account']);
      const tokens = await exchangeCode(started, await received);
      await context.close();
      const claims = idToken(tokens);
      const consentId = (await introspect(started.as, rs, tokens.access_token)).consent_id as string;
      return { acr: claims.acr, consent: await services().consents.get(consentId) };
    };

    const first = await journey(true, 'first access');
    assert.equal(first.acr, SCA);
    const repeat = await journey(false, 'repeat within 180 days');
    assert.equal(repeat.acr, CA);
    // The repeat relies on the earlier SCA: its clock does not restart without one.
    assert.equal(repeat.consent?.lastScaAt?.getTime(), first.consent?.lastScaAt?.getTime());

    await knex()('consents')
      .where({ customer_id: psu.customer.id, client_id: tpp.clientId })
      .update({ last_sca_at: knex().raw("now() - interval '181 days'") });
    const renewed = await journey(true, 'after 180 days');
    assert.equal(renewed.acr, SCA);
    assert.ok(Date.now() - (renewed.consent?.lastScaAt?.getTime() ?? 0) < 60_000);
  });

  test('idle: a payment right after SCA asks only for the code; with the authentication 5 minutes old, password and code again', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const { context, page } = await newPage(browser);
    const pay = async () => {
      const { started, received } = await begin(page, [payment('5.00')]);
      return { started, received };
    };
    let flow = await pay();
    await completeLogin(page, psu.username, psu.password, device);
    await approveConsent(page, ['Everyday account']);
    await exchangeCode(flow.started, await flow.received);

    // Every payment is authenticated for itself (RTS Art. 5), even with a fresh SCA session.
    flow = await pay();
    assert.equal(await page.getByLabel('Username').count(), 0);
    assert.equal(await page.getByLabel(CODE_LABEL).count(), 1);
    assert.equal(await submitCode(page, await device.next()), 303);
    await approveConsent(page, ['Everyday account']);
    await exchangeCode(flow.started, await flow.received);

    // RTS Art. 4(3)(d): the session's authentication moved 5 minutes back.
    await ageSession(psu.customer.id, 301);
    flow = await pay();
    assert.equal(await page.getByLabel('Username').count(), 1, 'the idle session is not used: password again');
    await completeLogin(page, psu.username, psu.password, device);
    await approveConsent(page, ['Everyday account']);
    const claims = idToken(await exchangeCode(flow.started, await flow.received));
    assert.equal(claims.acr, SCA);
    assert.ok(Date.now() / 1000 - (claims.auth_time as number) < 60, 'a new authentication time');
    await context.close();
  });

  test('idle: after 5 minutes without activity the session serves nothing, not even a repeat or a silent request (RTS Art. 4(3)(d))', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const { context, page } = await newPage(browser);
    let flow = await begin(page, [accountInformation()]);
    await completeLogin(page, psu.username, psu.password, device);
    await approveConsent(page, ['Everyday account']);
    await exchangeCode(flow.started, await flow.received);
    // Inside the 5 minutes the session is used: a repeat within 180 days goes straight to consent.
    flow = await begin(page, [accountInformation()]);
    assert.equal(await page.getByLabel('Username').count(), 0, 'a fresh session is used');
    await approveConsent(page, ['Everyday account']);
    await exchangeCode(flow.started, await flow.received);

    await ageSession(psu.customer.id, 301);
    // The same repeat, which needs no SCA, now asks for the password again...
    flow = await begin(page, [accountInformation()]);
    assert.equal(await page.getByLabel('Username').count(), 1, 'the idle session is over: sign in again');
    // ...and a request that may not show a page gets login_required (with iss), not a silent code.
    const silent = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
      params: { prompt: 'none' },
    });
    const cookie = (await context.cookies(server.issuer)).map((c) => `${c.name}=${c.value}`).join('; ');
    const answer = await fetch(silent.url, { headers: { cookie }, redirect: 'manual' });
    assert.equal(answer.status, 303);
    assertErrorCallback(new URL(answer.headers.get('location') ?? ''), { error: 'login_required', issuer: server.issuer });
    await context.close();
  });

  test('replay: a code that signed in once is refused the second time', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const reused = await device.current();
    device.used();
    const first = await newPage(browser);
    await begin(first.page, [payment()]);
    await signInWithPassword(first.page, psu);
    assert.equal(await submitCode(first.page, reused), 303);
    await first.context.close();

    const second = await newPage(browser);
    await begin(second.page, [payment()]);
    await signInWithPassword(second.page, psu);
    assert.equal(await submitCode(second.page, reused), 401);
    assert.equal(await shown(second.page, '[role="alert"]'), LOGIN_FAILED);
    await screenshot(second.page, 'sca-factor-failed');
    assert.equal(await submitCode(second.page, await device.next()), 303);
    await second.context.close();
  });

  test('dynamic linking: a payment amount changed in the database after SCA gets no token (invalid_grant)', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const { context, page } = await newPage(browser);
    const { started, received } = await begin(page, [payment('20.00')]);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await approveConsent(page, ['Everyday account']);
    const callback = await received;
    const [consent] = (await services().consents.listForCustomer(psu.customer.id)).filter((c) => c.status === 'authorised');
    assert.ok(consent);
    await tamper(consent.id, (d) => ({ ...d, instructedAmount: { amount: '2000.00', currency: 'EUR' } }));
    const refused = await exchangeCode(started, callback).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof oauth.ResponseBodyError, String(refused));
    assert.equal(refused.error, 'invalid_grant');
    await context.close();
  });

  test('dynamic linking: a payee changed after the token was issued makes introspection inactive', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const { context, page } = await newPage(browser);
    const { started, received } = await begin(page, [payment('30.00')]);
    await completeLogin(page, psu.username, psu.password, psu.totp);
    await approveConsent(page, ['Everyday account']);
    const tokens = await exchangeCode(started, await received);
    const before = await introspect(started.as, rs, tokens.access_token);
    assert.equal(before.active, true);
    await tamper(before.consent_id as string, (d) => ({ ...d, creditorName: 'Mallory Ltd' }));
    assert.equal((await introspect(started.as, rs, tokens.access_token)).active, false);
    // Put back exactly as authenticated, the code matches again.
    await tamper(before.consent_id as string, (d) => ({ ...d, creditorName: 'Corner Shop GmbH' }));
    assert.equal((await introspect(started.as, rs, tokens.access_token)).active, true);
    await context.close();
  });

  /** Rewrites a consent's sealed details as someone with database access (and the key) could. */
  async function tamper(consentId: string, change: (detail: Record<string, unknown>) => Record<string, unknown>) {
    const consent = await services().consents.get(consentId);
    assert.ok(consent);
    const details = consent.details.map((d) => change(d as unknown as Record<string, unknown>));
    await knex()('consents')
      .where({ id: consentId })
      .update({ details_encrypted: services().cipher.encrypt(JSON.stringify(details), `consent:${consentId}`) });
  }

  test('no second factor: an sca request ends with unmet_authentication_requirements, a payment with access_denied (with iss)', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    for (const [details, params, error] of [
      [[accountInformation()], acrValues(SCA), 'unmet_authentication_requirements'],
      [[payment()], { claims: ACR_CLAIMS }, 'access_denied'],
    ] as const) {
      const { context, page } = await newPage(browser);
      const { started, received } = await begin(page, [...details], { ...params });
      await signInWithPassword(page, psu);
      await page.getByRole('heading', { name: 'A second factor is needed' }).waitFor();
      if (error === 'access_denied') await screenshot(page, 'sca-unavailable');
      await page.getByRole('button', { name: 'Go back to Demo Fintech' }).click();
      assertErrorCallback(await received, { error, issuer: server.issuer, state: started.state as string });
      await context.close();
    }
  });

  test('an essential acr the bank cannot reach is an error for the TPP, never a lower acr', async () => {
    const { context, page } = await newPage(browser);
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:loa:4'] } } });
    const started = await startAuthorization(server, tpp, {
      authorization_details: [accountInformation()],
      scope: 'openid accounts',
      resource: rs.resource,
      params: { claims },
    });
    const { received } = await interceptCallback(page);
    // Straight back to the TPP, no login page: Playwright reports the redirect chain's first
    // attempt at the unreachable TPP host as a failed navigation, then routes the retry.
    await page.goto(started.url).catch(() => undefined);
    const callback = await received;
    assert.equal(callback.searchParams.get('error'), 'unmet_authentication_requirements');
    assert.equal(callback.searchParams.get('iss'), server.issuer);
    await context.close();
  });

  test('a payment cannot be confirmed with a recovery code', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const [recovery] = await services().authentication.recoveryCodes.generate(psu.customer.id);
    const { context, page } = await newPage(browser);
    await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    assert.ok(await onFactorPage(page));
    const uid = new URL(page.url()).pathname.split('/')[2] as string;
    const csrf = (await page.locator('form.factor-form input[name="csrf"]').getAttribute('value')) as string;
    const response = await context.request.post(`${server.issuer}/interaction/${uid}/factor`, {
      form: { csrf, method: 'recovery', code: recovery as string },
      maxRedirects: 0,
    });
    assert.equal(response.status(), 401);
    assert.equal(await services().authentication.recoveryCodes.remaining(psu.customer.id), 10, 'the code was not even spent');
    await context.close();
  });
});
