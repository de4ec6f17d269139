// The demo third party at /demo (development only): a real openid-client TPP in the server's
// process. Its pages, its pushed authorization request (checked in the stored PAR record), and,
// in real Chromium, the whole journey through the bank's login and consent to its result page.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { approveConsent, completeLogin, launchBrowser, newPage, rejectConsent, screenshot, shown } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TotpDevice } from './support/totp.ts';

const REQUEST_URI = /^urn:ietf:params:oauth:request_uri:([A-Za-z0-9_-]+)$/;

/** The browser side of a page: its cookies and the CSRF token of its forms. */
async function openDemo(issuer: string): Promise<{ cookie: string; csrf: string; html: string }> {
  const response = await fetch(`${issuer}/demo`);
  assert.equal(response.status, 200);
  const html = await response.text();
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  assert.ok(csrf, 'the page carries a CSRF token');
  return { cookie, csrf, html };
}

function start(issuer: string, cookie: string, form: Record<string, string>): Promise<Response> {
  return fetch(`${issuer}/demo/start`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: new URLSearchParams(form),
  });
}

describe('demo TPP is absent unless DEMO_DATA is on', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('/demo and its routes are 404', async () => {
    assert.equal(server.config.DEMO_DATA, false);
    for (const [method, path] of [
      ['GET', '/demo'],
      ['POST', '/demo/start'],
      ['GET', '/demo/callback?code=x&state=y'],
    ] as const) {
      const response = await fetch(`${server.issuer}${path}`, { method, redirect: 'manual' });
      assert.equal(response.status, 404, `${method} ${path}`);
      assert.doesNotMatch(await response.text(), /Demo Fintech/);
    }
  });
});

describe('demo TPP pages (DEMO_DATA=true)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { DEMO_DATA: 'true' } });
  });
  after(() => server.close());

  test('GET /demo explains itself and offers the two flows as CSRF-protected forms', async () => {
    const response = await fetch(`${server.issuer}/demo`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const html = await response.text();
    assert.match(html, /<h1>Demo Fintech<\/h1>/);
    assert.match(html, /<button type="submit">Connect accounts<\/button>/);
    assert.match(html, /<button type="submit">Pay 12\.34 EUR<\/button>/);
    assert.equal(html.match(/<form method="post" action="\/demo\/start">/g)?.length, 2);
    assert.equal(html.match(/name="csrf" value="[A-Za-z0-9_-]{43}"/g)?.length, 2);
    assert.doesNotMatch(html, /<script/);
    // The demo customer's second factor: its current code and its key, so nobody needs an app.
    assert.match(html, /id="demo-code">\d{6}</);
    assert.match(html, /<code>([A-Z2-7]{4} ){7}[A-Z2-7]{4}<\/code>/);
  });

  for (const flow of ['accounts', 'payment'] as const) {
    test(`POST /demo/start (${flow}) pushes a FAPI request and 303s to the authorization endpoint`, async () => {
      const { cookie, csrf } = await openDemo(server.issuer);
      const response = await start(server.issuer, cookie, { csrf, flow });
      assert.equal(response.status, 303, await response.clone().text());
      const location = new URL(response.headers.get('location') ?? '');
      assert.equal(`${location.origin}${location.pathname}`, `${server.issuer}/auth`);
      assert.deepEqual([...location.searchParams.keys()].sort(), ['client_id', 'request_uri']);
      assert.equal(location.searchParams.get('client_id'), 'demo-tpp');
      const id = REQUEST_URI.exec(location.searchParams.get('request_uri') ?? '')?.[1];
      assert.ok(id, 'a PAR request_uri');

      const demoCookie = response.headers.getSetCookie().find((c) => c.startsWith('pc_demo='));
      assert.ok(demoCookie, 'the flow is remembered under a cookie');
      assert.match(demoCookie, /^pc_demo=[A-Za-z0-9_-]{43};/);
      assert.match(demoCookie, /; path=\/demo/);
      assert.match(demoCookie, /; samesite=lax/);
      assert.match(demoCookie, /; httponly/);

      // What was pushed, as the server stored it.
      const par = await server.server.holder.current.PushedAuthorizationRequest.find(id);
      assert.ok(par, 'the pushed request is stored');
      const stored = par as unknown as { request: string; dpopJkt?: string };
      assert.match(stored.dpopJkt ?? '', /^[A-Za-z0-9_-]{43}$/, 'PAR was DPoP-bound (dpop_jkt)');
      const pushed = decodeJwt(stored.request);
      assert.equal(pushed.client_id, 'demo-tpp');
      assert.equal(pushed.response_type, 'code');
      assert.equal(pushed.redirect_uri, `${server.issuer}/demo/callback`);
      assert.equal(pushed.code_challenge_method, 'S256');
      assert.match(String(pushed.code_challenge), /^[A-Za-z0-9_-]{43}$/);
      assert.match(String(pushed.state), /^[A-Za-z0-9_-]{43}$/);
      assert.equal(pushed.resource, 'https://api.demo-bank.example/open-banking');
      // oidc-provider keeps the parsed details in its stored request object.
      const details = pushed.authorization_details as Record<string, unknown>[];
      if (flow === 'accounts') {
        assert.equal(pushed.scope, 'openid accounts');
        assert.equal(details.length, 1);
        assert.deepEqual(details[0]?.permissions, ['accounts', 'balances', 'transactions']);
        assert.equal(details[0]?.type, 'account_information');
        assert.equal(details[0]?.frequencyPerDay, 4);
        const days = (Date.parse(String(details[0]?.expirationDateTime)) - Date.now()) / 86_400_000;
        assert.ok(days > 89.9 && days <= 90, `expires in 90 days, got ${days}`);
      } else {
        assert.equal(pushed.scope, 'openid payments');
        assert.deepEqual(details, [
          {
            type: 'payment_initiation',
            instructedAmount: { amount: '12.34', currency: 'EUR' },
            creditorName: 'Demo Coffee Roasters',
            creditorAccount: { iban: 'GB82WEST12345698765432' },
            remittanceInformation: 'Order 4711',
          },
        ]);
      }

      // The bank accepts the request_uri and starts its login interaction.
      const authorize = await fetch(location, { redirect: 'manual' });
      assert.equal(authorize.status, 303);
      assert.match(authorize.headers.get('location') ?? '', /\/interaction\/[A-Za-z0-9_-]+$/);
    });
  }

  test('POST /demo/start without a valid CSRF token is refused and pushes nothing', async () => {
    const { cookie } = await openDemo(server.issuer);
    for (const form of [{ flow: 'accounts' }, { flow: 'accounts', csrf: 'x'.repeat(43) }] as Record<string, string>[]) {
      const response = await start(server.issuer, cookie, form);
      assert.equal(response.status, 403);
      assert.equal(response.headers.get('location'), null);
      assert.equal(
        response.headers.getSetCookie().find((c) => c.startsWith('pc_demo=')),
        undefined,
      );
      assert.match(await response.text(), /expired or was not sent from this site/);
    }
  });

  test('an unknown flow gets the demo error page', async () => {
    const { cookie, csrf } = await openDemo(server.issuer);
    const response = await start(server.issuer, cookie, { csrf, flow: '<script>alert(1)</script>' });
    assert.equal(response.status, 400);
    const html = await response.text();
    assert.match(html, /unknown demo flow; choose one of: accounts, payment/);
    assert.match(html, /href="\/demo">Start again/);
    assert.doesNotMatch(html, /<script>/);
  });

  /** A started flow as the browser holds it: its pc_demo cookie and the state it pushed. */
  async function startedFlow(): Promise<{ cookie: string; state: string }> {
    const { cookie, csrf } = await openDemo(server.issuer);
    const response = await start(server.issuer, cookie, { csrf, flow: 'accounts' });
    assert.equal(response.status, 303);
    const id = REQUEST_URI.exec(new URL(response.headers.get('location') ?? '').searchParams.get('request_uri') ?? '')?.[1];
    const par = (await server.server.holder.current.PushedAuthorizationRequest.find(id ?? '')) as unknown as { request: string };
    const demoCookie = response.headers
      .getSetCookie()
      .find((c) => c.startsWith('pc_demo='))
      ?.split(';')[0];
    return { cookie: demoCookie ?? '', state: String(decodeJwt(par.request).state) };
  }

  const callback = (cookie: string, params: Record<string, string>) =>
    fetch(`${server.issuer}/demo/callback?${new URLSearchParams({ iss: server.issuer, ...params })}`, { headers: { cookie } });

  test('a callback whose state does not match fails the check and says so', async () => {
    const { cookie } = await startedFlow();
    const response = await callback(cookie, { code: 'abc', state: 'not-the-state' });
    assert.equal(response.status, 502);
    const html = await response.text();
    assert.match(html, /The demo failed while redeeming the authorization code at the token endpoint/);
    assert.match(html, /did not pass the demo&#39;s checks/);
    assert.match(html, /&quot;state&quot;/);
    assert.doesNotMatch(html, /\bat .+:\d+:\d+|node_modules/);
  });

  test('a code the token endpoint refuses shows its OAuth error', async () => {
    const { cookie, state } = await startedFlow();
    const response = await callback(cookie, { code: 'not-a-code', state });
    assert.equal(response.status, 502);
    const html = await response.text();
    assert.match(html, /The authorization server refused the request/);
    assert.match(html, /<code>invalid_grant<\/code>/);
    assert.doesNotMatch(html, /\bat .+:\d+:\d+|node_modules/);
  });

  test('a callback from another issuer is refused before anything else', async () => {
    const { cookie, state } = await startedFlow();
    const response = await callback(cookie, { code: 'abc', state, iss: 'https://evil.example' });
    assert.equal(response.status, 502);
    assert.match(await response.text(), /&quot;iss&quot;/);
  });

  test('a callback without a started flow explains that it expired, with no stack trace', async () => {
    const response = await fetch(`${server.issuer}/demo/callback?code=abc&state=def&iss=${encodeURIComponent(server.issuer)}`);
    assert.equal(response.status, 400);
    const html = await response.text();
    assert.match(html, /This demo sign-in has expired or was already completed/);
    assert.doesNotMatch(html, /\bat .+:\d+:\d+|node_modules|Error: /);
  });
});

describe('the demo TPP journey in Chromium (DEMO_DATA=true)', () => {
  let server: TestServer;
  let browser: Browser;
  let password: string;
  let device: TotpDevice;

  before(async () => {
    // Nonces required: the demo must answer use_dpop_nonce at PAR and at the token endpoint.
    server = await startTestServer({ env: { DEMO_DATA: 'true', DPOP_REQUIRE_NONCE: 'true' } });
    const credentials = JSON.parse(readFileSync(join(server.config.DATA_DIR, 'demo-credentials.json'), 'utf8')) as {
      customer_password: string;
      customer_totp_secret: string;
    };
    password = credentials.customer_password;
    // The demo customer's authenticator seed is in the file (and printed at start-up).
    device = new TotpDevice(credentials.customer_totp_secret);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server.close();
  });

  /** From the demo page through the bank's login to its consent page. */
  async function startAt(page: Page, button: string): Promise<void> {
    await page.goto(`${server.issuer}/demo`);
    await page.getByRole('button', { name: button }).click();
    await page.waitForURL(/\/interaction\//);
    await completeLogin(page, 'demo', password, device);
  }

  /** The introspection JSON shown on the result page. */
  async function shownIntrospection(page: Page): Promise<Record<string, unknown>> {
    return JSON.parse(await shown(page, 'pre.demo-json')) as Record<string, unknown>;
  }

  test('Connect accounts: login, allow, one account, approve -> an active DPoP-bound token', async () => {
    const { context, page } = await newPage(browser);
    try {
      await page.goto(`${server.issuer}/demo`);
      await screenshot(page, 'demo');
      await startAt(page, 'Connect accounts');
      await approveConsent(page, ['Everyday account']);
      await page.waitForURL(`${server.issuer}/demo/callback?**`);
      const text = await shown(page);
      assert.match(text, /What Demo Fintech received/);
      assert.match(text, /Connect accounts: approved, and the token works/);
      assert.match(text, /"active": true/);
      assert.match(text, /token_type\s+DPoP/);
      assert.match(text, /access_token\s+\S{8}… \(\d+ characters\)/);
      assert.match(text, /refresh_token\s+yes: \S{8}… \(\d+ characters\)/);
      assert.match(text, /scope\s+accounts\n/);
      // First access through this TPP: strong customer authentication (PSD2 RTS Art. 10).
      assert.match(text, /acr\s+urn:openbanking:psd2:sca/);
      assert.match(text, /amr\s+otp, pwd|amr\s+pwd, otp/);
      assert.match(text, /auth_time\s+\d{10} \(\d{4}-\d\d-\d\dT/);
      assert.match(text, new RegExp(`iss\\s+${server.issuer}`));
      assert.match(text, /aud\s+demo-tpp/);
      assert.match(text, /the thumbprint of this flow's DPoP key, as it should be/);

      const introspection = await shownIntrospection(page);
      assert.equal(introspection.active, true);
      assert.equal(introspection.client_id, 'demo-tpp');
      assert.match(String((introspection.cnf as { jkt?: string }).jkt), /^[A-Za-z0-9_-]{43}$/);
      assert.equal(introspection.consent_status, 'authorised');
      const consent = await server.server.services.consents.get(String(introspection.consent_id));
      assert.equal(consent?.status, 'authorised');
      const [detail] = introspection.authorization_details as Record<string, unknown>[];
      assert.equal(detail?.type, 'account_information');
      assert.deepEqual(detail?.permissions, ['accounts', 'balances', 'transactions']);
      assert.deepEqual(detail?.accounts, [{ iban: 'DE89370400440532013000' }]);
      await screenshot(page, 'demo-result-accounts');

      // The flow is single use: reloading the callback does not redeem the code again.
      await page.reload();
      assert.match(await shown(page), /expired or was already completed/);
      await screenshot(page, 'demo-error-expired');
    } finally {
      await context.close();
    }
  });

  test('Pay 12.34 EUR: login, allow, account to pay from, approve -> an active DPoP-bound token', async () => {
    const { context, page } = await newPage(browser);
    try {
      await startAt(page, 'Pay 12.34 EUR');
      await approveConsent(page, ['Savings account']);
      await page.waitForURL(`${server.issuer}/demo/callback?**`);
      const text = await shown(page);
      assert.match(text, /Pay 12\.34 EUR: approved, and the token works/);
      assert.match(text, /"active": true/);
      assert.match(text, /token_type\s+DPoP/);
      assert.match(text, /scope\s+payments\n/);
      const introspection = await shownIntrospection(page);
      assert.equal(introspection.active, true);
      assert.equal(introspection.consent_status, 'authorised');
      const [detail] = introspection.authorization_details as Record<string, unknown>[];
      assert.equal(detail?.type, 'payment_initiation');
      assert.deepEqual(detail?.instructedAmount, { amount: '12.34', currency: 'EUR' });
      assert.equal(detail?.creditorName, 'Demo Coffee Roasters');
      assert.deepEqual(detail?.creditorAccount, { iban: 'GB82WEST12345698765432' });
      assert.deepEqual(detail?.debtorAccount, { iban: 'DE02120300000000202051' });
      await screenshot(page, 'demo-result-payment');
    } finally {
      await context.close();
    }
  });

  test('a declined request ends on a page with access_denied and the checked iss', async () => {
    const { context, page } = await newPage(browser);
    try {
      await startAt(page, 'Connect accounts');
      await rejectConsent(page);
      await page.waitForURL(`${server.issuer}/demo/callback?**`);
      const text = await shown(page);
      assert.match(text, /The customer declined/);
      assert.match(text, /error\s+access_denied/);
      assert.match(text, new RegExp(`iss\\s+${server.issuer} \\(checked`));
      assert.doesNotMatch(text, /access_token/);
      await screenshot(page, 'demo-declined');
    } finally {
      await context.close();
    }
  });
});
