// FAPI 2.0 Security Profile, the refusals: every request a compliant client library would never
// send, built by hand so that each case carries exactly one fault (everything else, DPoP proof
// included, is valid). Each case asserts the status and the error code the client sees.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { exportJWK, generateKeyPair, importJWK } from 'jose';
import {
  ASSERTION_TYPE,
  clientAssertion,
  type FormResponse,
  pkce,
  postForm,
  tokenRequest,
  unsignedAssertion,
} from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  type KeyPair,
  keyPair,
  REDIRECT_URI,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

type Signer = Pick<KeyPair, 'privateKey' | 'kid'>;

function assertError(response: FormResponse, status: number, error: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.equal(response.body.error, error, JSON.stringify(response.body));
  assert.ok(!('access_token' in response.body), 'an access token was issued');
}

/** One RSA key, as an RS256 and a PS256 signer (WebCrypto binds a CryptoKey to one algorithm). */
async function rsaSigners(): Promise<{ publicJwk: Record<string, unknown>; rs256: Signer; ps256: Signer }> {
  const { privateKey, publicKey } = await generateKeyPair('PS256', { modulusLength: 2048, extractable: true });
  const kid = 'rsa-1';
  const privateJwk = await exportJWK(privateKey);
  const signer = async (alg: string) => ({ privateKey: (await importJWK(privateJwk, alg)) as CryptoKey, kid });
  // The published key names no alg, so only the server's algorithm policy can refuse RS256.
  return {
    publicJwk: { ...(await exportJWK(publicKey)), kid, use: 'sig' },
    rs256: await signer('RS256'),
    ps256: await signer('PS256'),
  };
}

/** `accounts` is granted through an account_information detail (RFC 9396): PAR refuses it alone. */
const ACCOUNT_ACCESS = JSON.stringify([{ type: 'account_information', permissions: ['balances'] }]);
describe('FAPI 2.0 refusals', () => {
  let server: TestServer;
  let issuer: string;
  let rs: ResourceServer;
  let tpp: Tpp;
  let params: Record<string, string>;

  before(async () => {
    server = await startTestServer();
    issuer = server.issuer;
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
    params = { scope: 'accounts', resource: rs.resource };
  });
  after(() => server.close());

  describe('sender-constrained tokens only (SP 5.3.2.1-4)', () => {
    test('a DPoP-bound client without a DPoP proof gets invalid_grant, never a Bearer token', async () => {
      const response = await tokenRequest(issuer, await clientAssertion(issuer, tpp), { params, dpop: null });
      assertError(response, 400, 'invalid_grant');
    });

    test('an mTLS-bound client without a certificate gets invalid_grant, never a Bearer token', async () => {
      const mtlsBound = await registerTpp(server, { tls_client_certificate_bound_access_tokens: true });
      const response = await tokenRequest(issuer, await clientAssertion(issuer, mtlsBound), { params, dpop: null });
      assertError(response, 400, 'invalid_grant');
    });

    test('control: the same request with a DPoP proof gets a DPoP token', async () => {
      const response = await tokenRequest(issuer, await clientAssertion(issuer, tpp), { params });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.equal(response.body.token_type, 'DPoP');
    });
  });

  describe('client assertions (SP 5.3.2.1-8, 5.4.1)', () => {
    let rsaTpp: Tpp;
    let rs256: Signer;
    let ps256: Signer;

    before(async () => {
      const rsa = await rsaSigners();
      ({ rs256, ps256 } = rsa);
      // No token_endpoint_auth_signing_alg: the server's own algorithm list decides.
      rsaTpp = await registerTpp(server, { jwks: { keys: [rsa.publicJwk] }, token_endpoint_auth_signing_alg: undefined });
    });

    const refused: { name: string; assertion: () => Promise<string> }[] = [
      { name: 'aud as an array holding the issuer', assertion: () => clientAssertion(issuer, tpp, { aud: [issuer] }) },
      { name: 'aud = the token endpoint URL', assertion: () => clientAssertion(issuer, tpp, { aud: `${issuer}/token` }) },
      { name: 'aud = the PAR endpoint URL', assertion: () => clientAssertion(issuer, tpp, { aud: `${issuer}/request` }) },
      { name: 'aud = another issuer', assertion: () => clientAssertion(issuer, tpp, { aud: 'https://other.example' }) },
      {
        name: 'RS256 signature by a registered RSA key',
        assertion: () => clientAssertion(issuer, rsaTpp, { alg: 'RS256', key: rs256 }),
      },
      { name: 'alg none', assertion: async () => unsignedAssertion(issuer, tpp) },
      {
        name: "signed by an unregistered key with the registered key's kid",
        assertion: async () => clientAssertion(issuer, tpp, { key: await keyPair('ES256', tpp.key.kid) }),
      },
      { name: 'exp in the past', assertion: () => clientAssertion(issuer, tpp, { iat: -120, exp: -60 }) },
      { name: 'iat 120 s in the future', assertion: () => clientAssertion(issuer, tpp, { iat: 120, exp: 180 }) },
      { name: 'nbf 120 s in the future', assertion: () => clientAssertion(issuer, tpp, { nbf: 120, exp: 180 }) },
    ];
    for (const { name, assertion } of refused) {
      test(`refused: ${name} -> 401 invalid_client`, async () => {
        assertError(await tokenRequest(issuer, await assertion(), { params }), 401, 'invalid_client');
      });
    }

    const accepted: { name: string; assertion: () => Promise<string> }[] = [
      { name: 'iat 5 s in the future', assertion: () => clientAssertion(issuer, tpp, { iat: 5 }) },
      { name: 'nbf 5 s in the future', assertion: () => clientAssertion(issuer, tpp, { nbf: 5 }) },
      { name: 'PS256 by the same RSA key', assertion: () => clientAssertion(issuer, rsaTpp, { alg: 'PS256', key: ps256 }) },
    ];
    for (const { name, assertion } of accepted) {
      test(`accepted: ${name}`, async () => {
        const response = await tokenRequest(issuer, await assertion(), { params });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.token_type, 'DPoP');
      });
    }

    test('a replayed assertion jti is refused the second time, even with a fresh DPoP proof', async () => {
      const assertion = await clientAssertion(issuer, tpp);
      const first = await tokenRequest(issuer, assertion, { params });
      assert.equal(first.status, 200, JSON.stringify(first.body));
      assertError(await tokenRequest(issuer, assertion, { params }), 401, 'invalid_client');
    });

    test('a jti reused in a new assertion is refused', async () => {
      const jti = `jti-${Date.now()}`;
      assert.equal((await tokenRequest(issuer, await clientAssertion(issuer, tpp, { jti }), { params })).status, 200);
      assertError(await tokenRequest(issuer, await clientAssertion(issuer, tpp, { jti }), { params }), 401, 'invalid_client');
    });
  });

  describe('pushed authorization requests (SP 5.3.2.2)', () => {
    let challenge: string;
    const par = (form: Record<string, string>) =>
      postForm(`${issuer}/request`, {
        client_id: tpp.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'accounts',
        resource: rs.resource,
        authorization_details: ACCOUNT_ACCESS,
        ...form,
      });
    const withAuth = async (form: Record<string, string>, aud = issuer) =>
      par({
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, tpp, { aud }),
        ...form,
      });

    before(async () => {
      challenge = (await pkce()).challenge;
    });

    test('control: an authenticated PAR with S256 gets a request_uri that expires in under 600 s', async () => {
      const response = await withAuth({ code_challenge: challenge, code_challenge_method: 'S256' });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      assert.match(response.body.request_uri as string, /^urn:ietf:params:oauth:request_uri:/);
      assert.ok((response.body.expires_in as number) > 0 && (response.body.expires_in as number) < 600);
    });

    const cases: { name: string; send: () => Promise<FormResponse>; status: number; error: string }[] = [
      {
        name: 'without client authentication',
        send: () => par({ code_challenge: challenge, code_challenge_method: 'S256' }),
        status: 401,
        error: 'invalid_client',
      },
      {
        name: 'with an assertion whose aud is the PAR URL',
        send: () => withAuth({ code_challenge: challenge, code_challenge_method: 'S256' }, `${issuer}/request`),
        status: 401,
        error: 'invalid_client',
      },
      { name: 'without code_challenge', send: () => withAuth({}), status: 400, error: 'invalid_request' },
      {
        name: 'with code_challenge_method plain',
        send: () => withAuth({ code_challenge: challenge, code_challenge_method: 'plain' }),
        status: 400,
        error: 'invalid_request',
      },
      {
        name: 'with response_type token',
        send: () => withAuth({ response_type: 'token', code_challenge: challenge, code_challenge_method: 'S256' }),
        status: 400,
        error: 'unsupported_response_type',
      },
      {
        name: 'with response_type code id_token (hybrid)',
        send: () => withAuth({ response_type: 'code id_token', code_challenge: challenge, code_challenge_method: 'S256' }),
        status: 400,
        error: 'unsupported_response_type',
      },
      {
        name: 'with an unregistered redirect_uri',
        send: () =>
          withAuth({ redirect_uri: 'https://evil.example/cb', code_challenge: challenge, code_challenge_method: 'S256' }),
        status: 400,
        error: 'invalid_request',
      },
    ];
    for (const { name, send, status, error } of cases) {
      test(`PAR ${name} -> ${status} ${error}`, async () => {
        const response = await send();
        assertError(response, status, error);
        assert.ok(!('request_uri' in response.body));
      });
    }
  });

  describe('the authorization endpoint', () => {
    const authorize = (query: Record<string, string>) =>
      fetch(`${issuer}/auth?${new URLSearchParams(query)}`, { redirect: 'manual' });

    const pushed = async (client: Tpp) => {
      const response = await postForm(`${issuer}/request`, {
        client_id: client.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'accounts',
        resource: rs.resource,
        authorization_details: ACCOUNT_ACCESS,
        code_challenge: (await pkce()).challenge,
        code_challenge_method: 'S256',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, client),
      });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.request_uri as string;
    };

    test('without any parameter: an HTML error page, no redirect', async () => {
      const response = await authorize({});
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      const page = await response.text();
      assert.match(page, /<code>invalid_request<\/code>/);
      assert.match(page, /client_id/);
    });

    test('raw parameters without request_uri (PAR required): an error redirect carrying iss, no code', async () => {
      const response = await authorize({
        client_id: tpp.clientId,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'accounts',
        state: 'xyz',
        code_challenge: (await pkce()).challenge,
        code_challenge_method: 'S256',
      });
      await response.arrayBuffer();
      assert.equal(response.status, 303);
      const location = new URL(response.headers.get('location') ?? '');
      assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
      assert.equal(location.searchParams.get('error'), 'invalid_request');
      assert.match(location.searchParams.get('error_description') ?? '', /Pushed Authorization Request/i);
      assert.equal(location.searchParams.get('iss'), issuer); // RFC 9207
      assert.equal(location.searchParams.get('state'), 'xyz');
      assert.equal(location.searchParams.get('code'), null);
    });

    test("client B cannot use client A's request_uri (OWASP API1)", async () => {
      const clientB = await registerTpp(server);
      const requestUri = await pushed(tpp);
      const response = await authorize({ client_id: clientB.clientId, request_uri: requestUri });
      const page = await response.text();
      assert.equal(response.status, 400);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page, /<code>invalid_request_object<\/code>/);
      const location = response.headers.get('location');
      assert.ok(location === null || !new URL(location, issuer).searchParams.has('code'));
    });

    test('control: client A with its own request_uri proceeds to the login interaction', async () => {
      const response = await authorize({ client_id: tpp.clientId, request_uri: await pushed(tpp) });
      await response.arrayBuffer();
      assert.equal(response.status, 303);
      assert.match(response.headers.get('location') ?? '', /^\/interaction\//);
    });
  });

  describe('introspection is for resource servers only', () => {
    test('a TPP introspecting gets 400 unauthorized_client', async () => {
      const response = await postForm(`${issuer}/token/introspection`, {
        token: 'anything',
        client_id: tpp.clientId,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion(issuer, tpp),
      });
      assertError(response, 400, 'unauthorized_client');
      assert.ok(!('active' in response.body));
    });

    test('a resource server with a wrong secret gets 401 invalid_client', async () => {
      const basic = Buffer.from(`${rs.clientId}:${rs.clientSecret}x`).toString('base64');
      const response = await postForm(
        `${issuer}/token/introspection`,
        { token: 'anything' },
        { authorization: `Basic ${basic}` },
      );
      assertError(response, 401, 'invalid_client');
    });

    // RFC 6749 2.3.1: credentials are form-urlencoded before base64. A malformed escape ("%zz") is a
    // failed authentication in the endpoint's own words, never a URIError answered as a 500.
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
    const malformed = () => [
      ['%zz', '%zz'],
      [rs.clientId, '%zz'],
      ['%zz', rs.clientSecret],
      [rs.clientId, '%E0%A4%A'],
    ];

    test('a resource server reporting a payment with malformed Basic credentials gets 401 invalid_client', async () => {
      for (const [id, secret] of malformed()) {
        const response = await fetch(`${issuer}/consents/x/payment-executed`, {
          method: 'POST',
          headers: { authorization: basic(id as string, secret as string) },
        });
        const body = (await response.json()) as Record<string, unknown>;
        assert.equal(response.status, 401, `${id}:${secret} ${JSON.stringify(body)}`);
        assert.equal(body.error, 'invalid_client');
        assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
      }
      // control: the same credentials form-encoded ("_" as %5F) authenticate; the consent is unknown.
      const encoded = await fetch(`${issuer}/consents/x/payment-executed`, {
        method: 'POST',
        headers: { authorization: basic(rs.clientId.replace('_', '%5F'), rs.clientSecret) },
      });
      assert.equal(encoded.status, 404, await encoded.text());
    });

    test('introspection and revocation with malformed Basic credentials are refused as malformed, never a 500', async () => {
      for (const path of ['/token/introspection', '/token/revocation']) {
        for (const [id, secret] of malformed()) {
          const response = await postForm(
            `${issuer}${path}`,
            { token: 'anything' },
            { authorization: basic(id as string, secret as string) },
          );
          assert.ok(response.status === 400 || response.status === 401, `${path} ${id}:${secret} ${response.status}`);
          assert.match(String(response.body.error), /^(invalid_request|invalid_client)$/, `${path} ${id}:${secret}`);
        }
      }
      const encoded = await postForm(
        `${issuer}/token/introspection`,
        { token: 'anything' },
        { authorization: basic(rs.clientId.replace('_', '%5F'), rs.clientSecret) },
      );
      assert.equal(encoded.status, 200, JSON.stringify(encoded.body));
      assert.equal(encoded.body.active, false);
    });

    test('a resource server cannot obtain tokens', async () => {
      const basic = Buffer.from(`${rs.clientId}:${rs.clientSecret}`).toString('base64');
      const response = await postForm(
        `${issuer}/token`,
        { grant_type: 'client_credentials', ...params },
        { authorization: `Basic ${basic}` },
      );
      assertError(response, 401, 'invalid_client');
    });
  });
});
