// The customer dashboard (/account) and RP-initiated logout. The dashboard is the bank's own site
// with its own session: login through the real pages (fetch with a cookie jar, and Chromium),
// consents listed only to their customer (OWASP API1), revoke ends the consent, its grant and its
// tokens, 5 idle minutes end the session (PSD2 RTS Art. 4(3)(d)). RP-initiated logout renders our
// pages around oidc-provider's form and clears its session cookie.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { AuthorizationDetail } from '../src/consents/authorization-details.ts';
import type { Consent } from '../src/consents/consent-store.ts';
import { createPortalSessionStore } from '../src/portal/session-store.ts';
import {
  approveConsent,
  authorizeInBrowser,
  CODE_LABEL,
  completeLogin,
  completeSecondFactor,
  createCustomer,
  exchangeCode,
  interceptCallback,
  type Journey,
  launchBrowser,
  newPage,
  screenshot,
  startAuthorization,
  submitWith,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import type { TotpDevice } from './support/totp.ts';
import {
  discover,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const IBAN = {
  aliceMain: 'DE89370400440532013000',
  aliceSavings: 'DE02120300000000202051',
  bob: 'GB29NWBK60161331926819',
  payee: 'FR1420041010050500013M02606',
};

/** fetch with a cookie jar and no redirect following: what a browser without JavaScript does. */
class Client {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }

  async get(path: string): Promise<Response> {
    return this.send(path, { method: 'GET' });
  }

  async post(path: string, fields: Record<string, string>): Promise<Response> {
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

const csrfOf = (html: string) => {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(match, 'the page carries a CSRF token');
  return match[1] as string;
};

describe('customer dashboard and logout', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let budget: Tpp;
  let payments: Tpp;
  let alice: TestCustomer;
  let bob: TestCustomer;
  let aliceAccess: Consent;
  let alicePayment: Consent;
  let bobAccess: Consent;
  let aliceToken: string;

  const knex = () => server.server.services.db.knex;
  const consentStatus = async (id: string) => (await server.server.services.consents.get(id))?.status;

  /** A consent approved for the customer, as the consent page leaves it (optionally with a real Grant). */
  async function approvedConsent(
    tpp: Tpp,
    customer: TestCustomer,
    details: AuthorizationDetail[],
    grantId?: string,
  ): Promise<Consent> {
    const { consents } = server.server.services;
    const first = details[0] as AuthorizationDetail;
    const expiresAt = new Date(Date.now() + (first.type === 'payment_initiation' ? 600_000 : 90 * 86_400_000));
    const created = await consents.create({
      clientId: tpp.clientId,
      customerId: customer.customer.id,
      type: first.type,
      details,
      expiresAt,
      frequencyPerDay: first.type === 'account_information' ? first.frequencyPerDay : undefined,
    });
    const authorised = await consents.authorise(created.id, {
      details,
      grantId: grantId ?? `grant-${created.id}`,
      scaAt: new Date(),
      expiresAt,
    });
    assert.ok(authorised);
    return authorised;
  }

  /** A Grant with an opaque access token for the resource server, minted through the provider's models. */
  async function grantWithToken(customer: TestCustomer, tpp: Tpp): Promise<{ grantId: string; token: () => Promise<string> }> {
    const provider = server.server.holder.current;
    const grant = new provider.Grant({ accountId: customer.customer.id, clientId: tpp.clientId });
    grant.addResourceScope(rs.resource, 'accounts');
    const grantId = await grant.save();
    const token = async () => {
      const client = await provider.Client.find(tpp.clientId);
      const accessToken = new provider.AccessToken({
        client,
        accountId: customer.customer.id,
        grantId,
        gty: 'authorization_code',
        scope: 'accounts',
      } as never);
      const ResourceServerClass = (provider as unknown as { ResourceServer: new (id: string, info: object) => object })
        .ResourceServer;
      (accessToken as unknown as { resourceServer: object }).resourceServer = new ResourceServerClass(rs.resource, {
        audience: rs.resource,
        scope: 'accounts',
        accessTokenFormat: 'opaque',
        accessTokenTTL: 600,
      });
      return accessToken.save();
    };
    return { grantId, token };
  }

  /** Signs in through GET + POST /account/login; returns the redirect response. */
  async function signIn(client: Client, username: string, password: string): Promise<Response> {
    const page = await client.get('/account/login');
    assert.equal(page.status, 200);
    return client.post('/account/login', { csrf: csrfOf(await page.text()), username, password });
  }

  async function signedIn(customer: TestCustomer): Promise<Client> {
    const client = new Client(server.issuer);
    const response = await signIn(client, customer.username, customer.password);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/account');
    return client;
  }

  const dashboard = async (client: Client) => {
    const response = await client.get('/account');
    assert.equal(response.status, 200);
    return response.text();
  };

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    const types = { authorization_details_types: ['account_information', 'payment_initiation'] };
    budget = await registerTpp(server, { ...types, client_name: 'Budget Buddy', organisation_name: 'Budget Buddy Ltd' });
    payments = await registerTpp(server, { ...types, client_name: 'PayFast <Checkout>' });
    alice = await createCustomer(server, [
      { iban: IBAN.aliceMain, name: 'Everyday account', currency: 'EUR' },
      { iban: IBAN.aliceSavings, name: 'Savings account', currency: 'EUR' },
    ]);
    bob = await createCustomer(server, [{ iban: IBAN.bob, name: 'Bob current account', currency: 'GBP' }]);

    const real = await grantWithToken(alice, budget);
    aliceAccess = await approvedConsent(
      budget,
      alice,
      [
        {
          type: 'account_information',
          permissions: ['accounts', 'balances', 'transactions'],
          accounts: [{ iban: IBAN.aliceMain }, { iban: IBAN.aliceSavings }],
          frequencyPerDay: 4,
        },
      ],
      real.grantId,
    );
    aliceToken = await real.token();
    alicePayment = await approvedConsent(payments, alice, [
      {
        type: 'payment_initiation',
        instructedAmount: { amount: '1234.5', currency: 'EUR' },
        creditorName: 'Green Energy GmbH',
        creditorAccount: { iban: IBAN.payee },
        debtorAccount: { iban: IBAN.aliceMain },
        remittanceInformation: 'Invoice 2026-11',
      },
    ]);
    bobAccess = await approvedConsent(budget, bob, [
      { type: 'account_information', permissions: ['balances'], accounts: [{ iban: IBAN.bob }] },
    ]);
  });
  after(() => server.close());

  describe('sign-in', () => {
    test('the login page is a labelled form with standard autocomplete, a CSRF token and the strict headers', async () => {
      const response = await new Client(server.issuer).get('/account/login');
      const html = await response.text();
      assert.equal(response.status, 200);
      assert.match(html, /<label for="username">Username<\/label>/);
      assert.match(html, /id="username" name="username"[^>]*autocomplete="username"/);
      assert.match(html, /<label for="password">Password<\/label>/);
      assert.match(html, /id="password" name="password" autocomplete="current-password"/);
      assert.match(html, /name="csrf" value="[A-Za-z0-9_-]{43}"/);
      assert.doesNotMatch(html, /<script|style=/);
      assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
      assert.doesNotMatch(response.headers.get('content-security-policy') ?? '', /unsafe-inline/);
      assert.equal(response.headers.get('x-frame-options'), 'DENY');
    });

    test('without a session the dashboard sends the browser to the login page', async () => {
      const response = await new Client(server.issuer).get('/account');
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account/login');
    });

    const failures: { name: string; username: () => string; password: () => string }[] = [
      { name: 'a wrong password', username: () => alice.username, password: () => 'not-the-password' },
      { name: 'an unknown username', username: () => 'nobody-here', password: () => 'whatever-password' },
      { name: 'an empty password', username: () => alice.username, password: () => '' },
    ];
    for (const failure of failures) {
      test(`${failure.name} gets the one generic message (401), the username kept, no session`, async () => {
        const client = new Client(server.issuer);
        const response = await signIn(client, failure.username(), failure.password());
        const html = await response.text();
        assert.equal(response.status, 401);
        assert.match(html, /We could not sign you in with those details\./);
        assert.ok(html.includes(`value="${failure.username()}"`));
        assert.equal(client.cookies.has('pc_portal'), false);
      });
    }

    test('a username is escaped when shown again', async () => {
      const client = new Client(server.issuer);
      const html = await (await signIn(client, '"><script>alert(1)</script>', 'x')).text();
      assert.ok(html.includes('value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"'));
      assert.doesNotMatch(html, /<script>alert/);
    });

    test('a login POST without the CSRF token is refused (403) and starts no session', async () => {
      const client = new Client(server.issuer);
      await client.get('/account/login');
      const response = await client.post('/account/login', { username: alice.username, password: alice.password });
      assert.equal(response.status, 403);
      assert.equal(client.cookies.has('pc_portal'), false);
    });

    test('success: 303 to /account; the cookie is HttpOnly, SameSite=Lax, Path=/account; only its SHA-256 is stored', async () => {
      const client = new Client(server.issuer);
      const response = await signIn(client, alice.username.toUpperCase(), alice.password);
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account');
      const cookie = response.headers.getSetCookie().find((line) => line.startsWith('pc_portal='));
      assert.ok(cookie);
      assert.match(cookie, /; path=\/account/);
      assert.match(cookie, /; samesite=lax/);
      assert.match(cookie, /; httponly/);
      const token = client.cookies.get('pc_portal') as string;
      const hash = createHash('sha256').update(token).digest('hex');
      const row = await knex()('portal_sessions').where({ id: hash }).first();
      assert.equal(row?.customer_id, alice.customer.id);
      assert.equal(await knex()('portal_sessions').where({ id: token }).first(), undefined);
      assert.equal((await client.get('/account/login')).headers.get('location'), '/account');
    });

    test('signing in again replaces the browser session (no fixation)', async () => {
      // A value planted before login never becomes a session: login always issues a new one.
      const planted = new Client(server.issuer);
      planted.cookies.set('pc_portal', 'A'.repeat(43));
      assert.equal((await signIn(planted, alice.username, alice.password)).status, 303);
      assert.notEqual(planted.cookies.get('pc_portal'), 'A'.repeat(43));
      // A browser that signs in again ends its earlier session.
      const client = await signedIn(alice);
      const first = client.cookies.get('pc_portal') as string;
      client.cookies.delete('pc_portal');
      const csrf = csrfOf(await (await client.get('/account/login')).text());
      client.cookies.set('pc_portal', first);
      await client.post('/account/login', { csrf, username: alice.username, password: alice.password });
      assert.notEqual(client.cookies.get('pc_portal'), first);
      const old = new Client(server.issuer);
      old.cookies.set('pc_portal', first);
      assert.equal((await old.get('/account')).status, 303);
    });
  });

  describe('consents on the dashboard', () => {
    test("lists the customer's consents: TPP, what was granted, accounts, since, expires, last used", async () => {
      const html = await dashboard(await signedIn(alice));
      assert.match(html, /Signed in as <strong>psu-/);
      assert.match(html, /<h3 id="consent-[^"]+">Budget Buddy<\/h3>/);
      assert.match(html, /Budget Buddy Ltd/);
      assert.match(html, /Account information/);
      assert.match(html, /Account details, balances and transactions/);
      assert.match(html, /at most 4 times a day/);
      assert.match(html, /Everyday account, DE89 3704 0044 0532 0130 00/);
      assert.match(html, /Savings account, DE02 1203 0000 0000 2020 51/);
      // The TPP's name is escaped; the amount is shown exactly as it will be executed.
      assert.match(html, /PayFast &lt;Checkout&gt;/);
      assert.match(html, /€1,234\.50 to Green Energy GmbH/);
      assert.match(html, /FR14 2004 1010 0505 0001 3M02 606/);
      assert.match(html, /Invoice 2026-11/);
      assert.match(html, /Last used<\/dt><dd>never<\/dd>/);
      assert.match(html, /Since<\/dt><dd>\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC/);
      assert.match(html, /Expires<\/dt><dd>\d{1,2} \w{3} \d{4}, \d{2}:\d{2} UTC/);
      assert.ok(html.includes(`action="/account/consents/${aliceAccess.id}/revoke"`));
      assert.ok(html.includes(`action="/account/consents/${alicePayment.id}/revoke"`));
      assert.doesNotMatch(html, /<script|style=/);
    });

    test("never shows another customer's consent", async () => {
      const html = await dashboard(await signedIn(alice));
      assert.ok(!html.includes(bobAccess.id));
      assert.ok(!html.includes('GB29'));
      const bobs = await dashboard(await signedIn(bob));
      assert.ok(bobs.includes(bobAccess.id));
      assert.ok(!bobs.includes(aliceAccess.id) && !bobs.includes(alicePayment.id));
      assert.ok(!bobs.includes('Green Energy'));
    });

    test("revoking another customer's consent is 404 and leaves it untouched", async () => {
      const client = await signedIn(alice);
      const csrf = csrfOf(await dashboard(client));
      const response = await client.post(`/account/consents/${bobAccess.id}/revoke`, { csrf });
      assert.equal(response.status, 404);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      assert.match(await response.text(), /You have no access with that reference/);
      assert.equal(await consentStatus(bobAccess.id), 'authorised');
      const unknown = await client.post('/account/consents/not-a-consent/revoke', { csrf });
      assert.equal(unknown.status, 404);
    });

    test('a revoke without the CSRF token, or with a token of another form, is 403 and changes nothing', async () => {
      const client = await signedIn(alice);
      await dashboard(client);
      assert.equal((await client.post(`/account/consents/${aliceAccess.id}/revoke`, {})).status, 403);
      const loginToken = csrfOf(await (await new Client(server.issuer).get('/account/login')).text());
      assert.equal((await client.post(`/account/consents/${aliceAccess.id}/revoke`, { csrf: loginToken })).status, 403);
      assert.equal(await consentStatus(aliceAccess.id), 'authorised');
    });

    test('a revoke without a session goes to the login page and changes nothing', async () => {
      const response = await new Client(server.issuer).post(`/account/consents/${aliceAccess.id}/revoke`, {});
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account/login');
      assert.equal(await consentStatus(aliceAccess.id), 'authorised');
    });

    test('the customer revokes their own consent: consent revoked, grant gone, token inactive', async () => {
      assert.equal((await introspect(as, rs, aliceToken)).active, true);
      const client = await signedIn(alice);
      const csrf = csrfOf(await dashboard(client));
      const response = await client.post(`/account/consents/${aliceAccess.id}/revoke`, { csrf });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account?notice=revoked');
      assert.equal(await consentStatus(aliceAccess.id), 'revoked');
      assert.equal(await server.server.holder.current.Grant.find(aliceAccess.grantId as string), undefined);
      assert.equal((await introspect(as, rs, aliceToken)).active, false);
      assert.equal(await consentStatus(alicePayment.id), 'authorised');

      const html = await (await client.get('/account?notice=revoked')).text();
      // The notice comes from a fixed list, picked by code: nothing from the URL reaches the page.
      assert.match(html, /Access revoked\. The app can no longer use it\./);
      assert.match(html, /<h2 id="ended-heading">Ended<\/h2>[\s\S]*Budget Buddy[\s\S]*Revoked/);
      assert.ok(!html.includes(`action="/account/consents/${aliceAccess.id}/revoke"`));
      for (const notice of ['%3Cb%3Ehi', 'constructor', '__proto__']) {
        const spoofed = await (await client.get(`/account?notice=${notice}`)).text();
        assert.doesNotMatch(spoofed, /class="notice"/);
      }
    });
  });

  describe('session lifetime and sign-out', () => {
    const backdate = (client: Client, column: 'last_seen_at' | 'expires_at', seconds: number) => {
      const id = createHash('sha256')
        .update(client.cookies.get('pc_portal') as string)
        .digest('hex');
      return knex()('portal_sessions')
        .where({ id })
        .update({ [column]: knex().raw('now() - make_interval(secs => ?)', [seconds]) });
    };

    test('activity keeps the session: 4 idle minutes are fine, and the clock restarts', async () => {
      const client = await signedIn(alice);
      await backdate(client, 'last_seen_at', 4 * 60);
      assert.equal((await client.get('/account')).status, 200);
      const id = createHash('sha256')
        .update(client.cookies.get('pc_portal') as string)
        .digest('hex');
      const row = await knex()('portal_sessions').where({ id }).first();
      assert.ok(Date.now() - new Date(row.last_seen_at).getTime() < 60_000);
    });

    test('PSD2 RTS Art. 4(3)(d): after 6 idle minutes the next request goes to the login page', async () => {
      const client = await signedIn(alice);
      await backdate(client, 'last_seen_at', 6 * 60);
      const response = await client.get('/account');
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account/login');
      assert.equal(client.cookies.has('pc_portal'), false);
    });

    test('past its absolute lifetime the session is over however active', async () => {
      const client = await signedIn(alice);
      await backdate(client, 'expires_at', 1);
      assert.equal((await client.get('/account')).status, 303);
    });

    test('the store alone: unknown or malformed values find nothing; ended sessions can be swept', async () => {
      const store = createPortalSessionStore(knex(), { idleSeconds: 300, lifetimeSeconds: 3600 });
      const live = await store.create(bob.customer.id);
      const revoked = await store.create(bob.customer.id);
      await store.revoke(revoked.token);
      assert.match(live.token, /^[A-Za-z0-9_-]{43}$/);
      assert.equal(live.session.id, createHash('sha256').update(live.token).digest('hex'));
      assert.equal(await store.get('not-a-token'), undefined);
      assert.equal(await store.get(live.session.id), undefined, 'the stored hash is not a cookie value');
      assert.equal(await store.get(revoked.token), undefined);
      assert.ok(await store.deleteEnded(1000));
      assert.equal(await knex()('portal_sessions').where({ id: revoked.session.id }).first(), undefined);
      assert.equal((await store.get(live.token))?.customerId, bob.customer.id);
    });

    test('sign-out ends the session on the server, clears the cookie and says so', async () => {
      const client = await signedIn(alice);
      const csrf = csrfOf(await dashboard(client));
      const token = client.cookies.get('pc_portal') as string;
      assert.equal((await client.post('/account/logout', {})).status, 403);
      const response = await client.post('/account/logout', { csrf });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/account/signed-out');
      assert.equal(client.cookies.has('pc_portal'), false);
      const row = await knex()('portal_sessions')
        .where({ id: createHash('sha256').update(token).digest('hex') })
        .first();
      assert.ok(row.revoked_at);
      const page = await client.get('/account/signed-out');
      assert.match(await page.text(), /You are signed out/);
      const replay = new Client(server.issuer);
      replay.cookies.set('pc_portal', token);
      assert.equal((await replay.get('/account')).status, 303);
    });
  });

  describe('in Chromium', () => {
    let browser: Browser;
    let context: BrowserContext;
    let page: Page;
    let carol: TestCustomer;
    let accounts: Journey;
    let paymentTokens: oauth.TokenEndpointResponse;

    before(async () => {
      browser = await launchBrowser();
      ({ context, page } = await newPage(browser));
      // Carol has an authenticator app: new app connections and payments need SCA.
      carol = await createCustomer(
        server,
        [
          { iban: IBAN.aliceMain, name: 'Everyday account', currency: 'EUR' },
          { iban: IBAN.aliceSavings, name: 'Savings account', currency: 'EUR' },
        ],
        undefined,
        undefined,
        { totp: true },
      );
      accounts = await authorizeInBrowser(page, server, budget, carol, ['Savings account'], {
        scope: 'openid',
        resource: rs.resource,
        authorization_details: [{ type: 'account_information', permissions: ['balances', 'transactions'] }],
      });
      // The browser already holds a bank session: the second request may skip straight to consent.
      const payment = await startAuthorization(server, payments, {
        scope: 'openid',
        resource: rs.resource,
        authorization_details: [
          {
            type: 'payment_initiation',
            instructedAmount: { amount: '12.34', currency: 'EUR' },
            creditorName: 'Corner Bakery',
            creditorAccount: { iban: IBAN.payee },
          },
        ],
      });
      const { received } = await interceptCallback(page, payment.redirectUri);
      await page.goto(payment.url);
      if (await page.getByLabel('Username').count()) await completeLogin(page, carol.username, carol.password, carol.totp);
      // A payment is authenticated for itself: a recent SCA session is asked only for the code.
      else if (await page.getByLabel(CODE_LABEL).count()) await completeSecondFactor(page, carol.totp as TotpDevice);
      await approveConsent(page, ['Everyday account']);
      paymentTokens = await exchangeCode(payment, await received);
    });
    after(() => browser?.close());

    test('the dashboard has its own login, then lists the consents made in the browser', async () => {
      assert.equal((await introspect(as, rs, accounts.tokens.access_token)).active, true);
      // Its own login, even though the browser holds a bank session for the TPPs' requests.
      await page.goto(`${server.issuer}/account`);
      assert.equal(new URL(page.url()).pathname, '/account/login');
      await screenshot(page, 'account-login');
      await page.getByLabel('Username').fill(carol.username);
      await page.getByLabel('Password').fill('wrong password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').waitFor();
      assert.equal(await page.getByRole('alert').textContent(), 'We could not sign you in with those details.');
      assert.equal(await page.getByLabel('Username').inputValue(), carol.username);
      await screenshot(page, 'account-login-failed');
      await page.getByLabel('Password').fill(carol.password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      // Carol has an authenticator app: the dashboard asks for its code too.
      await page.getByLabel(CODE_LABEL).waitFor();
      await completeSecondFactor(page, carol.totp as TotpDevice);
      await page.getByRole('heading', { name: 'Your connected apps' }).waitFor();
      const active = page.getByRole('region', { name: 'Active access' });
      assert.equal(await active.getByRole('article').count(), 2);
      assert.match(
        (await active.getByRole('article', { name: 'Budget Buddy' }).textContent()) ?? '',
        /Balances and transactions[\s\S]*Savings account, DE02 1203 0000 0000 2020 51/,
      );
      assert.match(
        (await active.getByRole('article', { name: 'PayFast <Checkout>' }).textContent()) ?? '',
        /€12\.34 to Corner Bakery[\s\S]*Everyday account, DE89 3704 0044 0532 0130 00/,
      );
      await screenshot(page, 'account-dashboard');
    });

    test("the Revoke button ends the consent's access and refresh tokens", async () => {
      const active = page.getByRole('region', { name: 'Active access' });
      await active.getByRole('article', { name: 'Budget Buddy' }).getByRole('button', { name: 'Revoke access' }).click();
      await page.getByRole('status').waitFor();
      assert.equal(await page.getByRole('region', { name: 'Active access' }).getByRole('article').count(), 1);
      assert.equal(await page.getByRole('region', { name: 'Ended' }).getByRole('article', { name: 'Budget Buddy' }).count(), 1);
      await screenshot(page, 'account-dashboard-revoked');
      assert.equal((await introspect(as, rs, accounts.tokens.access_token)).active, false);
      const refreshToken = accounts.tokens.refresh_token;
      assert.ok(refreshToken, 'the TPP got a refresh token');
      const refused = await oauth
        .refreshTokenGrantRequest(as, budget.client, budget.auth, refreshToken, { ...insecure, DPoP: accounts.started.dpop })
        .then((response) => oauth.processRefreshTokenResponse(as, budget.client, response))
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      assert.ok(refused instanceof oauth.ResponseBodyError, 'the refresh token no longer works');
      assert.equal(refused.error, 'invalid_grant');
      assert.equal((await introspect(as, rs, paymentTokens.access_token)).active, true, 'the other consent is untouched');
    });

    test('Sign out ends the dashboard session and says so', async () => {
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
      assert.equal(
        (await context.cookies()).some((c) => c.name === 'pc_portal'),
        false,
      );
      await screenshot(page, 'account-signed-out');
      await page.goto(`${server.issuer}/account`);
      assert.equal(new URL(page.url()).pathname, '/account/login');
    });

    test('RP-initiated logout: our confirmation page, then the session and its cookie are gone', async () => {
      const discovery = (await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json()) as {
        end_session_endpoint: string;
      };
      assert.equal(discovery.end_session_endpoint, `${server.issuer}/session/end`);
      assert.ok((await context.cookies()).some((c) => c.name === '_session'));
      const confirm = await page.goto(`${discovery.end_session_endpoint}?client_id=${encodeURIComponent(payments.clientId)}`);
      assert.equal(confirm?.status(), 200);
      const csp = confirm?.headers()['content-security-policy'] ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline|sha256-/);
      const html = (await confirm?.text()) ?? '';
      assert.doesNotMatch(html, /<script|style=/);
      assert.match(html, /<form id="op\.logoutForm" method="post" action="[^"]+\/session\/end\/confirm">/);
      assert.match(html, /<strong>PayFast &lt;Checkout&gt;<\/strong> asks to end your session with the bank\./);
      await screenshot(page, 'logout-confirm');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('heading', { name: 'You are signed out' }).waitFor();
      assert.equal(new URL(page.url()).pathname, '/session/end/success');
      assert.match((await page.textContent('main')) ?? '', /Your session with the bank has ended\./);
      await screenshot(page, 'logout-success');
      const names = (await context.cookies()).map((c) => c.name);
      assert.ok(!names.includes('_session') && !names.includes('_session.sig'), 'the session cookie is cleared');
      const sessions = await knex()('oidc_payloads')
        .where({ model: 'Session' })
        .whereRaw("payload->>'accountId' = ?", [carol.customer.id]);
      assert.equal(sessions.length, 0, 'the session is destroyed on the server');
    });

    // Without a bank session oidc-provider skips the confirmation and auto-submits a form with one
    // inline script, whose hash it adds to the CSP header; securityHeaders must keep that hash.
    test('without a bank session, the end-session endpoint asks on a script-free page, then ends on the signed-out page', async () => {
      const fresh = await newPage(browser);
      try {
        // oidc-provider would answer with a self-submitting page (inline script): ours has a button.
        const confirm = await fresh.page.goto(`${server.issuer}/session/end`);
        assert.equal(confirm?.status(), 200);
        const csp = confirm?.headers()['content-security-policy'] ?? '';
        assert.match(csp, /frame-ancestors 'none'/);
        assert.doesNotMatch(csp, /unsafe-inline|sha256-/);
        assert.doesNotMatch((await confirm?.text()) ?? '', /<script/);
        await fresh.page.getByRole('heading', { name: 'Sign out of your bank?' }).waitFor();
        await screenshot(fresh.page, 'logout-confirm-no-session');
        await submitWith(fresh.page, fresh.page.getByRole('button', { name: 'Sign out' }));
        await fresh.page.getByRole('heading', { name: 'You are signed out' }).waitFor({ timeout: 5000 });
        assert.equal(new URL(fresh.page.url()).pathname, '/session/end/success');
      } finally {
        await fresh.context.close();
      }
    });

    // The logout page promises that access given to apps stays: consents, not browser sessions,
    // bound tokens (expiresWithSession: false in the provider configuration).
    test('access given to apps survives RP-initiated logout', async () => {
      assert.equal((await introspect(as, rs, paymentTokens.access_token)).active, true);
    });
  });
});
