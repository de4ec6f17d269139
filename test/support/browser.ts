// The customer's side of the journey in a real Chromium (playwright-core driving Debian's
// chromium), and the TPP's side around it with oauth4webapi: PAR (PKCE S256, DPoP, private_key_jwt),
// the authorization redirect caught in the browser, the code exchanged for DPoP-bound tokens.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as oauth from 'oauth4webapi';
import { type Browser, type BrowserContext, chromium, type Locator, type Page, type Route } from 'playwright-core';
import type { BankAccount } from '../../src/accounts/account-directory.ts';
import type { Customer } from '../../src/accounts/customers.ts';
import { CONSENT_SCOPES, type ConsentType } from '../../src/consents/authorization-details.ts';
import { ACR_CA, ACR_SCA } from '../../src/oidc/acr.ts';
import type { TestServer } from './server.ts';
import { enrolTotp, type TotpDevice } from './totp.ts';
import { discover, dpopKeyPair, insecure, REDIRECT_URI, type Tpp } from './tpp.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SCREENSHOT_DIR = new URL('../../test-results/screenshots/', import.meta.url).pathname;

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A fresh browser profile (cookies and all) with a desktop-sized window. */
export async function newPage(browser: Browser): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 960, height: 900 }, colorScheme: 'light' });
  return { context, page: await context.newPage() };
}

/** A full-page screenshot in test-results/screenshots/<name>.png (look at it). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface TestCustomer {
  customer: Customer;
  username: string;
  password: string;
  accounts: BankAccount[];
  /** The customer's authenticator app, when one is enrolled (SCA: payments, first account access). */
  totp?: TotpDevice;
}

/** A customer with accounts, made through the services (what the bank's core system would hold). */
export async function createCustomer(
  server: TestServer,
  accounts: { iban: string; name: string; currency: string }[],
  username = `psu-${Math.random().toString(36).slice(2, 10)}`,
  password = `pw-${Math.random().toString(36).slice(2)}`,
  options: { totp?: boolean } = {},
): Promise<TestCustomer> {
  const { services } = server.server;
  const customer = await services.customers.create(username, password);
  const held: BankAccount[] = [];
  for (const account of accounts) held.push(await services.accounts.addAccount(customer.id, account));
  const totp = options.totp ? await enrolTotp(server, customer.id) : undefined;
  return { customer, username, password, accounts: held, ...(totp ? { totp } : {}) };
}

/**
 * Clicks a button that submits a form and waits until the page it leads to has loaded. Waiting for
 * the main frame to commit the next document first: a bare click + waitForLoadState can return on
 * the page being left, before the browser has even received the answer.
 */
export async function submitWith(page: Page, button: Locator): Promise<void> {
  const landed = page.waitForEvent('framenavigated', { predicate: (frame) => frame === page.mainFrame() });
  await button.click();
  await landed;
  await page.waitForLoadState();
}

/**
 * Clicks a button that submits a form; the status of the form's POST to a path matching `path`,
 * as it answered (a 303 before its redirect is followed, a 401 page), once the next page has loaded.
 */
export async function submitForStatus(page: Page, button: Locator, path: RegExp): Promise<number> {
  const answered = page.waitForResponse((r) => r.request().method() === 'POST' && path.test(new URL(r.url()).pathname));
  await submitWith(page, button);
  return (await answered).status();
}

/** The label of the code field on the second-factor page. */
export const CODE_LABEL = 'Code from your authenticator app';

/** The page's text as a customer reads it (Playwright's innerText is the rendered text). */
// biome-ignore lint/performance/useDomNodeTextContent: the rendered text is what is asserted.
export const shown = (page: Page, selector = 'main'): Promise<string> => page.locator(selector).innerText();

/** The claims parameter asking for acr (essential, either class), amr and auth_time in the ID token. */
export const ACR_CLAIMS = JSON.stringify({
  id_token: { acr: { essential: true, values: [ACR_SCA, ACR_CA] }, amr: null, auth_time: { essential: true } },
});

/** `openid` and the consent scope of each detail's kind (CONSENT_SCOPES): what a TPP asks with those details. */
export function consentScope(details: unknown[]): string {
  const kinds = new Set(details.map((detail) => (detail as { type?: string }).type));
  const scopes = Object.entries(CONSENT_SCOPES)
    .filter(([kind]) => kinds.has(kind as ConsentType))
    .map(([, scope]) => scope);
  return ['openid', ...scopes].join(' ');
}

/**
 * PAR for `details` (with their consent scopes, for the resource server `resource`), then the
 * bank's login page in the browser; `received` resolves with the TPP's callback.
 */
export async function beginAuthorization(
  page: Page,
  server: TestServer,
  tpp: Tpp,
  request: { details: unknown[]; resource: string; params?: Record<string, string> },
): Promise<{ started: StartedAuthorization; received: Promise<URL> }> {
  const started = await startAuthorization(server, tpp, {
    authorization_details: request.details,
    scope: consentScope(request.details),
    resource: request.resource,
    params: request.params ?? { claims: ACR_CLAIMS },
  });
  const { received } = await interceptCallback(page);
  await page.goto(started.url);
  return { started, received };
}

/** Fills the bank's login form (the knowledge factor) and submits it; the status of its POST. */
export async function signInWithPassword(page: Page, customer: { username: string; password: string }): Promise<number> {
  await page.getByLabel('Username').fill(customer.username);
  await page.getByLabel('Password').fill(customer.password);
  return submitForStatus(page, page.getByRole('button', { name: 'Sign in' }), /\/login$/);
}

/** Types a code on the second-factor page and confirms; the status of the form's POST. */
export async function submitCode(page: Page, value: string): Promise<number> {
  await page.getByLabel(CODE_LABEL).fill(value);
  return submitForStatus(page, page.getByRole('button', { name: /^Confirm/ }), /\/factor$/);
}

/** Enters the next code of the customer's authenticator app and confirms. */
export async function completeSecondFactor(page: Page, device: TotpDevice): Promise<void> {
  await page.getByLabel(CODE_LABEL).fill(await device.next());
  await submitWith(page, page.getByRole('button', { name: /^Confirm/ }));
}

export interface AuthorizationRequest {
  authorization_details?: unknown[];
  scope?: string;
  /** The resource server's resource indicator. */
  resource?: string;
  redirectUri?: string;
  /** Defaults to a random state; `null` sends none. */
  state?: string | null;
  nonce?: string;
  /** Any further authorization request parameters. */
  params?: Record<string, string>;
  /** The DPoP key to bind at PAR (`dpop_jkt`) and to use at the token endpoint; generated when absent. */
  dpopKey?: CryptoKeyPair;
}

export interface StartedAuthorization {
  as: oauth.AuthorizationServer;
  tpp: Tpp;
  /** Where the browser goes: the authorization endpoint with client_id and request_uri only. */
  url: string;
  requestUri: string;
  verifier: string;
  dpopKey: CryptoKeyPair;
  /** Carries the server's DPoP nonce from PAR to the token request. */
  dpop: oauth.DPoPHandle;
  redirectUri: string;
  state?: string;
  nonce?: string;
  scope?: string;
}

/** Retries a request once when the server answers with a DPoP nonce challenge (RFC 9449 section 8). */
async function withDPoPNonce<T>(send: () => Promise<Response>, process: (response: Response) => Promise<T>): Promise<T> {
  try {
    return await process(await send());
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    return process(await send());
  }
}

/** PAR with PKCE S256 and DPoP (private_key_jwt), as a FAPI 2.0 TPP does. */
export async function startAuthorization(
  server: TestServer,
  tpp: Tpp,
  request: AuthorizationRequest = {},
): Promise<StartedAuthorization> {
  const as = await discover(server.issuer);
  const verifier = oauth.generateRandomCodeVerifier();
  const dpopKey = request.dpopKey ?? (await dpopKeyPair());
  const dpop = oauth.DPoP(tpp.client, dpopKey);
  const redirectUri = request.redirectUri ?? REDIRECT_URI;
  const state = request.state === null ? undefined : (request.state ?? oauth.generateRandomState());
  const params = new URLSearchParams({
    response_type: 'code',
    redirect_uri: redirectUri,
    code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    scope: request.scope ?? 'openid',
    ...(request.resource ? { resource: request.resource } : {}),
    ...(request.authorization_details ? { authorization_details: JSON.stringify(request.authorization_details) } : {}),
    ...(state ? { state } : {}),
    ...(request.nonce ? { nonce: request.nonce } : {}),
    ...request.params,
  });
  const pushed = await withDPoPNonce(
    () => oauth.pushedAuthorizationRequest(as, tpp.client, tpp.auth, params, { ...insecure, DPoP: dpop }),
    (response) => oauth.processPushedAuthorizationResponse(as, tpp.client, response),
  );
  const url = new URL(as.authorization_endpoint as string);
  url.searchParams.set('client_id', tpp.clientId);
  url.searchParams.set('request_uri', pushed.request_uri);
  return {
    as,
    tpp,
    url: url.href,
    requestUri: pushed.request_uri,
    verifier,
    dpopKey,
    dpop,
    redirectUri,
    ...(state ? { state } : {}),
    ...(request.nonce ? { nonce: request.nonce } : {}),
    ...(request.scope ? { scope: request.scope } : {}),
  };
}

/**
 * Catches the browser's navigation to the TPP's redirect URI (https://tpp.example is not
 * reachable) and answers it with a small page. `received` resolves with the full callback URL.
 */
export async function interceptCallback(page: Page, redirectUri = REDIRECT_URI): Promise<{ received: Promise<URL> }> {
  const target = new URL(redirectUri);
  const isCallback = (url: URL) => url.origin === target.origin && url.pathname === target.pathname;
  let resolve!: (url: URL) => void;
  const hit = new Promise<URL>((r) => {
    resolve = r;
  });
  const handler = async (route: Route) => {
    resolve(new URL(route.request().url()));
    await route.fulfill({
      status: 200,
      contentType: 'text/html',
      body: '<!doctype html><title>TPP</title><p>Back at the TPP</p>',
    });
  };
  await page.route(isCallback, handler);
  // Resolved once the browser has landed on the callback page: a next page.goto must not race the
  // callback's navigation (it would be interrupted by it), and the next flow gets its own route.
  const received = hit.then(async (url) => {
    await page.waitForURL(isCallback, { waitUntil: 'load' });
    await page.unroute(isCallback, handler);
    return url;
  });
  received.catch(() => {}); // a test that never awaits it must not see an unhandled rejection
  return { received };
}

/**
 * Fills the bank's login form and submits it; when the bank then asks for a second factor (SCA)
 * and the customer's authenticator is given, enters its next code too.
 */
export async function completeLogin(page: Page, username: string, password: string, device?: TotpDevice): Promise<void> {
  await signInWithPassword(page, { username, password });
  if (device && /\/factor$/.test(new URL(page.url()).pathname)) await completeSecondFactor(page, device);
}

/** Allows the request as a whole, then picks the accounts by name and approves. */
export async function approveConsent(page: Page, accountNames: string[]): Promise<void> {
  await submitWith(page, page.getByRole('button', { name: 'Allow' }));
  for (const name of accountNames) await page.getByLabel(name).check();
  await submitWith(page, page.getByRole('button', { name: 'Approve' }));
}

/** Denies the request (on the consent page or the account picker). */
export async function rejectConsent(page: Page): Promise<void> {
  await submitWith(page, page.getByRole('button', { name: 'Deny' }));
}

/** Validates the callback (state, iss) and swaps the code for tokens with the PAR's DPoP key and PKCE verifier. */
export async function exchangeCode(started: StartedAuthorization, callback: URL): Promise<oauth.TokenEndpointResponse> {
  const { as, tpp } = started;
  const params = oauth.validateAuthResponse(as, tpp.client, callback, started.state ?? oauth.expectNoState);
  return withDPoPNonce(
    () =>
      oauth.authorizationCodeGrantRequest(as, tpp.client, tpp.auth, params, started.redirectUri, started.verifier, {
        ...insecure,
        DPoP: started.dpop,
      }),
    (response) =>
      oauth.processAuthorizationCodeResponse(as, tpp.client, response, {
        ...(started.nonce ? { expectedNonce: started.nonce } : {}),
        requireIdToken: (started.scope ?? 'openid').split(' ').includes('openid'),
      }),
  );
}

/**
 * An authorization error sent back to the TPP (RFC 6749 4.1.2.1, RFC 9207): the error, this
 * issuer as `iss`, the request's `state` when one is expected, and no code.
 */
export function assertErrorCallback(callback: URL, expected: { error: string; issuer: string; state?: string }): void {
  assert.equal(callback.searchParams.get('error'), expected.error);
  assert.equal(callback.searchParams.get('iss'), expected.issuer);
  if (expected.state !== undefined) assert.equal(callback.searchParams.get('state'), expected.state);
  assert.equal(callback.searchParams.get('code'), null);
}

export interface Journey {
  started: StartedAuthorization;
  callback: URL;
  tokens: oauth.TokenEndpointResponse;
}

/** The whole happy path: PAR, login, allow, pick accounts, approve, code for tokens. */
export async function authorizeInBrowser(
  page: Page,
  server: TestServer,
  tpp: Tpp,
  customer: { username: string; password: string; totp?: TotpDevice },
  accountNames: string[],
  request: AuthorizationRequest,
): Promise<Journey> {
  const started = await startAuthorization(server, tpp, request);
  const { received } = await interceptCallback(page, started.redirectUri);
  await page.goto(started.url);
  await completeLogin(page, customer.username, customer.password, customer.totp);
  await approveConsent(page, accountNames);
  const callback = await received;
  return { started, callback, tokens: await exchangeCode(started, callback) };
}
