// A factor enrolled after a recovery sign-in is held (PSD2 RTS Art. 4, 7: a recovery code restores
// access but never counts as the possession element of a payment, not even one step removed): in
// real Chromium, someone with the password and a recovery code signs in to the dashboard, sets up
// a new authenticator app or passkey, and tries to pay with it at once. The TPP gets what it gets
// for a customer without a second factor and the page says when the factor becomes usable; the
// factor signs in to the dashboard meanwhile; once the hold has passed (moved in the database) it
// pays with acr sca. A factor enrolled after a normal sign-in is never held.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import type { CustomerAlert } from '../src/accounts/notifications.ts';
import { ACR_SCA as SCA } from '../src/oidc/acr.ts';
import {
  ACR_CLAIMS,
  approveConsent,
  assertErrorCallback,
  beginAuthorization,
  CODE_LABEL,
  createCustomer,
  exchangeCode,
  launchBrowser,
  newPage,
  screenshot,
  shown,
  signInWithPassword,
  submitCode,
  submitWith,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TotpDevice } from './support/totp.ts';
import { type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';
import { KEY_BUTTON, touchKey, VirtualAuthenticator } from './support/webauthn.ts';
import { type WebhookReceiver, webhookReceiver } from './support/webhook.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const NOT_READY = 'Your new second factor is not ready yet';
const HOLD_HOURS = 24;

const payment = () => ({
  type: 'payment_initiation',
  instructedAmount: { amount: '12.34', currency: 'EUR' },
  creditorName: 'Corner Shop GmbH',
  creditorAccount: { iban: 'GB82WEST12345698765432' },
});
const accountInformation = () => ({ type: 'account_information', permissions: ['accounts', 'balances'] });
const SCA_VALUES = { acr_values: SCA };

/** "22 Nov 2026, 14:05 UTC", as the pages write a time. */
const SHOWN_TIME = /\d{1,2} \w{3} \d{4}, \d\d:\d\d UTC/;

describe('a factor enrolled after a recovery sign-in is held', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let browser: Browser;
  let hook: WebhookReceiver<CustomerAlert>;
  const services = () => server.server.services;
  const knex = () => services().db.knex;

  before(async () => {
    // The bank's messaging system, receiving the customer alerts.
    hook = await webhookReceiver<CustomerAlert>();
    // localhost: browsers refuse an IP address as a WebAuthn relying party.
    server = await startTestServer({
      issuerHost: 'localhost',
      env: { NOTIFY_WEBHOOK_URL: hook.url },
    });
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, {
      authorization_details_types: ['account_information', 'payment_initiation'],
      client_name: 'Demo Fintech',
    });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await hook?.close();
  });

  const begin = (page: Page, details: unknown[], params?: Record<string, string>) =>
    beginAuthorization(page, server, tpp, { details, resource: rs.resource, ...(params ? { params } : {}) });

  /** The dashboard's sign-in with the password and a recovery code (the phone is lost). */
  async function recoverySignIn(page: Page, psu: TestCustomer, recovery: string) {
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    await page.getByRole('link', { name: 'Use another way to confirm' }).click();
    await page.getByRole('link', { name: /Recovery code/ }).click();
    await page.getByLabel('Recovery code').fill(recovery);
    await submitWith(page, page.getByRole('button', { name: 'Confirm' }));
    assert.match(await shown(page), /You signed in with a recovery code/);
  }

  /** Sets up an authenticator app from the security page, as the customer does with a new phone. */
  async function enrolApp(page: Page): Promise<TotpDevice> {
    await page.getByRole('link', { name: /authenticator app/ }).click();
    await page.getByRole('heading', { name: 'Set up your authenticator app' }).waitFor();
    const device = new TotpDevice(((await page.locator('#totp-secret').textContent()) ?? '').replace(/\s/g, ''));
    await page.getByLabel('Enter the code the app shows now').fill(await device.next());
    await submitWith(page, page.getByRole('button', { name: 'Turn on' }));
    await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    return device;
  }

  /** The old, lost factor goes, removed in the same (fresh) session. */
  async function removeFactor(page: Page, factorId: string) {
    await submitWith(page, page.locator(`form[action="/account/security/factors/${factorId}/remove"] button`));
    assert.match(await shown(page), /The second factor was removed/);
  }

  /** A TPP request needing SCA from a customer whose every factor is held: no factor page, the time instead. */
  async function refusedWhileHeld(psu: TestCustomer, details: unknown[], params: Record<string, string>, error: string) {
    const { context, page } = await newPage(browser);
    const { started, received } = await begin(page, details, params);
    await signInWithPassword(page, psu);
    await page.getByRole('heading', { name: NOT_READY }).waitFor();
    const text = await shown(page);
    const until = SHOWN_TIME.exec(text)?.[0];
    assert.ok(until, 'the page says when the factor becomes usable');
    assert.match(text, /can confirm payments and app connections only from/);
    assert.equal(await page.getByLabel(CODE_LABEL).count(), 0, 'no code field');
    assert.equal(await page.locator('script, [style]').count(), 0, 'no inline script or style');
    if (error === 'access_denied') await screenshot(page, 'sca-factor-held');
    await page.getByRole('button', { name: 'Go back to Demo Fintech' }).click();
    assertErrorCallback(await received, { error, issuer: server.issuer, state: started.state as string });
    await context.close();
    return until;
  }

  /** A payment confirmed with the app's code: the ID token's acr and amr. */
  async function pay(psu: TestCustomer, device: TotpDevice) {
    const { context, page } = await newPage(browser);
    const { started, received } = await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    assert.equal(await submitCode(page, await device.next()), 303);
    await approveConsent(page, ['Everyday account']);
    const claims = decodeJwt((await exchangeCode(started, await received)).id_token as string);
    await context.close();
    return claims;
  }

  const heldUntilOf = async (factorId: string) =>
    (await knex()('customer_factors').where({ id: factorId }).first('held_until')).held_until as Date | null;
  const endHolds = (customerId: string) =>
    knex()('customer_factors')
      .where({ customer_id: customerId })
      .whereNotNull('held_until')
      .update({ held_until: knex().raw("now() - interval '1 minute'") });

  test('recovery sign-in, new authenticator app: it signs in at once but confirms no payment until the hold ends (access_denied with iss, the page says when), then acr sca', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const [lost] = await services().authentication.factors.list(psu.customer.id);
    const [recovery] = await services().authentication.recoveryCodes.generate(psu.customer.id);
    assert.ok(lost && recovery);
    const { context, page } = await newPage(browser);
    await recoverySignIn(page, psu, recovery);
    const phone = await enrolApp(page);
    assert.match(await shown(page), /Because you signed in with a recovery code, it can confirm payments/);
    const [, added] = await services().authentication.factors.list(psu.customer.id);
    assert.ok(added);
    const heldUntil = await heldUntilOf(added.id);
    assert.ok(heldUntil, 'held in the database');
    const hours = (new Date(heldUntil).getTime() - Date.now()) / 3_600_000;
    assert.ok(hours > HOLD_HOURS - 0.1 && hours <= HOLD_HOURS, `held for ${HOLD_HOURS} hours, got ${hours}`);
    const listed = await shown(page, `article:has(#factor-${added.id})`);
    assert.match(listed, new RegExp(`confirm payments and app connections from ${SHOWN_TIME.source}`));
    assert.doesNotMatch(await shown(page, `article:has(#factor-${lost.id})`), /confirm payments/, 'the old one is not held');
    await screenshot(page, 'account-security-held');

    // Audited with the hold, and the customer alerted (it may be someone holding a recovery code).
    const [enrolled] = await services().audit.query({ type: 'customer.factor_enrolled', customerId: psu.customer.id, limit: 5 });
    assert.equal(enrolled?.details.factor_id, added.id);
    assert.equal(enrolled?.details.held_until, new Date(heldUntil).toISOString());
    // Delivered in the background: waited for, up to 5 s on a busy machine.
    await hook.arrival((a) => a.customerId === psu.customer.id);
    assert.deepEqual(
      hook.received.filter((a) => a.customerId === psu.customer.id).map((a) => ({ ...a, occurredAt: undefined })),
      [
        {
          type: 'customer.factor_held',
          customerId: psu.customer.id,
          username: psu.username,
          factorKind: 'totp',
          heldUntil: new Date(heldUntil).toISOString(),
          occurredAt: undefined,
        },
      ],
    );

    // With the old factor still there, the new phone's code (unused, valid) does not confirm a payment.
    {
      const tab = await newPage(browser);
      await begin(tab.page, [payment()]);
      await signInWithPassword(tab.page, psu);
      assert.equal(await submitCode(tab.page, await phone.current()), 401);
      assert.equal(await shown(tab.page, '[role="alert"]'), LOGIN_FAILED);
      await tab.context.close();
    }

    // The lost phone is removed: every factor left is held. A payment, and account access with sca.
    await removeFactor(page, lost.id);
    await context.close();
    const until = await refusedWhileHeld(psu, [payment()], { claims: ACR_CLAIMS }, 'access_denied');
    await refusedWhileHeld(psu, [accountInformation()], SCA_VALUES, 'unmet_authentication_requirements');
    const rounded = Math.ceil(new Date(heldUntil).getTime() / 60_000) * 60_000;
    assert.equal(
      until,
      `${new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' }).format(rounded)} UTC`,
    );

    // Meanwhile the held factor signs in to the dashboard; a factor enrolled there is held too
    // (its session stands on the recovery code), so a second one cannot skip the wait.
    const again = await newPage(browser);
    await again.page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(again.page, psu);
    assert.equal(await submitCode(again.page, await phone.next()), 303);
    await again.page.getByRole('link', { name: 'Sign-in and security' }).click();
    await again.page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    await enrolApp(again.page);
    const factors = await services().authentication.factors.list(psu.customer.id);
    assert.equal(factors.length, 2);
    assert.ok(
      factors.every((f) => f.heldUntil),
      'both held',
    );
    await again.context.close();
    await refusedWhileHeld(psu, [payment()], { claims: ACR_CLAIMS }, 'access_denied');

    // The hold has passed: the same phone confirms a payment.
    await endHolds(psu.customer.id);
    const claims = await pay(psu, phone);
    assert.equal(claims.acr, SCA);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['otp', 'pwd']);
  });

  test('a factor enrolled after a normal sign-in (password and second factor) is never held: it confirms a payment at once', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    await services().authentication.recoveryCodes.generate(psu.customer.id);
    const { context, page } = await newPage(browser);
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    assert.equal(await submitCode(page, await (psu.totp as TotpDevice).next()), 303);
    await page.getByRole('link', { name: 'Sign-in and security' }).click();
    const phone = await enrolApp(page);
    assert.match(await shown(page), /Your authenticator app is set up/);
    assert.doesNotMatch(await shown(page), /confirm payments and app connections from/);
    await context.close();
    const [, added] = await services().authentication.factors.list(psu.customer.id);
    assert.ok(added);
    assert.equal(await heldUntilOf(added.id), null);
    assert.equal(added.heldUntil, null);
    const [enrolled] = await services().audit.query({ type: 'customer.factor_enrolled', customerId: psu.customer.id, limit: 5 });
    assert.equal(enrolled?.details.held_until, null);
    assert.ok(!hook.received.some((a) => a.customerId === psu.customer.id), 'no alert');

    const claims = await pay(psu, phone);
    assert.equal(claims.acr, SCA);
  });

  test('recovery sign-in, new passkey: held for payments (the key is not even offered), signs in to the dashboard, pays once an operator releases the hold', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const [lost] = await services().authentication.factors.list(psu.customer.id);
    const [recovery] = await services().authentication.recoveryCodes.generate(psu.customer.id);
    assert.ok(lost && recovery);
    const { context, page } = await newPage(browser);
    await VirtualAuthenticator.attach(page);
    await recoverySignIn(page, psu, recovery);
    await page.getByRole('link', { name: 'Add a security key or passkey' }).click();
    await page.getByLabel('Name for this key').fill('New laptop');
    // The page's script creates the credential, then posts it.
    await page.getByRole('button', { name: 'Add security key or passkey' }).click();
    await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    assert.match(await shown(page), /Because you signed in with a recovery code/);
    const [key] = await services().authentication.webauthn.credentials(psu.customer.id);
    assert.ok(key?.heldUntil, 'the passkey is held');
    await removeFactor(page, lost.id);

    // The same browser (the passkey is on this device): a payment finds no usable factor.
    const first = await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    await page.getByRole('heading', { name: NOT_READY }).waitFor();
    assert.equal(await page.getByRole('button', { name: KEY_BUTTON }).count(), 0);
    await page.getByRole('button', { name: 'Go back to Demo Fintech' }).click();
    assertErrorCallback(await first.received, { error: 'access_denied', issuer: server.issuer });

    // The dashboard signs in with it (a new sign-in: the cookies go, the passkey stays).
    await context.clearCookies();
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 303);
    await page.getByRole('link', { name: 'Sign-in and security' }).waitFor();

    // An operator releases the hold after verifying the customer by other means (admin API).
    const released = await server.admin('POST', `/admin/users/${psu.customer.id}/release-factor-hold`);
    assert.equal(released.status, 200);
    assert.deepEqual(await released.json(), {
      id: psu.customer.id,
      username: psu.username,
      factors_released: [key.factorId],
    });
    const [audited] = await services().audit.query({
      type: 'customer.factor_hold_released',
      customerId: psu.customer.id,
      limit: 5,
    });
    assert.deepEqual(audited?.details.factors_released, [key.factorId]);
    assert.equal(audited?.actor_type, 'admin');
    const again = await server.admin('POST', `/admin/users/${psu.customer.id}/release-factor-hold`);
    assert.deepEqual((await again.json()).factors_released, [], 'nothing held any more');
    assert.equal((await server.admin('POST', '/admin/users/no-such-user/release-factor-hold')).status, 404);

    const second = await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 303);
    await approveConsent(page, ['Everyday account']);
    const claims = decodeJwt((await exchangeCode(second.started, await second.received)).id_token as string);
    assert.equal(claims.acr, SCA);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['hwk', 'pwd', 'user']);
    await context.close();
  });
});
