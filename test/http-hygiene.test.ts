// HTTP hygiene on every response: HSTS only over TLS (behind a trusted proxy), the security
// headers on errors too, the FAPI interaction id echoed, and the body cap, a wrong or unknown
// method and a missing page answering in the format of the route they hit (OAuth JSON on API
// endpoints, an HTML page on browser routes), whatever the letter case of the path.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { rawRequest } from './support/raw-http.ts';
import { startTestServer, type TestServer } from './support/server.ts';

/** The methods an `Allow` header names, sorted. */
const allowOf = (response: Response) =>
  (response.headers.get('allow') ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean)
    .sort();

/** Asserts the error is in the route's format: the HTML error page, or OAuth-style JSON. */
async function assertErrorFormat(response: Response, format: 'html' | 'json', error: string, label: string) {
  const text = await response.text();
  if (format === 'html') {
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/, label);
    assert.match(text, /<!doctype html>/i, label);
    assert.match(text, new RegExp(`<code>${error}</code>`), label);
    assert.equal(response.headers.get('x-frame-options'), 'DENY', label);
  } else {
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/, label);
    const body = JSON.parse(text) as { error: string; error_description: string };
    assert.equal(body.error, error, label);
    assert.equal(typeof body.error_description, 'string', label);
  }
  return text;
}

describe('HTTP hygiene', () => {
  let server: TestServer;

  before(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
  });
  after(() => server?.close());

  test('HSTS over TLS only', async () => {
    const tls = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(tls.headers.get('strict-transport-security'), 'max-age=63072000; includeSubDomains');
    const plain = await fetch(`${server.issuer}/.well-known/openid-configuration`);
    assert.equal(plain.headers.get('strict-transport-security'), null);
  });

  test('security headers on success, OAuth errors, admin errors and 413s alike', async () => {
    const responses = [
      await fetch(`${server.issuer}/jwks`),
      await fetch(`${server.issuer}/token`, { method: 'POST' }),
      await fetch(`${server.issuer}/admin/clients`),
      await fetch(`${server.issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a'.repeat(server.config.BODY_LIMIT_BYTES + 1),
      }),
    ];
    for (const response of responses) {
      await response.arrayBuffer();
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', response.url);
      assert.equal(response.headers.get('referrer-policy'), 'no-referrer', response.url);
      assert.equal(response.headers.get('x-frame-options'), 'DENY', response.url);
    }
  });

  test('x-fapi-interaction-id is echoed when sent, and otherwise the request id', async () => {
    const id = 'b1f9a6b4-6c1e-4d8e-9a53-3f1c2d4e5f60';
    const echoed = await fetch(`${server.issuer}/jwks`, { headers: { 'x-fapi-interaction-id': id } });
    assert.equal(echoed.headers.get('x-fapi-interaction-id'), id);
    const generated = await fetch(`${server.issuer}/jwks`);
    assert.equal(generated.headers.get('x-fapi-interaction-id'), generated.headers.get('x-request-id'));
    const hostile = await fetch(`${server.issuer}/jwks`, { headers: { 'x-fapi-interaction-id': 'a b<script>' } });
    assert.equal(hostile.headers.get('x-fapi-interaction-id'), hostile.headers.get('x-request-id'));
  });

  test('an oversized body is a 413 in the format of the route: JSON for APIs, HTML for pages', async () => {
    const body = 'a'.repeat(server.config.BODY_LIMIT_BYTES + 1);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    for (const path of ['/request', '/token', '/token/introspection', '/admin/clients']) {
      const response = await fetch(`${server.issuer}${path}`, { method: 'POST', headers: form, body });
      assert.equal(response.status, 413, path);
      assert.equal(response.headers.get('connection'), 'close', path);
      const json = (await response.json()) as { error: string; error_description: string };
      assert.equal(json.error, 'invalid_request', path);
      assert.match(json.error_description, /exceeds \d+ bytes/, path);
    }
    const page = await fetch(`${server.issuer}/interaction/some-uid/login`, { method: 'POST', headers: form, body });
    assert.equal(page.status, 413);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /exceeds \d+ bytes/);
  });

  const wrongMethods: { name: string; method: string; path: string; format: 'html' | 'json'; allow: string[] }[] = [
    { name: 'PUT at the sign-in page', method: 'PUT', path: '/account/login', format: 'html', allow: ['GET', 'HEAD', 'POST'] },
    { name: 'PUT at /ACCOUNT/LOGIN/', method: 'PUT', path: '/ACCOUNT/LOGIN/', format: 'html', allow: ['GET', 'HEAD', 'POST'] },
    {
      name: 'DELETE at an interaction step',
      method: 'DELETE',
      path: '/interaction/some-uid/login',
      format: 'html',
      allow: ['POST'],
    },
    { name: 'PATCH at the dashboard', method: 'PATCH', path: '/account', format: 'html', allow: ['GET', 'HEAD'] },
    {
      name: 'PUT at the resource-server consent API',
      method: 'PUT',
      path: '/consents/some-id/payment-executed',
      format: 'json',
      allow: ['POST'],
    },
    { name: 'POST at /metrics', method: 'POST', path: '/metrics', format: 'json', allow: ['GET', 'HEAD'] },
    { name: 'POST at a static file', method: 'POST', path: '/static/portcullis.css', format: 'json', allow: ['GET', 'HEAD'] },
    { name: 'DELETE at /healthz', method: 'DELETE', path: '/healthz', format: 'json', allow: ['GET', 'HEAD'] },
  ];
  for (const { name, method, path, format, allow } of wrongMethods) {
    test(`405 for ${name}: ${format === 'html' ? 'the error page' : 'OAuth-style JSON'} with Allow`, async () => {
      const response = await rawRequest(`${server.issuer}${path}`, method);
      assert.equal(response.status, 405, path);
      assert.deepEqual(allowOf(response), allow, path);
      const text = await assertErrorFormat(response, format, 'invalid_request', `${method} ${path}`);
      assert.match(text, new RegExp(`${method} method is not allowed`), path);
    });
  }

  test('an unknown method (TRACE, PROPFIND) is a 405 client error in the route format, never 501', async () => {
    const cases: { method: string; path: string; format: 'html' | 'json'; allow: string[] }[] = [
      { method: 'TRACE', path: '/account/login', format: 'html', allow: ['GET', 'HEAD', 'POST'] },
      { method: 'TRACE', path: '/Interaction/some-uid/Login', format: 'html', allow: ['POST'] },
      { method: 'TRACE', path: '/metrics', format: 'json', allow: ['GET', 'HEAD'] },
      { method: 'PROPFIND', path: '/static/portcullis.css', format: 'json', allow: ['GET', 'HEAD'] },
      // oidc-provider's endpoints and unknown paths: no route of ours knows the path, `Allow` is empty.
      { method: 'TRACE', path: '/token', format: 'json', allow: [] },
      { method: 'TRACE', path: '/.well-known/openid-configuration', format: 'json', allow: [] },
      { method: 'TRACE', path: '/no-such-page', format: 'json', allow: [] },
    ];
    for (const { method, path, format, allow } of cases) {
      const response = await rawRequest(`${server.issuer}${path}`, method);
      assert.equal(response.status, 405, `${method} ${path}`);
      assert.notEqual(response.headers.get('allow'), null, `${method} ${path} carries Allow`);
      assert.deepEqual(allowOf(response), allow, `${method} ${path}`);
      await assertErrorFormat(response, format, 'invalid_request', `${method} ${path}`);
    }
  });

  test('OPTIONS on our routes answers 204 with Allow; a method the route takes is never a 405', async () => {
    const options = await rawRequest(`${server.issuer}/account/login`, 'OPTIONS');
    assert.equal(options.status, 204);
    assert.deepEqual(allowOf(options), ['GET', 'HEAD', 'POST']);
    // A handler's own 404 stays a 404 (an unknown static file), not a 405.
    const missing = await rawRequest(`${server.issuer}/static/nothing.css`, 'GET');
    assert.equal(missing.status, 404);
    await assertErrorFormat(missing, 'json', 'not_found', 'GET /static/nothing.css');
  });

  test('errors on browser routes are pages whatever the letter case or trailing slash', async () => {
    for (const path of ['/account/nothing', '/ACCOUNT/nothing', '/Account/Nothing/', '/INTERACTION/some-uid/nothing', '/Demo']) {
      const response = await rawRequest(`${server.issuer}${path}`, 'GET');
      assert.equal(response.status, 404, path);
      await assertErrorFormat(response, 'html', 'not_found', path);
    }
    for (const path of ['/TOKEN/nothing', '/Accounts', '/nothing/account']) {
      const response = await rawRequest(`${server.issuer}${path}`, 'GET');
      assert.equal(response.status, 404, path);
      await assertErrorFormat(response, 'json', 'not_found', path);
    }
  });
});
