// Second factors on the customer dashboard: the login's second step (authenticator app, or a
// recovery code when the phone is lost), enrolment and removal rules (a fresh sign-in; removal
// needs SCA), one-time recovery codes, and codes that never replay.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import { createCustomer, launchBrowser, newPage, screenshot, shown, type TestCustomer } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TotpDevice } from './support/totp.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };

/** fetch with a cookie jar and no redirect following: a browser without JavaScript. */
class Client {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }
  get(path: string) {
    return this.send(path, { method: 'GET' });
  }
  post(path: string, fields: Record<string, string>) {
    return this.send(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    });
  }
  private async send(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const response = await fetch(new URL(path, this.base), { ...init, headers, redirect: 'manual' });
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const name = pair.slice(0, pair.indexOf('='));
      const value = pair.slice(pair.indexOf('=') + 1);
      if (!value || /expires=Thu, 01 Jan 1970/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }
}

const csrfOf = (html: string) => /name="csrf" value="([^"]+)"/.exec(html)?.[1] ?? assert.fail('no CSRF token');
const alertOf = (html: string) => /role="alert"[^>]*>([^<]*)</.exec(html)?.[1];

describe('second factors on the dashboard', () => {
  let server: TestServer;
  const services = () => server.server.services;
  const knex = () => services().db.knex;

  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  /** Password step; returns the response (303 to the factor page for a customer with one). */
  async function password(client: Client, customer: TestCustomer, next = '') {
    const page = await client.get(`/account/login${next ? `?next=${next}` : ''}`);
    const html = await page.text();
    return client.post('/account/login', {
      csrf: csrfOf(html),
      username: customer.username,
      password: customer.password,
      ...(next ? { next } : {}),
    });
  }

  async function factor(client: Client, code: string, method = 'totp', path = '/account/login/factor') {
    const page = await client.get(`${path}?method=${method}`);
    assert.equal(page.status, 200);
    return client.post(path, { csrf: csrfOf(await page.text()), method, code });
  }

  async function signedIn(customer: TestCustomer): Promise<Client> {
    const client = new Client(server.issuer);
    const first = await password(client, customer);
    if (first.headers.get('location') === '/account/login/factor') {
      const done = await factor(client, await (customer.totp as TotpDevice).next());
      assert.equal(done.status, 303);
    }
    return client;
  }

  const sessionId = (client: Client) =>
    createHash('sha256')
      .update(client.cookies.get('pc_portal') as string)
      .digest('hex');
  const ageSession = (client: Client, seconds: number) =>
    knex()('portal_sessions')
      .where({ id: sessionId(client) })
      .update({ created_at: knex().raw('now() - make_interval(secs => ?)', [seconds]) });

  test('with an authenticator app, the password alone starts no session; the code does, once', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const client = new Client(server.issuer);
    const first = await password(client, psu);
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/account/login/factor');
    assert.equal(client.cookies.has('pc_portal'), false, 'no session after the password alone');
    assert.ok(client.cookies.has('pc_portal_login'));
    assert.equal((await client.get('/account')).status, 303);

    const page = await (await client.get('/account/login/factor')).text();
    assert.match(page, /autocomplete="one-time-code"/);
    assert.match(page, /inputmode="numeric"/);
    assert.match(page, /<label for="code">Code from your authenticator app<\/label>/);
    assert.doesNotMatch(page, /<script|style=/);
    const code = await device.next();
    const done = await factor(client, code);
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/account');
    assert.equal((await client.get('/account')).status, 200);
    const session = await knex()('portal_sessions')
      .where({ id: sessionId(client) })
      .first();
    assert.deepEqual(session.amr, ['otp', 'pwd']);
    assert.equal(client.cookies.has('pc_portal_login'), false);

    // The same code on another sign-in: refused, with the one message.
    const again = new Client(server.issuer);
    await password(again, psu);
    const replay = await factor(again, code);
    assert.equal(replay.status, 401);
    assert.equal(alertOf(await replay.text()), LOGIN_FAILED);
    assert.equal(again.cookies.has('pc_portal'), false);
  });

  test('the factor page without a pending password step goes back to the login', async () => {
    const client = new Client(server.issuer);
    const response = await client.get('/account/login/factor');
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/account/login');
    client.cookies.set('pc_portal_login', 'A'.repeat(43));
    assert.equal((await client.get('/account/login/factor')).status, 303);
  });

  test('a lost phone: another way, a recovery code signs in once (Chromium)', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const [code] = await services().authentication.recoveryCodes.generate(psu.customer.id);
    const browser = await launchBrowser();
    try {
      const { context, page } = await newPage(browser);
      await page.goto(`${server.issuer}/account/login`);
      await page.getByLabel('Username').fill(psu.username);
      await page.getByLabel('Password').fill(psu.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Code from your authenticator app').waitFor();
      await screenshot(page, 'account-login-factor');
      await page.getByRole('link', { name: 'Use another way to confirm' }).click();
      await page.getByRole('heading', { name: 'Choose how to confirm' }).waitFor();
      await screenshot(page, 'factor-choice');
      await page.getByRole('link', { name: /Recovery code/ }).click();
      const field = page.getByLabel('Recovery code');
      await field.fill('wrong-codes');
      await page.getByRole('button', { name: 'Confirm' }).click();
      await page.getByRole('alert').waitFor();
      assert.equal(await shown(page, '[role="alert"]'), LOGIN_FAILED);
      await screenshot(page, 'factor-recovery');
      await page.getByLabel('Recovery code').fill((code as string).toUpperCase());
      await page.getByRole('button', { name: 'Confirm' }).click();
      await page.getByRole('heading', { name: 'Sign-in and security' }).waitFor();
      const text = await shown(page);
      assert.match(text, /You signed in with a recovery code, which is now used up/);
      assert.match(text, /9 of 10 codes unused/);
      await context.close();
    } finally {
      await browser.close();
    }
    // Once only.
    const client = new Client(server.issuer);
    await password(client, psu);
    assert.equal((await factor(client, code as string, 'recovery')).status, 401);
  });

  test('enrolment needs a sign-in of the last 5 minutes; a wrong first code keeps the same key', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const client = await signedIn(psu);
    await ageSession(client, 6 * 60);
    const stale = await client.get('/account/security/totp');
    assert.equal(stale.status, 303);
    assert.equal(stale.headers.get('location'), '/account/login?next=totp');

    const reauth = await password(client, psu, 'totp');
    assert.equal(reauth.status, 303);
    assert.equal(reauth.headers.get('location'), '/account/security/totp');
    const html = await (await client.get('/account/security/totp')).text();
    const factorId = /name="factor_id" value="([^"]+)"/.exec(html)?.[1] as string;
    const secret = (/id="totp-secret">([^<]+)</.exec(html)?.[1] ?? assert.fail('no key on the page')).replace(/\s/g, '');
    assert.match(html, /<img class="qr" src="data:image\/png;base64,/);
    const wrong = await client.post('/account/security/totp', { csrf: csrfOf(html), factor_id: factorId, code: '000000' });
    assert.equal(wrong.status, 400);
    const again = await wrong.text();
    assert.match(again, /That code did not match/);
    assert.ok(again.includes(`value="${factorId}"`), 'the same pending factor');
    assert.equal((await services().authentication.factors.list(psu.customer.id)).length, 0, 'nothing enrolled yet');

    const device = new TotpDevice(secret);
    const enrolCode = await device.next();
    const ok = await client.post('/account/security/totp', { csrf: csrfOf(again), factor_id: factorId, code: enrolCode });
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /Save your recovery codes/);
    // The enrolment code is used up: it cannot sign in a moment later.
    const next = new Client(server.issuer);
    await password(next, psu);
    assert.equal((await factor(next, enrolCode)).status, 401);
    const events = await services().audit.query({ type: 'customer.factor_enrolled', customerId: psu.customer.id, limit: 5 });
    assert.equal(events.length, 1);
  });

  test('removing a factor needs SCA: a fresh sign-in with the second factor; the recovery codes go with the last one', async () => {
    const psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    await services().authentication.recoveryCodes.generate(psu.customer.id);
    const [enrolled] = await services().authentication.factors.list(psu.customer.id);
    assert.ok(enrolled);
    const client = await signedIn(psu);
    await ageSession(client, 6 * 60);
    const security = await client.get('/account/security');
    const html = await security.text();
    const stale = await client.post(`/account/security/factors/${enrolled.id}/remove`, { csrf: csrfOf(html) });
    assert.equal(stale.status, 303);
    assert.equal(stale.headers.get('location'), '/account/login?next=security');
    assert.equal((await services().authentication.factors.list(psu.customer.id)).length, 1);

    const browser = await launchBrowser();
    try {
      const { context, page } = await newPage(browser);
      await page.goto(`${server.issuer}/account/login?next=security`);
      await page.getByRole('heading', { name: 'Confirm it’s you' }).waitFor();
      await screenshot(page, 'account-login-again');
      await context.close();
    } finally {
      await browser.close();
    }

    assert.equal((await password(client, psu, 'security')).headers.get('location'), '/account/login/factor?next=security');
    const done = await factor(client, await (psu.totp as TotpDevice).next(), 'totp', '/account/login/factor?next=security');
    assert.equal(done.headers.get('location'), '/account/security');
    const fresh = await (await client.get('/account/security')).text();
    const removed = await client.post(`/account/security/factors/${enrolled.id}/remove`, { csrf: csrfOf(fresh) });
    assert.equal(removed.status, 303);
    assert.equal(removed.headers.get('location'), '/account/security?notice=removed');
    assert.equal((await services().authentication.factors.list(psu.customer.id)).length, 0);
    assert.equal(await services().authentication.recoveryCodes.remaining(psu.customer.id), 0);
    const [event] = await services().audit.query({ type: 'customer.factor_removed', customerId: psu.customer.id, limit: 5 });
    assert.equal(event?.details.factor_id, enrolled.id);
  });

  test("another customer's factor cannot be removed", async () => {
    const owner = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const [owned] = await services().authentication.factors.list(owner.customer.id);
    const intruder = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const client = await signedIn(intruder);
    const html = await (await client.get('/account/security')).text();
    const response = await client.post(`/account/security/factors/${owned?.id}/remove`, { csrf: csrfOf(html) });
    assert.equal(response.status, 404);
    assert.equal((await services().authentication.factors.list(owner.customer.id)).length, 1);
  });
});
