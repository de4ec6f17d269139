// FAPI 2.0 Security Profile and Message Signing, PSD2 RTS Art. 36(5) and OWASP API3/API5/API7 as
// a black-box conformance suite drives them: a real TPP (oauth4webapi: PAR, PKCE, DPoP, JAR, JARM),
// a real customer in Chromium, a real resource server, and the refusals one fault at a time.
import assert from 'node:assert/strict';
import { createServer as createTcpServer } from 'node:net';
import { after, before, describe, mock, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import type { Browser, Page } from 'playwright-core';
import {
  approveConsent,
  authorizeInBrowser,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  rejectConsent,
  type StartedAuthorization,
  startAuthorization,
  type TestCustomer,
} from './support/browser.ts';
import { ASSERTION_TYPE, clientAssertion, dpopKey, dpopProof, type FormResponse, pkce, postForm } from './support/fapi.ts';
import { freePort, startTestServer, type TestServer } from './support/server.ts';
import {
  discover,
  dpopKeyPair,
  insecure,
  introspect,
  keyPair,
  REDIRECT_URI,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const accountInformation = (frequencyPerDay = 4) => ({
  type: 'account_information',
  permissions: ['balances'],
  expirationDateTime: inDays(30),
  frequencyPerDay,
});
const now = () => Math.floor(Date.now() / 1000);

function assertError(response: FormResponse, status: number, error: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error, error, JSON.stringify(response.body));
  assert.ok(!('access_token' in response.body), 'a token was issued');
}

describe('FAPI 2.0 conformance', () => {
  let server: TestServer;
  let issuer: string;
  let rs: ResourceServer;
  let tpp: Tpp;
  let psu: TestCustomer;
  let browser: Browser;
  let as: oauth.AuthorizationServer;

  before(async () => {
    server = await startTestServer({ env: { OUTBOUND_FETCH_ALLOWED_HOSTS: 'localhost,*.tpp.example' } });
    issuer = server.issuer;
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { client_name: 'Conformance Fintech' });
    psu = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    browser = await launchBrowser();
    as = await discover(issuer);
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  /** PAR for one account-information consent, with the request's extras. */
  const accountRequest = (extra: Parameters<typeof startAuthorization>[2] = {}) => ({
    scope: 'openid accounts',
    resource: rs.resource,
    authorization_details: [accountInformation()],
    ...extra,
  });

  /** Login (SCA when due) and consent in a fresh browser; the callback URL the TPP receives. */
  async function consentInBrowser(started: StartedAuthorization, page?: Page): Promise<URL> {
    const own = page ? undefined : await newPage(browser);
    const p = page ?? (own?.page as Page);
    try {
      const { received } = await interceptCallback(p, started.redirectUri);
      await p.goto(started.url);
      await completeLogin(p, psu.username, psu.password, psu.totp);
      await approveConsent(p, [EVERYDAY.name]);
      return await received;
    } finally {
      await own?.context.close();
    }
  }

  /** A raw authorization_code token request: one fault at a time (verifier, DPoP key). */
  async function redeem(
    started: StartedAuthorization,
    code: string,
    options: { verifier?: string | null; dpop?: Awaited<ReturnType<typeof dpopKey>> } = {},
  ): Promise<FormResponse> {
    const url = `${issuer}/token`;
    const key = options.dpop ?? (await dpopKey());
    return postForm(
      url,
      {
        grant_type: 'authorization_code',
        code,
        redirect_uri: started.redirectUri,
        ...(options.verifier === null ? {} : { code_verifier: options.verifier ?? started.verifier }),
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, started.tpp),
      },
      { dpop: await dpopProof(key, 'POST', url) },
    );
  }

  describe('request_uri at the point of authorization (SP 5.3.2.2)', () => {
    test('reloading the authorization URL and the sign-in page before completion keeps it; after completion it is refused', async () => {
      const started = await startAuthorization(server, tpp, accountRequest());
      const { context, page } = await newPage(browser);
      try {
        const first = await page.goto(started.url);
        assert.equal(first?.status(), 200);
        await page.getByLabel('Username').waitFor();
        assert.equal((await page.reload())?.status(), 200, 'a reload of the sign-in page');
        await page.getByLabel('Username').waitFor();
        // The customer opens the TPP's link again (back button, second tab): still usable.
        assert.equal((await page.goto(started.url))?.status(), 200);
        const callback = await consentInBrowser(started, page);
        assert.ok(callback.searchParams.get('code'));
        const tokens = await exchangeCode(started, callback);
        assert.equal(tokens.token_type, 'dpop');

        // Used once: the same request_uri again is an error page, never a second code.
        const again = await fetch(started.url, { redirect: 'manual' });
        const page2 = await again.text();
        assert.equal(again.status, 400);
        assert.match(page2, /<code>invalid_request_uri<\/code>/);
        assert.equal(again.headers.get('location'), null);
      } finally {
        await context.close();
      }
    });
  });

  describe('PKCE (SP 5.3.2.2-2, RFC 7636 4.6)', () => {
    test('a missing or wrong code_verifier gets invalid_grant; the right one then succeeds', async () => {
      const started = await startAuthorization(server, tpp, accountRequest());
      const callback = await consentInBrowser(started);
      const code = callback.searchParams.get('code') as string;
      assertError(await redeem(started, code, { verifier: null }), 400, 'invalid_grant');
      assertError(await redeem(started, code, { verifier: (await pkce()).verifier }), 400, 'invalid_grant');
      assertError(await redeem(started, code, { verifier: `${started.verifier}x` }), 400, 'invalid_grant');
      const tokens = await exchangeCode(started, callback);
      assert.equal(tokens.token_type, 'dpop');
    });

    test('a code_verifier for a code issued without a code_challenge is refused', async () => {
      // No authorization request can produce such a code (PAR refuses a missing challenge); the
      // token endpoint must refuse one anyway rather than treat the verifier as optional.
      const provider = server.server.holder.current;
      const client = await provider.Client.find(tpp.clientId);
      const grant = new provider.Grant({ accountId: psu.customer.id, clientId: tpp.clientId });
      grant.addOIDCScope('openid');
      const grantId = await grant.save();
      const code = await new provider.AuthorizationCode({
        client,
        accountId: psu.customer.id,
        grantId,
        redirectUri: REDIRECT_URI,
        scope: 'openid',
        authTime: now(),
      } as never).save();
      const started = { redirectUri: REDIRECT_URI, verifier: (await pkce()).verifier, tpp } as StartedAuthorization;
      assertError(await redeem(started, code), 400, 'invalid_grant');
    });
  });

  describe('DPoP binding at PAR (RFC 9449 section 10)', () => {
    test('a code bound at PAR (DPoP header) cannot be redeemed with another DPoP key', async () => {
      const bound = await dpopKey();
      const started = await startAuthorization(server, tpp, accountRequest({ dpopKey: bound.pair }));
      const callback = await consentInBrowser(started);
      const code = callback.searchParams.get('code') as string;
      assertError(await redeem(started, code, { dpop: await dpopKey() }), 400, 'invalid_grant');
      // The attempt spent the code: nobody gets a token for it now, the bound key included.
      assertError(await redeem(started, code, { dpop: bound }), 400, 'invalid_grant');
    });

    /** PAR without a DPoP header, naming the key by its thumbprint only (RFC 9449 section 10). */
    async function pushWithJkt(jkt: string): Promise<StartedAuthorization> {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const pushed = await postForm(`${issuer}/request`, {
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: JSON.stringify([accountInformation()]),
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        dpop_jkt: jkt,
        client_id: tpp.clientId,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, tpp),
      });
      assert.equal(pushed.status, 201, JSON.stringify(pushed.body));
      const url = new URL(`${issuer}/auth`);
      url.searchParams.set('client_id', tpp.clientId);
      url.searchParams.set('request_uri', pushed.body.request_uri as string);
      const requestUri = pushed.body.request_uri as string;
      return { as, tpp, url: url.href, requestUri, verifier, redirectUri: REDIRECT_URI, state } as StartedAuthorization;
    }

    test('a code bound by the dpop_jkt parameter: another key is refused, the bound key gets a token bound to it', async () => {
      const bound = await dpopKey();
      const refused = await pushWithJkt(bound.jkt);
      const code = (await consentInBrowser(refused)).searchParams.get('code') as string;
      assertError(await redeem(refused, code, { dpop: await dpopKey() }), 400, 'invalid_grant');

      const accepted = await pushWithJkt(bound.jkt);
      const good = (await consentInBrowser(accepted)).searchParams.get('code') as string;
      const response = await redeem(accepted, good, { dpop: bound });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.token_type, 'DPoP');
      const info = await introspect(as, rs, response.body.access_token as string);
      assert.equal((info.cnf as { jkt?: string }).jkt, bound.jkt);
    });
  });

  describe('authorization code lifetime and token entropy (SP 5.3.2.1, 5.4.1)', () => {
    test('a code lives at most 60 s: issued with an expiry at most 60 s after its issue time, refused 61 s later', async () => {
      const bound = await dpopKey();
      const started = await startAuthorization(server, tpp, accountRequest({ dpopKey: bound.pair }));
      const callback = await consentInBrowser(started);
      const code = callback.searchParams.get('code') as string;
      const row = await server.server.services.db.knex('oidc_payloads').where({ model: 'AuthorizationCode', id: code }).first();
      const payload = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as { iat: number; exp: number };
      assert.ok(payload.exp - payload.iat <= 60, `code lifetime ${payload.exp - payload.iat} s`);

      // The server's clock (it runs in this process) moves on; the client's with it.
      const realNow = Date.now;
      const redeemAfter = async (s: StartedAuthorization, c: string, seconds: number) => {
        const shifted = mock.method(Date, 'now', () => realNow() + seconds * 1000);
        try {
          return await redeem(s, c, { dpop: bound });
        } finally {
          shifted.mock.restore();
        }
      };
      assertError(await redeemAfter(started, code, 61), 400, 'invalid_grant');
      // Control: 50 s on, a code still works (the same code: the expired attempt did not spend it).
      const inTime = await redeemAfter(started, code, 50);
      assert.equal(inTime.status, 200, JSON.stringify(inTime.body));
    });

    test('codes, request_uris, access and refresh tokens carry at least 128 bits of entropy', async () => {
      const journey = await (async () => {
        const { context, page } = await newPage(browser);
        try {
          return await authorizeInBrowser(page, server, tpp, psu, [EVERYDAY.name], accountRequest());
        } finally {
          await context.close();
        }
      })();
      const reference = journey.started.requestUri.replace('urn:ietf:params:oauth:request_uri:', '');
      const values = {
        code: journey.callback.searchParams.get('code') as string,
        request_uri: reference,
        access_token: journey.tokens.access_token,
        refresh_token: journey.tokens.refresh_token as string,
      };
      for (const [name, value] of Object.entries(values)) {
        // base64url: 6 bits a character; 22 characters are 132 bits.
        assert.match(value, /^[A-Za-z0-9_-]+$/, `${name} is base64url`);
        assert.ok(value.length * 6 >= 128, `${name} has ${value.length * 6} bits`);
      }
      // Random, not derived: 200 access tokens, all distinct, every character position varies.
      const tokens = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const url = `${issuer}/token`;
          const response = await postForm(
            url,
            {
              grant_type: 'client_credentials',
              scope: 'accounts',
              resource: rs.resource,
              client_assertion_type: ASSERTION_TYPE,
              client_assertion: await clientAssertion(issuer, tpp),
            },
            { dpop: await dpopProof(await dpopKey(), 'POST', url) },
          );
          return response.body.access_token as string;
        }),
      );
      assert.equal(new Set(tokens).size, tokens.length);
      const positions = (tokens[0] as string).length;
      for (let i = 0; i < positions; i++) {
        assert.ok(new Set(tokens.map((t) => t[i])).size > 1, `position ${i} varies`);
      }
    });
  });

  describe('redirect URIs and redirects (SP 5.3.2.2, RFC 9700 4.1, 4.12)', () => {
    const variants: [string, string][] = [
      ['a trailing slash', `${REDIRECT_URI}/`],
      ['another path', 'https://tpp.example/callback2'],
      ['an added query', `${REDIRECT_URI}?next=https://evil.example`],
      ['another scheme', 'http://tpp.example/callback'],
      ['another port', 'https://tpp.example:8443/callback'],
      ['another host', 'https://evil.example/callback'],
      ['a subdomain', 'https://evil.tpp.example/callback'],
      ['another case', 'https://tpp.example/Callback'],
      ['a fragment', `${REDIRECT_URI}#x`],
    ];
    for (const [name, redirectUri] of variants) {
      test(`PAR with the registered redirect_uri plus ${name} -> 400 invalid_request`, async () => {
        const response = await postForm(`${issuer}/request`, {
          client_id: tpp.clientId,
          response_type: 'code',
          redirect_uri: redirectUri,
          scope: 'openid',
          code_challenge: (await pkce()).challenge,
          code_challenge_method: 'S256',
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await clientAssertion(issuer, tpp),
        });
        assertError(response, 400, 'invalid_request');
        assert.match(String(response.body.error_description), /redirect_uri/);
        assert.ok(!('request_uri' in response.body));
      });
    }

    test('no open redirect: an unregistered redirect_uri or an unknown client is an error page, never a Location', async () => {
      for (const query of [
        { client_id: tpp.clientId, response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid' },
        { client_id: 'no-such-client', response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid' },
      ]) {
        const response = await fetch(`${issuer}/auth?${new URLSearchParams(query)}`, { redirect: 'manual' });
        const page = await response.text();
        assert.equal(response.status, 400, page);
        assert.equal(response.headers.get('location'), null);
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
        assert.doesNotMatch(page, /evil\.example/);
      }
    });

    test('parameters beside request_uri never change where the customer is sent', async () => {
      const started = await startAuthorization(server, tpp, accountRequest());
      const url = new URL(started.url);
      url.searchParams.set('redirect_uri', 'https://evil.example/cb');
      url.searchParams.set('state', 'forged');
      const callback = await consentInBrowser({ ...started, url: url.href });
      assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
      assert.equal(callback.searchParams.get('state'), started.state);
      assert.ok(callback.searchParams.get('code'));
    });

    test("the bank's sign-in never redirects off-site: next=https://evil.example lands on the dashboard with 303", async () => {
      const { context, page } = await newPage(browser);
      const posts: { path: string; status: number; location?: string }[] = [];
      page.on('response', (r) => {
        if (r.request().method() === 'POST') {
          posts.push({ path: new URL(r.url()).pathname, status: r.status(), location: r.headers().location });
        }
      });
      try {
        await page.goto(`${issuer}/account/login?next=${encodeURIComponent('https://evil.example/steal')}`);
        await completeLogin(page, psu.username, psu.password, psu.totp);
        assert.equal(new URL(page.url()).origin, issuer);
        for (const post of posts) {
          if (post.status >= 300 && post.status < 400) {
            assert.equal(post.status, 303, `${post.path} answered ${post.status}`);
            assert.ok(post.location?.startsWith('/'), `${post.path} redirected to ${post.location}`);
          }
        }
        assert.ok(posts.some((p) => p.status === 303));
      } finally {
        await context.close();
      }
    });
  });

  describe('nonce and state (SP 5.3.2.2, OIDC Core 3.1.2.1)', () => {
    test('a 64-character nonce is in the ID token whole; a 1500-character state comes back unmodified', async () => {
      const nonce = 'n'.repeat(20) + oauth.generateRandomNonce() + 'N'.repeat(64);
      const state = `${'s'.repeat(1400)} +&=%/?#é€😀${'t'.repeat(84)}`;
      const fixedNonce = nonce.slice(0, 64);
      const started = await startAuthorization(server, tpp, accountRequest({ nonce: fixedNonce, state }));
      const callback = await consentInBrowser(started);
      assert.equal(callback.searchParams.get('state'), state);
      const tokens = await exchangeCode(started, callback);
      const claims = decodeJwt(tokens.id_token as string);
      assert.equal(claims.nonce, fixedNonce);
      assert.equal((claims.nonce as string).length, 64);
    });

    test('without state the response has none, on success and on denial', async () => {
      const started = await startAuthorization(server, tpp, accountRequest({ state: null }));
      const callback = await consentInBrowser(started);
      assert.ok(callback.searchParams.get('code'));
      assert.equal(callback.searchParams.has('state'), false);

      const denied = await startAuthorization(server, tpp, accountRequest({ state: null }));
      const { context, page } = await newPage(browser);
      try {
        const { received } = await interceptCallback(page);
        await page.goto(denied.url);
        await completeLogin(page, psu.username, psu.password, psu.totp);
        await rejectConsent(page);
        const error = await received;
        assert.equal(error.searchParams.get('error'), 'access_denied');
        assert.equal(error.searchParams.has('state'), false);
        assert.equal(error.searchParams.get('iss'), issuer);
      } finally {
        await context.close();
      }
    });
  });

  describe('FAPI 2.0 Message Signing: signed request objects at PAR (JAR, RFC 9101) and JARM', () => {
    let rsaTpp: Tpp;
    let rsaKey: { rs256: CryptoKey; ps256: CryptoKey; kid: string };

    before(async () => {
      const { privateKey, publicKey } = await generateKeyPair('PS256', { modulusLength: 2048, extractable: true });
      const privateJwk = await exportJWK(privateKey);
      const kid = 'rsa-jar';
      rsaKey = {
        rs256: (await importJWK(privateJwk, 'RS256')) as CryptoKey,
        ps256: (await importJWK(privateJwk, 'PS256')) as CryptoKey,
        kid,
      };
      const es = await keyPair('ES256');
      // The RSA key names no alg: only the server's algorithm policy can refuse RS256.
      rsaTpp = await registerTpp(server, {
        jwks: { keys: [es.publicJwk, { ...(await exportJWK(publicKey)), kid, use: 'sig' }] },
      });
      rsaTpp = { ...rsaTpp, key: es, auth: oauth.PrivateKeyJwt({ key: es.privateKey, kid: es.kid }) };
    });

    interface Signed {
      client?: Tpp;
      claims?: Record<string, unknown>;
      drop?: string[];
      alg?: string;
      key?: CryptoKey;
      kid?: string;
      outside?: Record<string, string>;
    }

    /** The authorization request as a signed request object, pushed with client authentication. */
    async function pushSigned(options: Signed = {}) {
      const client = options.client ?? tpp;
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const claims: Record<string, unknown> = {
        iss: client.clientId,
        aud: issuer,
        client_id: client.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [accountInformation()],
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        jti: oauth.generateRandomState(),
        iat: now(),
        nbf: now(),
        exp: now() + 60,
        ...options.claims,
      };
      for (const name of options.drop ?? []) delete claims[name];
      const alg = options.alg ?? 'ES256';
      const request =
        alg === 'none'
          ? `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
          : await new SignJWT(claims)
              .setProtectedHeader({ alg, kid: options.kid ?? client.key.kid, typ: 'oauth-authz-req+jwt' })
              .sign(options.key ?? client.key.privateKey);
      const response = await postForm(`${issuer}/request`, {
        client_id: client.clientId,
        request,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, client),
        ...options.outside,
      });
      return { response, verifier, state };
    }

    test('control: a signed request object (oauth4webapi issueRequestObject) at PAR, then the code flow', async () => {
      const verifier = oauth.generateRandomCodeVerifier();
      const state = oauth.generateRandomState();
      const params = new URLSearchParams({
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: JSON.stringify([accountInformation()]),
        state,
        code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      });
      const request = await oauth.issueRequestObject(as, tpp.client, params, { key: tpp.key.privateKey, kid: tpp.key.kid });
      const dpopPair = await dpopKeyPair();
      const DPoP = oauth.DPoP(tpp.client, dpopPair);
      const push = () =>
        oauth.pushedAuthorizationRequest(as, tpp.client, tpp.auth, new URLSearchParams({ request }), { ...insecure, DPoP });
      let pushed: oauth.PushedAuthorizationResponse;
      try {
        pushed = await oauth.processPushedAuthorizationResponse(as, tpp.client, await push());
      } catch (err) {
        if (!oauth.isDPoPNonceError(err)) throw err;
        pushed = await oauth.processPushedAuthorizationResponse(as, tpp.client, await push());
      }
      const url = new URL(`${issuer}/auth`);
      url.searchParams.set('client_id', tpp.clientId);
      url.searchParams.set('request_uri', pushed.request_uri);
      const started = {
        as,
        tpp,
        url: url.href,
        requestUri: pushed.request_uri,
        verifier,
        dpopKey: dpopPair,
        dpop: DPoP,
        redirectUri: REDIRECT_URI,
        state,
        scope: 'openid accounts',
      } as StartedAuthorization;
      const callback = await consentInBrowser(started);
      const tokens = await exchangeCode(started, callback);
      assert.equal(tokens.token_type, 'dpop');
    });

    const refused: [string, () => Signed][] = [
      ['aud another issuer', () => ({ claims: { aud: 'https://other.example' } })],
      ['aud the PAR endpoint', () => ({ claims: { aud: `${issuer}/request` } })],
      ['no exp', () => ({ drop: ['exp'] })],
      ['no nbf', () => ({ drop: ['nbf'] })],
      ['exp in the past', () => ({ claims: { iat: now() - 120, nbf: now() - 120, exp: now() - 60 } })],
      ['nbf 120 s in the future', () => ({ claims: { nbf: now() + 120, exp: now() + 180 } })],
      ['exp - nbf over 60 minutes', () => ({ claims: { exp: now() + 3601 } })],
      ['alg none', () => ({ alg: 'none' })],
      ['RS256 by a registered RSA key', () => ({ client: rsaTpp, alg: 'RS256', key: rsaKey.rs256, kid: rsaKey.kid })],
    ];
    for (const [name, options] of refused) {
      test(`refused at PAR: request object with ${name} -> 400 invalid_request_object`, async () => {
        const { response } = await pushSigned(options());
        assertError(response, 400, 'invalid_request_object');
        assert.ok(!('request_uri' in response.body));
      });
    }

    test('refused at PAR: a bad signature (another key under the registered kid) -> 400 invalid_request_object', async () => {
      const forger = await keyPair('ES256');
      const { response } = await pushSigned({ key: forger.privateKey });
      assertError(response, 400, 'invalid_request_object');
    });

    test('accepted: PS256 by the same RSA key; exp - nbf of exactly 60 minutes', async () => {
      const ps = await pushSigned({ client: rsaTpp, alg: 'PS256', key: rsaKey.ps256, kid: rsaKey.kid });
      assert.equal(ps.response.status, 201, JSON.stringify(ps.response.body));
      const hour = await pushSigned({ claims: { exp: now() + 3600 } });
      assert.equal(hour.response.status, 201, JSON.stringify(hour.response.body));
    });

    test('parameters outside the request object are ignored', async () => {
      const { response, verifier, state } = await pushSigned({
        outside: {
          redirect_uri: 'https://evil.example/cb',
          state: 'outside-state',
          scope: 'openid accounts payments',
          response_mode: 'fragment',
          nonce: 'outside-nonce',
        },
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      const url = new URL(`${issuer}/auth`);
      url.searchParams.set('client_id', tpp.clientId);
      url.searchParams.set('request_uri', response.body.request_uri as string);
      const requestUri = response.body.request_uri as string;
      const started = { as, tpp, url: url.href, requestUri, verifier, redirectUri: REDIRECT_URI, state } as StartedAuthorization;
      const callback = await consentInBrowser(started);
      assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
      assert.equal(callback.searchParams.get('state'), state);
      const tokens = await redeem(started, callback.searchParams.get('code') as string);
      assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
      assert.doesNotMatch(String(tokens.body.scope), /payments/);
      assert.equal(decodeJwt(tokens.body.id_token as string).nonce, undefined);
    });

    test('JARM (response_mode=jwt): the code comes back in a signed JWT that oauth4webapi validates', async () => {
      const started = await startAuthorization(server, tpp, accountRequest({ params: { response_mode: 'jwt' } }));
      const callback = await consentInBrowser(started);
      assert.equal(callback.searchParams.has('code'), false, 'no bare code in the URL');
      const response = callback.searchParams.get('response') as string;
      const header = decodeProtectedHeader(response);
      assert.ok(['PS256', 'ES256', 'EdDSA'].includes(header.alg as string), `signed with ${header.alg}`);
      const claims = decodeJwt(response);
      assert.equal(claims.iss, issuer);
      assert.equal(claims.aud, tpp.clientId);
      assert.equal(claims.state, started.state);
      assert.ok((claims.exp as number) - now() <= 600);
      const params = await oauth.validateJwtAuthResponse(as, tpp.client, callback, started.state as string, insecure);
      const exchanged = await oauth.authorizationCodeGrantRequest(
        as,
        tpp.client,
        tpp.auth,
        params,
        started.redirectUri,
        started.verifier,
        { ...insecure, DPoP: started.dpop },
      );
      const tokens = await oauth.processAuthorizationCodeResponse(as, tpp.client, exchanged);
      assert.equal(tokens.token_type, 'dpop');
    });

    test('discovery advertises JAR and JARM with the FAPI algorithms only', async () => {
      const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
      assert.equal(metadata.request_parameter_supported, true);
      for (const name of ['request_object_signing_alg_values_supported', 'authorization_signing_alg_values_supported']) {
        const algs = metadata[name] as string[];
        assert.ok(algs.length > 0, name);
        assert.deepEqual(
          algs.filter((a) => !['PS256', 'ES256', 'EdDSA'].includes(a)),
          [],
          name,
        );
      }
      assert.ok((metadata.response_modes_supported as string[]).includes('jwt'));
    });
  });

  describe('PSD2 RTS Art. 36(5): unattended access at most frequencyPerDay a day', () => {
    const introspectAs = async (token: string, headers: Record<string, string> = {}) => {
      const response = await oauth.introspectionRequest(as, rs.client, rs.auth, token, { ...insecure, headers });
      return oauth.processIntrospectionResponse(as, rs.client, response);
    };

    async function consentTokens(frequencyPerDay: number) {
      const { context, page } = await newPage(browser);
      try {
        const request = accountRequest({ authorization_details: [accountInformation(frequencyPerDay)] });
        return (await authorizeInBrowser(page, server, tpp, psu, [EVERYDAY.name], request)).tokens;
      } finally {
        await context.close();
      }
    }

    test('frequencyPerDay 2: two unattended accesses, then inactive; customer-present accesses are not counted', async () => {
      const tokens = await consentTokens(2);
      const present = { 'x-fapi-customer-ip-address': '198.51.100.7' };
      assert.equal((await introspectAs(tokens.access_token, present)).active, true, 'customer present');
      assert.equal((await introspectAs(tokens.access_token)).active, true, 'first unattended');
      assert.equal((await introspectAs(tokens.access_token)).active, true, 'second unattended');
      const third = await introspectAs(tokens.access_token);
      assert.equal(third.active, false, 'third unattended access of the day');
      assert.deepEqual(Object.keys(third), ['active']);
      assert.equal((await introspectAs(tokens.access_token, { 'x-fapi-customer-ip-address': 'not-an-ip' })).active, false);
      assert.equal((await introspectAs(tokens.access_token, present)).active, true, 'the customer present still gets in');
    });

    test('the allowance renews with the next UTC day', async () => {
      const tokens = await consentTokens(1);
      const present = await introspectAs(tokens.access_token, { 'x-fapi-customer-ip-address': '198.51.100.7' });
      const consentId = present.consent_id as string;
      assert.ok(consentId);
      assert.equal((await introspectAs(tokens.access_token)).active, true, 'the one unattended access of today');
      assert.equal((await introspectAs(tokens.access_token)).active, false, 'a second one today');
      // The counted accesses become yesterday's: today starts with the whole allowance again.
      const knex = server.server.services.db.knex;
      await knex('consent_access_days')
        .where({ consent_id: consentId })
        .update({ day: knex.raw("day - interval '1 day'") });
      assert.equal((await introspectAs(tokens.access_token)).active, true, 'the next day');
      assert.equal((await introspectAs(tokens.access_token)).active, false, 'and again only once');
      const days = await knex('consent_access_days').where({ consent_id: consentId }).orderBy('day');
      assert.deepEqual(
        days.map((d: { unattended: number }) => d.unattended),
        [1, 1],
      );
    });

    test('without frequencyPerDay the default is 4; 12 concurrent unattended introspections let exactly 4 through', async () => {
      const { context, page } = await newPage(browser);
      let tokens: oauth.TokenEndpointResponse;
      try {
        const detail: Record<string, unknown> = accountInformation();
        delete detail.frequencyPerDay;
        tokens = (
          await authorizeInBrowser(page, server, tpp, psu, [EVERYDAY.name], accountRequest({ authorization_details: [detail] }))
        ).tokens;
      } finally {
        await context.close();
      }
      const results = await Promise.all(Array.from({ length: 12 }, () => introspectAs(tokens.access_token)));
      assert.equal(results.filter((r) => r.active).length, 4);
    });
  });

  describe('OWASP API3: userinfo and ID tokens return only what was granted', () => {
    test('claims asked for beyond the grant (name, email, phone, address) appear in neither', async () => {
      const claims = {
        id_token: { name: { essential: true }, email: null, phone_number: null, address: null, acr: null },
        userinfo: { name: { essential: true }, email: null, phone_number: null, address: null, birthdate: null },
      };
      const nonce = oauth.generateRandomNonce();
      const { context, page } = await newPage(browser);
      let journey: Awaited<ReturnType<typeof authorizeInBrowser>>;
      try {
        journey = await authorizeInBrowser(
          page,
          server,
          tpp,
          psu,
          [EVERYDAY.name],
          accountRequest({ nonce, params: { claims: JSON.stringify(claims) } }),
        );
      } finally {
        await context.close();
      }
      const idToken = decodeJwt(journey.tokens.id_token as string);
      const protocol = ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'nonce', 'acr', 'amr', 'sid', 'at_hash', 'azp'];
      assert.deepEqual(
        Object.keys(idToken).filter((k) => !protocol.includes(k)),
        [],
        JSON.stringify(idToken),
      );
      assert.equal(idToken.sub, psu.customer.id);
      const text = JSON.stringify(idToken);
      for (const secret of [EVERYDAY.iban, EVERYDAY.name, psu.username]) assert.ok(!text.includes(secret), secret);

      // Every consent's token is made for its resource server (RAR needs one) and carries no
      // openid scope: userinfo refuses it. (An identity-only sign-in reads sub there:
      // test/identity.test.ts.)
      const forResource = await oauth.userInfoRequest(as, tpp.client, journey.tokens.access_token, {
        ...insecure,
        DPoP: journey.started.dpop,
      });
      assert.equal(forResource.status, 403);
      assert.equal(((await forResource.json()) as { error?: string }).error, 'insufficient_scope');
    });
  });

  describe('OWASP API5: TPP tokens never reach admin or consent management', () => {
    test("a TPP's access token gets nothing from the admin API, the customer's dashboard or the resource-server API", async () => {
      const { context, page } = await newPage(browser);
      let journey: Awaited<ReturnType<typeof authorizeInBrowser>>;
      try {
        journey = await authorizeInBrowser(page, server, tpp, psu, [EVERYDAY.name], accountRequest());
      } finally {
        await context.close();
      }
      const token = journey.tokens.access_token;
      const present = { 'x-fapi-customer-ip-address': '198.51.100.7' };
      const info = await oauth.processIntrospectionResponse(
        as,
        rs.client,
        await oauth.introspectionRequest(as, rs.client, rs.auth, token, { ...insecure, headers: present }),
      );
      const consentId = info.consent_id as string;
      const key = await dpopKey();
      for (const [method, path] of [
        ['GET', '/admin/clients'],
        ['GET', '/admin/audit'],
        ['POST', `/admin/clients/${tpp.clientId}/suspend`],
      ] as const) {
        for (const scheme of ['Bearer', 'DPoP']) {
          const url = `${issuer}${path}`;
          const response = await fetch(url, {
            method,
            headers: { authorization: `${scheme} ${token}`, dpop: await dpopProof(key, method, url) },
          });
          assert.equal(response.status, 401, `${scheme} ${method} ${path}`);
          assert.ok(!JSON.stringify(await response.json()).includes(psu.customer.id));
        }
      }
      for (const [method, path] of [
        ['GET', '/account'],
        ['POST', `/account/consents/${consentId}/revoke`],
      ] as const) {
        const response = await fetch(`${issuer}${path}`, {
          method,
          redirect: 'manual',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
          ...(method === 'POST' ? { body: 'csrf=x' } : {}),
        });
        const body = await response.text();
        assert.ok(
          response.status === 303 || response.status === 403 || response.status === 401,
          `${method} ${path}: ${response.status}`,
        );
        if (response.status === 303) assert.match(response.headers.get('location') ?? '', /^\/account\/login/);
        assert.ok(!body.includes(EVERYDAY.iban) && !body.includes('DE89 3704'), `${method} ${path} shows no account`);
      }
      const executed = await fetch(`${issuer}/consents/${consentId}/payment-executed`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(executed.status, 401);
      assert.equal((await server.server.services.consents.get(consentId))?.status, 'authorised', 'the consent is untouched');
    });
  });

  describe('OWASP API7: server-side fetches', () => {
    test('jwks_uri: http, a host off the allow-list and sector_identifier_uri are refused at registration', async () => {
      const key = await keyPair('ES256');
      const base = {
        client_name: 'Fetching Fintech',
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'private_key_jwt',
      };
      for (const [name, extra] of [
        ['http', { jwks_uri: 'http://keys.tpp.example/jwks' }],
        ['off the allow-list', { jwks_uri: 'https://keys.elsewhere.example/jwks' }],
        ['an allow-listed suffix as a bare label', { jwks_uri: 'https://evil-tpp.example/jwks' }],
        ['sector_identifier_uri', { jwks: { keys: [key.publicJwk] }, sector_identifier_uri: 'https://keys.tpp.example/s' }],
      ] as const) {
        const response = await server.admin('POST', '/admin/clients', { ...base, ...extra });
        const body = (await response.json()) as { error?: string; error_description?: string };
        assert.equal(response.status, 400, `${name}: ${JSON.stringify(body)}`);
        assert.match(String(body.error), /invalid_client_metadata|invalid_request/, name);
      }
      const allowed = await server.admin('POST', '/admin/clients', { ...base, jwks_uri: 'https://keys.tpp.example/jwks' });
      const text = await allowed.text();
      assert.equal(allowed.status, 201, text);
    });

    test('a jwks_uri on an allow-listed host that resolves to loopback is never connected to', async () => {
      let connections = 0;
      const listener = createTcpServer((socket) => {
        connections++;
        socket.destroy();
      });
      const port = await freePort();
      await new Promise<void>((resolve) => listener.listen(port, '127.0.0.1', resolve));
      try {
        const key = await keyPair('ES256');
        const response = await server.admin('POST', '/admin/clients', {
          client_name: 'Loopback Fintech',
          redirect_uris: [REDIRECT_URI],
          token_endpoint_auth_method: 'private_key_jwt',
          token_endpoint_auth_signing_alg: 'ES256',
          jwks_uri: `https://localhost:${port}/jwks`,
        });
        const registered = await response.text();
        assert.equal(response.status, 201, registered);
        const { client_id: clientId } = JSON.parse(registered) as { client_id: string };
        const client = { clientId, key } as Tpp;
        const url = `${issuer}/token`;
        const token = await postForm(
          url,
          {
            grant_type: 'client_credentials',
            scope: 'accounts',
            resource: rs.resource,
            client_assertion_type: ASSERTION_TYPE,
            client_assertion: await clientAssertion(issuer, client),
          },
          { dpop: await dpopProof(await dpopKey(), 'POST', url) },
        );
        assertError(token, 401, 'invalid_client');
        assert.equal(connections, 0, 'the server opened a connection to a loopback address');
      } finally {
        listener.close();
      }
    });
  });
});
