// WebAuthn security keys and passkeys in real Chromium (its virtual authenticator through the
// DevTools Protocol) between a real TPP (oauth4webapi) and a real resource server: a passkey is
// enrolled on the dashboard, then a payment is authenticated with password + key beside its amount
// and payee, yielding acr=sca and amr pwd+hwk; the key's signature covers a challenge derived from
// the payment (PSD2 RTS Art. 5), so a payment changed after SCA gets no token and an answer made
// for another payment, an older challenge or an expired one is refused; counters that go back are
// refused and audited; failures count towards the lockout; without JavaScript the page explains
// and offers another factor; a key is removed through the factor-removal path. The issuer is
// http://localhost:PORT: browsers refuse an IP address as RP ID, and localhost is a secure context.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import { assertionAmr } from '../src/accounts/factors/webauthn.ts';
import { deriveChallenge, newNonce, paymentHash } from '../src/accounts/factors/webauthn-challenge.ts';
import { credentialName } from '../src/accounts/factors/webauthn-registration.ts';
import { relyingPartyOf, usableRpId } from '../src/accounts/factors/webauthn-relying-party.ts';
import { parseAssertion } from '../src/accounts/factors/webauthn-responses.ts';
import { createDynamicLinking } from '../src/consents/dynamic-linking.ts';
import { ACR_SCA as SCA } from '../src/oidc/acr.ts';
import {
  approveConsent,
  beginAuthorization,
  createCustomer,
  exchangeCode,
  launchBrowser,
  newPage,
  screenshot,
  shown,
  signInWithPassword,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import type { TotpDevice } from './support/totp.ts';
import { introspect, type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';
import { base64url, giveSecurityKey, KEY_BUTTON, touchKey, VirtualAuthenticator } from './support/webauthn.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const PAYEE_IBAN = 'GB82WEST12345698765432';
const RAR_TYPES = { authorization_details_types: ['account_information', 'payment_initiation'] };

const payment = (amount = '12.34', creditorName = 'Corner Shop GmbH') => ({
  type: 'payment_initiation',
  instructedAmount: { amount, currency: 'EUR' },
  creditorName,
  creditorAccount: { iban: PAYEE_IBAN },
  remittanceInformation: 'Invoice 2025-042',
});

describe('WebAuthn challenge derivation (PSD2 RTS Art. 5)', () => {
  const linking = createDynamicLinking(async () => Buffer.alloc(32, 7));
  const canonical = (detail: Record<string, unknown>) => linking.canonical([detail]) as string;

  test('the challenge is SHA-256 over a version tag, SHA-256 of the canonical payment, and the nonce', () => {
    const nonce = newNonce();
    assert.match(nonce, /^[A-Za-z0-9_-]{22}$/, '128 random bits');
    const text = canonical(payment());
    assert.equal(text, JSON.stringify(['portcullis-dynamic-link-v1', '12.34', 'EUR', PAYEE_IBAN, 'Corner Shop GmbH']));
    const hashOfPayment = createHash('sha256').update(text).digest('base64url');
    assert.equal(paymentHash(text), hashOfPayment);
    const expected = createHash('sha256')
      .update(JSON.stringify(['portcullis-webauthn-challenge-v1', hashOfPayment, nonce]))
      .digest('base64url');
    const challenge = deriveChallenge(nonce, text);
    assert.equal(challenge, expected);
    assert.equal(Buffer.from(challenge, 'base64url').length, 32);
    assert.equal(deriveChallenge(nonce, text), challenge, 'the same payment and nonce give the same challenge');
  });

  test('any change to amount, currency, payee name or IBAN, or another nonce, gives another challenge', () => {
    const nonce = newNonce();
    const base = deriveChallenge(nonce, canonical(payment()));
    const variants = [
      payment('12.35'),
      { ...payment(), instructedAmount: { amount: '12.34', currency: 'GBP' } },
      payment('12.34', 'Corner Shop Ltd'),
      { ...payment(), creditorAccount: { iban: 'DE89370400440532013000' } },
    ];
    const challenges = new Set([base, ...variants.map((v) => deriveChallenge(nonce, canonical(v)))]);
    assert.equal(challenges.size, 5);
    assert.notEqual(deriveChallenge(newNonce(), canonical(payment())), base);
    assert.notEqual(deriveChallenge(nonce), base, 'no payment is not any payment');
    // What is not part of the payment's identity (the reference, the IBAN's spacing) does not change it.
    assert.equal(deriveChallenge(nonce, canonical({ ...payment(), remittanceInformation: 'Other' })), base);
    assert.equal(
      deriveChallenge(nonce, canonical({ ...payment(), creditorAccount: { iban: 'gb82 west 1234 5698 7654 32' } })),
      base,
    );
  });

  test('nonces do not repeat', () => {
    const nonces = new Set(Array.from({ length: 1000 }, newNonce));
    assert.equal(nonces.size, 1000);
  });

  test('relying party, amr, names and answers', () => {
    assert.deepEqual(relyingPartyOf('https://bank.example/oidc', 'Bank'), {
      id: 'bank.example',
      origin: 'https://bank.example',
      name: 'Bank',
    });
    assert.equal(usableRpId(relyingPartyOf('http://localhost:3000', 'x')), true);
    assert.equal(usableRpId(relyingPartyOf('http://127.0.0.1:3000', 'x')), false);
    assert.equal(usableRpId(relyingPartyOf('http://[::1]:3000', 'x')), false);
    assert.deepEqual(assertionAmr({ backupEligible: false }), ['hwk', 'user']);
    assert.deepEqual(assertionAmr({ backupEligible: true }), ['swk', 'user']);
    assert.equal(credentialName('  Blue\u0000 USB\n\u202e key  ', false), 'Blue USB key');
    assert.equal(credentialName('   ', false), 'Security key');
    assert.equal(credentialName('', true), 'Passkey');
    assert.equal(credentialName('x'.repeat(200), false).length, 60);
    for (const junk of ['', 'not json', '{}', JSON.stringify({ id: 'short', rawId: 'short', type: 'public-key' })]) {
      assert.equal(parseAssertion(junk), undefined);
    }
  });
});

describe('WebAuthn security keys and passkeys in Chromium', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let browser: Browser;

  const services = () => server.server.services;
  const knex = () => services().db.knex;

  before(async () => {
    server = await startTestServer({ issuerHost: 'localhost' });
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { ...RAR_TYPES, client_name: 'Demo Fintech' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A fresh browser profile with a virtual platform authenticator (a passkey-capable device). */
  async function device(options: Parameters<typeof VirtualAuthenticator.attach>[1] = {}) {
    const { context, page } = await newPage(browser);
    const authenticator = await VirtualAuthenticator.attach(page, options);
    return { context, page, authenticator };
  }

  const begin = (page: Page, details: unknown[], params?: Record<string, string>) =>
    beginAuthorization(page, server, tpp, { details, resource: rs.resource, ...(params ? { params } : {}) });

  /**
   * Presses the key button but stops the form on its way out: the signed answer the browser would
   * have sent, and the page's CSRF token, for tests that send it somewhere else.
   */
  async function captureAnswer(page: Page): Promise<{ credential: string; csrf: string; uid: string }> {
    const uid = new URL(page.url()).pathname.split('/')[2] as string;
    const csrf = (await page.locator('form.factor-form input[name="csrf"]').getAttribute('value')) as string;
    let resolve!: (body: string) => void;
    const body = new Promise<string>((r) => {
      resolve = r;
    });
    await page.route('**/factor', async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      resolve(route.request().postData() ?? '');
      await route.abort();
    });
    await page.getByRole('button', { name: KEY_BUTTON }).click();
    const credential = new URLSearchParams(await body).get('credential') ?? '';
    await page.unroute('**/factor');
    assert.ok(credential.startsWith('{'), 'the page sends the answer as JSON');
    return { credential, csrf, uid };
  }

  /** Sends a WebAuthn answer to an interaction's factor step, as the page's form would. */
  const submitAnswer = (context: BrowserContext, uid: string, csrf: string, credential: string) =>
    context.request.post(`${server.issuer}/interaction/${uid}/factor`, {
      form: { csrf, method: 'webauthn', credential },
      maxRedirects: 0,
    });

  const failedAttempts = async (customerId: string) =>
    Number((await knex()('customers').where({ id: customerId }).first('failed_attempts')).failed_attempts);

  const challengeOf = (credential: string) =>
    JSON.parse(Buffer.from(JSON.parse(credential).response.clientDataJSON, 'base64url').toString()).challenge as string;

  /** Rewrites a consent's sealed details as someone with database access (and the key) could. */
  async function tamper(consentId: string, change: (detail: Record<string, unknown>) => Record<string, unknown>) {
    const consent = await services().consents.get(consentId);
    assert.ok(consent);
    const details = consent.details.map((d) => change(d as unknown as Record<string, unknown>));
    await knex()('consents')
      .where({ id: consentId })
      .update({ details_encrypted: services().cipher.encrypt(JSON.stringify(details), `consent:${consentId}`) });
  }

  test('enrol a passkey on the dashboard, then pay with password + key beside amount and payee: acr sca, amr pwd+hwk', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page, authenticator } = await device();
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    await page.getByRole('link', { name: 'Sign-in and security' }).click();
    await page.getByRole('link', { name: 'Add a security key or passkey' }).click();
    await page.getByRole('heading', { name: 'Add a security key or passkey' }).waitFor();
    assert.deepEqual(
      await page.locator('script').evaluateAll((all) => all.map((s) => (s as HTMLScriptElement).src)),
      [`${server.issuer}/static/webauthn.js`],
      'one script, a file under /static',
    );
    assert.equal(await page.locator('[style]').count(), 0);
    await page.getByLabel('Name for this key').fill('Work laptop <b>passkey</b>');
    await screenshot(page, 'account-webauthn-enrol');
    await page.getByRole('button', { name: 'Add security key or passkey' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    assert.match(await shown(page), /Your security key or passkey is set up/);
    await page.getByRole('link', { name: 'I have saved my codes' }).click();
    await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
    const listed = await shown(page, '.factor');
    assert.match(listed, /Work laptop <b>passkey<\/b>\s*Security key/, 'the name as typed, escaped, and its kind');
    assert.match(listed, /Added\s+\d+ \w+ \d{4}, \d\d:\d\d UTC\s+Last used\s+never/);
    await screenshot(page, 'account-security-webauthn');

    // The credential's public key is in the database, under the id the authenticator holds.
    const [held] = await authenticator.credentials();
    assert.ok(held);
    const row = await knex()('webauthn_credentials').where({ customer_id: psu.customer.id }).first();
    assert.equal(row.credential_id, base64url(held.credentialId));
    assert.ok(Buffer.from(row.public_key, 'base64url').length >= 32, 'a COSE public key');
    assert.equal(row.backup_eligible, false);
    const [enrolled] = await services().audit.query({ type: 'customer.factor_enrolled', customerId: psu.customer.id, limit: 5 });
    assert.equal(enrolled?.details.kind, 'webauthn');

    // A TPP's payment: password, then the key, with the amount and payee on the page.
    const { started, received } = await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    assert.match(new URL(page.url()).pathname, /\/factor$/);
    const summary = await shown(page, 'form .factor-payment');
    for (const expected of ['€12.34', 'EUR', 'Corner Shop GmbH', 'GB82 WEST 1234 5698 7654 32']) {
      assert.ok(summary.includes(expected), `beside the key button: ${expected}`);
    }
    assert.equal(await page.locator('script:not([src="/static/webauthn.js"]), [style]').count(), 0, 'no inline script or style');
    await screenshot(page, 'sca-webauthn-payment');
    const answers: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/factor'))
        answers.push(new URLSearchParams(r.postData() ?? '').get('credential') ?? '');
    });
    assert.equal(await touchKey(page), 303);
    await approveConsent(page, ['Everyday account']);
    const tokens = await exchangeCode(started, await received);
    const claims = decodeJwt(tokens.id_token as string);
    assert.equal(claims.acr, SCA);
    const amr = claims.amr as string[];
    assert.ok(amr.includes('pwd') && amr.includes('hwk'), `amr ${amr}`);
    assert.deepEqual([...amr].sort(), ['hwk', 'pwd', 'user']);

    // The consent's authentication code names the nonce the key signed, over this very payment.
    const introspection = await introspect(started.as, rs, tokens.access_token);
    assert.equal(introspection.active, true);
    const consent = await services().consents.get(introspection.consent_id as string);
    assert.ok(consent?.dynamicLink);
    assert.deepEqual(consent.dynamicLink.amr, ['hwk', 'pwd', 'user']);
    const signed = challengeOf(answers[0] as string);
    assert.equal(signed, deriveChallenge(consent.dynamicLink.nonce, services().dynamicLinking.canonical(consent.details)));
    assert.notEqual(signed, deriveChallenge(consent.dynamicLink.nonce, services().dynamicLinking.canonical([payment('12.35')])));

    // The counter was stored, the key shows as used; the success is audited with user verification.
    const [after] = await authenticator.credentials();
    const used = await knex()('webauthn_credentials').where({ customer_id: psu.customer.id }).first();
    assert.equal(Number(used.sign_count), after?.signCount);
    assert.ok(Number(used.sign_count) > 0);
    const login = (await services().audit.query({ type: 'customer.login', customerId: psu.customer.id, limit: 50 })).at(-1);
    assert.equal(login?.details.method, 'webauthn');
    assert.equal((login?.details.factor as { user_verified?: boolean } | undefined)?.user_verified, true);
    await context.close();
  });

  test('a payment amount changed in the database after SCA gets no token; a payee changed later ends introspection', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page, authenticator } = await device();
    await giveSecurityKey(server, psu.customer.id, authenticator);
    const first = await begin(page, [payment('20.00')]);
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 303);
    await approveConsent(page, ['Everyday account']);
    const callback = await first.received;
    const [consent] = (await services().consents.listForCustomer(psu.customer.id)).filter((c) => c.status === 'authorised');
    assert.ok(consent);
    await tamper(consent.id, (d) => ({ ...d, instructedAmount: { amount: '2000.00', currency: 'EUR' } }));
    const refused = await exchangeCode(first.started, callback).then(
      () => undefined,
      (err: unknown) => err,
    );
    assert.ok(refused instanceof oauth.ResponseBodyError, String(refused));
    assert.equal(refused.error, 'invalid_grant');

    const second = await begin(page, [payment('30.00')]);
    assert.equal(await touchKey(page), 303, 'a fresh SCA session: only the key');
    await approveConsent(page, ['Everyday account']);
    const tokens = await exchangeCode(second.started, await second.received);
    const introspection = await introspect(second.started.as, rs, tokens.access_token);
    assert.equal(introspection.active, true);
    await tamper(introspection.consent_id as string, (d) => ({ ...d, creditorName: 'Mallory Ltd' }));
    assert.equal((await introspect(second.started.as, rs, tokens.access_token)).active, false);
    await context.close();
  });

  test('an answer made for another payment, for a replaced or expired challenge, or replayed, is refused and counted', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const a = await device();
    const key = await giveSecurityKey(server, psu.customer.id, a.authenticator);
    // The same key on a second profile; its counter ahead, as one authenticator's would be.
    const b = await device();
    await b.authenticator.add({ ...key.credential, signCount: 100 });

    // Payment A: the key signs, but the answer is held back.
    await begin(a.page, [payment('10.00')]);
    await signInWithPassword(a.page, psu);
    const forA = await captureAnswer(a.page);
    // Payment B, another amount: A's answer is refused there, with the one message.
    await begin(b.page, [payment('99.00')]);
    await signInWithPassword(b.page, psu);
    const bUid = new URL(b.page.url()).pathname.split('/')[2] as string;
    const bCsrf = (await b.page.locator('form.factor-form input[name="csrf"]').getAttribute('value')) as string;
    const before = await failedAttempts(psu.customer.id);
    const crossed = await submitAnswer(b.context, bUid, bCsrf, forA.credential);
    assert.equal(crossed.status(), 401);
    assert.match(await crossed.text(), new RegExp(`role="alert"[^>]*>${LOGIN_FAILED}<`));
    assert.equal(await failedAttempts(psu.customer.id), before + 1, 'counted towards the lockout');

    // A's own page was shown again (a new challenge): the held-back answer is for the old one.
    await a.page.goto(`${server.issuer}/interaction/${forA.uid}/factor`);
    assert.equal((await submitAnswer(a.context, forA.uid, forA.csrf, forA.credential)).status(), 401);
    // A fresh answer on A passes; sent again, it no longer can (the challenge is used up).
    await a.page.goto(`${server.issuer}/interaction/${forA.uid}/factor`);
    const fresh = await captureAnswer(a.page);
    assert.equal((await submitAnswer(a.context, forA.uid, forA.csrf, fresh.credential)).status(), 303);
    await begin(a.page, [payment('10.00')]);
    // (The answer above went by request, so the browser never reached the resume step: no session.)
    await signInWithPassword(a.page, psu);
    const again = new URL(a.page.url()).pathname.split('/')[2] as string;
    const againCsrf = (await a.page.locator('form.factor-form input[name="csrf"]').getAttribute('value')) as string;
    assert.equal(
      (await submitAnswer(a.context, again, againCsrf, fresh.credential)).status(),
      401,
      'replayed on the same payment',
    );

    // An expired challenge: the key answers in time for the browser, too late for the server.
    await b.page.goto(`${server.issuer}/interaction/${bUid}/factor`);
    await knex()('webauthn_challenges')
      .where({ attempt: `interaction:${bUid}` })
      .update({ expires_at: knex().raw("now() - interval '1 second'") });
    assert.equal(await touchKey(b.page), 401);
    assert.equal(await shown(b.page, '[role="alert"]'), LOGIN_FAILED);
    await screenshot(b.page, 'sca-webauthn-failed');
    // A new page brings a new challenge, and the key works again.
    await b.page.goto(`${server.issuer}/interaction/${bUid}/factor`);
    assert.equal(await touchKey(b.page), 303);
    assert.equal(await failedAttempts(psu.customer.id), 0, 'a complete authentication resets the count');
    await a.context.close();
    await b.context.close();
  });

  test('a signature counter that goes backwards is refused and audited', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page, authenticator } = await device();
    const key = await giveSecurityKey(server, psu.customer.id, authenticator);
    await knex()('webauthn_credentials').where({ factor_id: key.factorId }).update({ sign_count: 1000 });
    await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 401);
    assert.equal(await shown(page, '[role="alert"]'), LOGIN_FAILED);
    const [event] = await services().audit.query({
      type: 'customer.webauthn_counter_regression',
      customerId: psu.customer.id,
      limit: 5,
    });
    assert.equal(event?.outcome, 'failure');
    assert.equal(event?.details.factor_id, key.factorId);
    assert.equal(event?.details.stored_count, 1000);
    assert.ok((event?.details.received_count as number) < 1000);
    const row = await knex()('webauthn_credentials').where({ factor_id: key.factorId }).first();
    assert.equal(Number(row.sign_count), 1000, 'the stored counter is kept');
    await context.close();
  });

  test('five failed key answers block the customer like any factor; then even the right key is refused', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page, authenticator } = await device();
    await giveSecurityKey(server, psu.customer.id, authenticator);
    await begin(page, [payment()]);
    await signInWithPassword(page, psu);
    const uid = new URL(page.url()).pathname.split('/')[2] as string;
    for (let i = 0; i < 5; i++) {
      const html = await (await context.request.get(`${server.issuer}/interaction/${uid}/factor`)).text();
      const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1] as string;
      const response = await submitAnswer(context, uid, csrf, JSON.stringify({ id: 'A'.repeat(43), type: 'public-key' }));
      assert.equal(response.status(), 401);
    }
    const [locked] = await services().audit.query({ type: 'customer.locked', customerId: psu.customer.id, limit: 1 });
    assert.ok(locked, 'the block is a security event');
    const failures = await services().audit.query({ type: 'customer.login', customerId: undefined, limit: 50 });
    assert.ok(failures.some((e) => e.outcome === 'failure' && e.details.method === 'webauthn'));
    await page.goto(`${server.issuer}/interaction/${uid}/factor`);
    assert.equal(await touchKey(page), 401, 'blocked: the right key is refused too');
    assert.equal(await shown(page, '[role="alert"]'), LOGIN_FAILED);
    await context.close();
  });

  test('a synced passkey counts as possession with amr swk (RFC 8176: not a hardware-bound key)', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page, authenticator } = await device();
    await giveSecurityKey(server, psu.customer.id, authenticator, { backupEligible: true });
    const { started, received } = await begin(page, [payment('7.00')]);
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 303);
    await approveConsent(page, ['Everyday account']);
    const claims = decodeJwt((await exchangeCode(started, await received)).id_token as string);
    assert.equal(claims.acr, SCA);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['pwd', 'swk', 'user']);
    await context.close();
  });

  test('without JavaScript the key page says what is needed and offers another factor; the choice lists the key', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const keyed = await device();
    await giveSecurityKey(server, psu.customer.id, keyed.authenticator);
    await keyed.context.close();
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 960, height: 900 } });
    const page = await context.newPage();
    const { started, received } = await begin(page, [payment('5.00')]);
    await signInWithPassword(page, psu);
    await page.getByRole('heading', { name: 'Use your security key or passkey' }).waitFor();
    assert.match(await shown(page), /A security key or passkey needs JavaScript, which is turned off in this browser/);
    assert.ok(await page.getByRole('button', { name: KEY_BUTTON }).isHidden(), 'nothing to press without the script');
    assert.match(await shown(page, 'form .factor-payment'), /€5\.00[\s\S]*Corner Shop GmbH/);
    await screenshot(page, 'sca-webauthn-noscript');
    await page.getByRole('link', { name: 'Use another way to confirm' }).click();
    await page.getByRole('heading', { name: 'Choose how to confirm' }).waitFor();
    const choices = await page.locator('.factor-choice .choice-name').allTextContents();
    assert.deepEqual(choices, ['Security key or passkey', 'Authenticator app']);
    await screenshot(page, 'sca-factor-choice-webauthn');
    await page.getByRole('link', { name: /Authenticator app/ }).click();
    await page.getByLabel('Code from your authenticator app').fill(await (psu.totp as TotpDevice).next());
    await page.getByRole('button', { name: /^Confirm/ }).click();
    await approveConsent(page, ['Everyday account']);
    const claims = decodeJwt((await exchangeCode(started, await received)).id_token as string);
    assert.deepEqual([...(claims.amr as string[])].sort(), ['otp', 'pwd']);
    await context.close();
  });

  test('the dashboard signs in with the key and removes it (SCA); its public key goes with it', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const { context, page, authenticator } = await device();
    const key = await giveSecurityKey(server, psu.customer.id, authenticator, { name: 'Blue USB key' });
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    await page.getByRole('heading', { name: 'Use your security key or passkey' }).waitFor();
    await screenshot(page, 'account-login-webauthn');
    await Promise.all([page.waitForURL(`${server.issuer}/account`), page.getByRole('button', { name: KEY_BUTTON }).click()]);
    const session = await knex()('portal_sessions').where({ customer_id: psu.customer.id }).orderBy('created_at', 'desc').first();
    assert.deepEqual(session.amr, ['hwk', 'pwd', 'user']);

    await page.goto(`${server.issuer}/account/security`);
    const card = page.locator('.factor', { hasText: 'Blue USB key' });
    // biome-ignore lint/performance/useDomNodeTextContent: the rendered text, what the customer reads.
    assert.match(await card.innerText(), /Blue USB key\s+Security key[\s\S]*Last used\s+\d+ \w+ \d{4}/);
    await card.getByRole('button', { name: 'Remove' }).click();
    await page.getByText('The second factor was removed.').waitFor();
    assert.equal(await page.locator('.factor', { hasText: 'Blue USB key' }).count(), 0);
    assert.equal(await knex()('webauthn_credentials').where({ factor_id: key.factorId }).first(), undefined);
    assert.equal(await services().authentication.webauthn.isEnrolled(psu.customer.id), false);
    const [removed] = await services().audit.query({ type: 'customer.factor_removed', customerId: psu.customer.id, limit: 1 });
    assert.deepEqual(removed?.details, { factor_id: key.factorId, kind: 'webauthn' });

    // The next sign-in no longer offers the key: the authenticator app is the second factor.
    await context.clearCookies();
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    await page.getByLabel('Code from your authenticator app').waitFor();
    await context.close();
  });

  test('enrolment needs a fresh sign-in, refuses a forged answer, and one authenticator registers once', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { context, page } = await device();
    await page.goto(`${server.issuer}/account/login`);
    await signInWithPassword(page, psu);
    const sessions = knex()('portal_sessions').where({ customer_id: psu.customer.id });
    await sessions.clone().update({ created_at: knex().raw("now() - interval '6 minutes'") });
    await page.goto(`${server.issuer}/account/security/webauthn`);
    assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, '/account/login?next=webauthn');
    await signInWithPassword(page, psu);
    await page.getByRole('heading', { name: 'Add a security key or passkey' }).waitFor();

    const csrf = (await page.locator('input[name="csrf"]').getAttribute('value')) as string;
    const forged = await context.request.post(`${server.issuer}/account/security/webauthn`, {
      form: {
        csrf,
        name: 'Forged',
        credential: JSON.stringify({ id: 'A'.repeat(43), rawId: 'A'.repeat(43), type: 'public-key' }),
      },
      maxRedirects: 0,
    });
    assert.equal(forged.status(), 400);
    assert.match(await forged.text(), /Your security key or passkey was not added/);
    assert.equal(await services().authentication.webauthn.isEnrolled(psu.customer.id), false);
    const [failed] = await services().audit.query({
      type: 'customer.factor_enrolment_failed',
      customerId: psu.customer.id,
      limit: 1,
    });
    assert.equal(failed?.outcome, 'failure');

    await page.goto(`${server.issuer}/account/security/webauthn`);
    await page.getByLabel('Name for this key').fill('Laptop');
    await page.getByRole('button', { name: 'Add security key or passkey' }).click();
    await page.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
    // Another key now needs SCA (password and the key just added), then the same authenticator is
    // refused by the browser (excluded), and the page says why.
    await page.goto(`${server.issuer}/account/security/webauthn`);
    assert.equal(new URL(page.url()).search, '?next=webauthn');
    await signInWithPassword(page, psu);
    assert.equal(await touchKey(page), 303);
    await page.getByRole('heading', { name: 'Add a security key or passkey' }).waitFor();
    await page.getByRole('button', { name: 'Add security key or passkey' }).click();
    await page.locator('#webauthn-status.alert').waitFor();
    assert.equal(await shown(page, '#webauthn-status'), 'This security key or passkey is already set up for your account.');
    assert.equal(await page.locator('#webauthn-status').getAttribute('aria-live'), 'assertive');
    await screenshot(page, 'account-webauthn-enrol-refused');
    assert.equal((await services().authentication.webauthn.credentials(psu.customer.id)).length, 1);
    await context.close();
  });
});
