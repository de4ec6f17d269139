// HTTP hygiene on every response: HSTS only over TLS (behind a trusted proxy), the security
// headers on errors too, the FAPI interaction id echoed, and the body cap answering in the
// format of the route it hit (OAuth JSON on API endpoints, an HTML page on browser routes).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestServer, type TestServer } from './support/server.ts';

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
});
