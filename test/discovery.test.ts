// What a TPP and a browser see before any flow: the discovery document (FAPI 2.0 SP 5.3.2.1,
// RFC 8414), the JWKS (SP 5.4.1), and the headers on pages and API errors (OWASP API8).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from './support/server.ts';

const FAPI_ALGS = new Set(['PS256', 'ES256', 'EdDSA']);
const STACK_TRACE = /\bat .+[(\s].+:\d+:\d+|node_modules|\.ts:\d+|\bError: /;

describe('discovery, JWKS and response headers', () => {
  let server: TestServer;
  let metadata: Record<string, unknown>;

  before(async () => {
    server = await startTestServer();
    const response = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    metadata = (await response.json()) as Record<string, unknown>;
  });
  after(() => server.close());

  describe('discovery metadata (FAPI 2.0 SP 5.3.2.1)', () => {
    test('names this issuer', () => {
      assert.equal(metadata.issuer, server.issuer);
    });

    test('requires PAR and PKCE S256, and advertises iss in authorization responses', () => {
      assert.equal(metadata.require_pushed_authorization_requests, true);
      assert.equal(metadata.pushed_authorization_request_endpoint, `${server.issuer}/request`);
      assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
      assert.equal(metadata.authorization_response_iss_parameter_supported, true);
    });

    test('lists exactly the FAPI client authentication methods', () => {
      assert.deepEqual([...(metadata.token_endpoint_auth_methods_supported as string[])].sort(), [
        'private_key_jwt',
        'self_signed_tls_client_auth',
        'tls_client_auth',
      ]);
    });

    test('every *_alg_values_supported is within PS256, ES256, EdDSA', () => {
      const lists = Object.entries(metadata).filter(([name]) => name.endsWith('_alg_values_supported'));
      assert.ok(lists.length >= 5, `expected several alg lists, got ${lists.map(([n]) => n).join(', ')}`);
      for (const [name, values] of lists) {
        assert.ok(Array.isArray(values) && values.length > 0, `${name} is a non-empty list`);
        for (const alg of values as string[]) {
          assert.ok(FAPI_ALGS.has(alg), `${name} contains ${alg}`);
        }
        assert.ok(!(values as string[]).includes('RS256'), `${name} contains RS256`);
        assert.ok(!(values as string[]).includes('none'), `${name} contains none`);
      }
    });

    test('advertises DPoP, introspection and revocation', () => {
      assert.ok(Array.isArray(metadata.dpop_signing_alg_values_supported));
      assert.ok((metadata.dpop_signing_alg_values_supported as string[]).length > 0);
      assert.equal(metadata.introspection_endpoint, `${server.issuer}/token/introspection`);
      assert.equal(metadata.revocation_endpoint, `${server.issuer}/token/revocation`);
    });

    test('offers only the code flow, never implicit or password', () => {
      assert.deepEqual(metadata.response_types_supported, ['code']);
      const grants = metadata.grant_types_supported as string[];
      assert.ok(grants.includes('authorization_code'));
      assert.ok(!grants.includes('implicit'), 'implicit grant advertised');
      assert.ok(!grants.includes('password'), 'password grant advertised');
    });
  });

  describe('JWKS (FAPI 2.0 SP 5.4.1)', () => {
    let keys: Record<string, unknown>[];

    before(async () => {
      const response = await fetch(metadata.jwks_uri as string);
      assert.equal(response.status, 200);
      keys = ((await response.json()) as { keys: Record<string, unknown>[] }).keys;
    });

    test('publishes only public keys, each with kty, kid and alg', () => {
      assert.ok(keys.length >= 3);
      for (const key of keys) {
        for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
          assert.ok(!(secret in key), `key ${key.kid} exposes "${secret}"`);
        }
        assert.equal(typeof key.kty, 'string');
        assert.equal(typeof key.kid, 'string');
        assert.ok(FAPI_ALGS.has(key.alg as string), `key ${key.kid} has alg ${key.alg}`);
      }
    });

    test('has an ES256, a PS256 and an EdDSA key of the right types', () => {
      const byAlg = (alg: string) => keys.filter((k) => k.alg === alg);
      assert.ok(byAlg('ES256').every((k) => k.kty === 'EC' && k.crv === 'P-256') && byAlg('ES256').length >= 1);
      assert.ok(byAlg('PS256').every((k) => k.kty === 'RSA') && byAlg('PS256').length >= 1);
      assert.ok(byAlg('EdDSA').every((k) => k.kty === 'OKP' && k.crv === 'Ed25519') && byAlg('EdDSA').length >= 1);
    });

    test('RSA moduli are at least 2048 bits', () => {
      for (const key of keys.filter((k) => k.kty === 'RSA')) {
        const bits = Buffer.from(key.n as string, 'base64url').length * 8;
        assert.ok(bits >= 2048, `RSA key ${key.kid} has ${bits} bits`);
      }
    });
  });

  describe('headers and error bodies', () => {
    test('the HTML error page of /auth forbids framing and inline script and leaks no referrer', async () => {
      const response = await fetch(`${server.issuer}/auth`, { headers: { origin: 'https://evil.example' } });
      assert.equal(response.status, 400);
      assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(await response.text(), /<code>invalid_request<\/code>/);
      assert.equal(response.headers.get('x-frame-options'), 'DENY');
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      const directives = new Map(
        csp
          .split(';')
          .map((d) => d.trim().split(/\s+/))
          .map(([name, ...values]) => [name, values]),
      );
      const scriptSrc = directives.get('script-src') ?? directives.get('default-src');
      assert.ok(scriptSrc, `CSP restricts scripts: ${csp}`);
      assert.ok(
        !scriptSrc.includes("'unsafe-inline'") && !scriptSrc.includes("'unsafe-eval'"),
        `CSP allows inline script: ${csp}`,
      );
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    });

    test('the authorization endpoint sends no CORS headers (FAPI 2.0 SP 5.3.2.2)', async () => {
      for (const method of ['GET', 'OPTIONS']) {
        const response = await fetch(`${server.issuer}/auth`, {
          method,
          headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
        });
        await response.arrayBuffer();
        assert.equal(response.headers.get('access-control-allow-origin'), null, `${method} /auth`);
      }
    });

    // FAPI clients are confidential server-side clients: no browser calls PAR, token, introspection,
    // revocation or userinfo, so none of them answers a preflight or a cross-origin request with
    // CORS headers, on success or error. Discovery and JWKS are public metadata and keep CORS.
    const noCors: [string, string][] = [
      ['/token', 'POST'],
      ['/request', 'POST'],
      ['/token/introspection', 'POST'],
      ['/token/revocation', 'POST'],
      ['/me', 'GET'],
    ];
    const corsHeaders = (response: Response) => [...response.headers.keys()].filter((name) => name.startsWith('access-control-'));

    test('PAR, token, introspection, revocation and userinfo answer preflights without CORS headers', async () => {
      for (const [path, method] of noCors) {
        const response = await fetch(`${server.issuer}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin: 'https://evil.example',
            'access-control-request-method': method,
            'access-control-request-headers': 'authorization, dpop',
          },
        });
        await response.arrayBuffer();
        assert.deepEqual(corsHeaders(response), [], `OPTIONS ${path}`);
      }
    });

    test('PAR, token, introspection, revocation and userinfo errors carry no CORS headers', async () => {
      for (const [path, method] of noCors) {
        const response = await fetch(`${server.issuer}${path}`, {
          method,
          headers: {
            origin: 'https://evil.example',
            ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
            ...(path === '/me' ? { authorization: 'DPoP not-a-token' } : {}),
          },
          ...(method === 'POST' ? { body: 'grant_type=client_credentials&token=x&client_id=nobody' } : {}),
        });
        const text = await response.text();
        assert.ok(response.status >= 400, `${method} ${path}: ${response.status} ${text}`);
        assert.deepEqual(corsHeaders(response), [], `${method} ${path}`);
      }
    });

    test('discovery and JWKS keep CORS for browsers: preflight and response', async () => {
      for (const path of ['/.well-known/openid-configuration', '/jwks']) {
        const preflight = await fetch(`${server.issuer}${path}`, {
          method: 'OPTIONS',
          headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
        });
        await preflight.arrayBuffer();
        assert.equal(preflight.status, 204, path);
        assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://app.example', `OPTIONS ${path}`);
        assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /GET/, `OPTIONS ${path}`);
        const response = await fetch(`${server.issuer}${path}`, { headers: { origin: 'https://app.example' } });
        assert.equal(response.status, 200, path);
        await response.arrayBuffer();
        assert.equal(response.headers.get('access-control-allow-origin'), 'https://app.example', `GET ${path}`);
      }
    });

    test('every response carries X-Request-Id', async () => {
      const requests: [string, RequestInit][] = [
        ['/.well-known/openid-configuration', {}],
        ['/jwks', {}],
        ['/auth', {}],
        ['/token', { method: 'POST', body: 'grant_type=nope', headers: { 'content-type': 'application/x-www-form-urlencoded' } }],
        ['/admin/clients', {}],
        ['/no-such-page', {}],
        ['/healthz', {}],
      ];
      for (const [path, init] of requests) {
        const response = await fetch(`${server.issuer}${path}`, init);
        await response.arrayBuffer();
        assert.match(response.headers.get('x-request-id') ?? '', /^[A-Za-z0-9._:-]{8,}$/, path);
      }
    });

    test('error bodies carry an OAuth error and never a stack trace', async () => {
      const cases: [string, RequestInit, number, string][] = [
        [
          '/token',
          { method: 'POST', body: '%%%garbage&&=\u0000', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          400,
          'invalid_request',
        ],
        [
          '/token',
          { method: 'POST', body: '{"grant_type": [1]}', headers: { 'content-type': 'application/json' } },
          400,
          'invalid_request',
        ],
        [
          '/request',
          { method: 'POST', body: 'client_id=%ZZ', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          401,
          'invalid_client',
        ],
        [
          '/token/introspection',
          { method: 'POST', body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
          400,
          'invalid_request',
        ],
        ['/admin/clients', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }, 401, 'invalid_token'],
      ];
      for (const [path, init, status, error] of cases) {
        const response = await fetch(`${server.issuer}${path}`, init);
        const text = await response.text();
        assert.equal(response.status, status, `${path}: ${text}`);
        assert.equal((JSON.parse(text) as { error: string }).error, error, path);
        assert.doesNotMatch(text, STACK_TRACE, `${path} leaks internals: ${text}`);
      }
    });
  });
});
