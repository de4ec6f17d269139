// Structured logs at debug level through a whole journey (PAR, login and consent in Chromium, code
// exchange, refresh, introspection, revocation): every request is one JSON line with its request
// id and the echoed x-fapi-interaction-id, and not one credential of the journey appears in the
// captured output: the password, the code, tokens, client assertions, DPoP proofs, the PKCE
// verifier, cookies, the TOTP seed, the resource server's secret or the admin key.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { redactSecrets } from '../src/logger.ts';
import { authorizeInBrowser, createCustomer, launchBrowser, newPage, type TestCustomer } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { insecure, introspect, type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';

const ACCOUNT = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Every credential the test process sends to the server, read off its outgoing requests. */
function recordOutgoingSecrets(issuer: string): { secrets: Set<string>; restore(): void } {
  const secrets = new Set<string>();
  const original = globalThis.fetch;
  const SECRET_PARAMS = ['client_assertion', 'code', 'code_verifier', 'refresh_token', 'token', 'request'];
  globalThis.fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === new URL(issuer).origin) {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      for (const name of ['dpop', 'authorization']) {
        const value = headers.get(name);
        if (value) secrets.add(value.replace(/^(Bearer|DPoP|Basic) /i, ''));
      }
      if (typeof init?.body === 'string' || init?.body instanceof URLSearchParams) {
        const params = new URLSearchParams(init.body.toString());
        for (const name of SECRET_PARAMS) for (const value of params.getAll(name)) secrets.add(value);
      }
    }
    return original(input, init);
  };
  return { secrets, restore: () => (globalThis.fetch = original) };
}

/** A secret and, for a JWT, its signature alone (a partial leak is still a leak). */
const leakForms = (secret: string) => {
  const parts = secret.split('.');
  return parts.length === 3 && parts[2] ? [secret, parts[2]] : [secret];
};

describe('logs during a full journey at debug level', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let psu: TestCustomer;
  let browser: Browser;
  const lines: string[] = [];
  const secrets = new Set<string>();

  before(async () => {
    server = await startTestServer({
      env: { LOG_LEVEL: 'debug' },
      logDestination: { write: (line: string) => void lines.push(line) },
    });
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { authorization_details_types: ['account_information', 'payment_initiation'] });
    psu = await createCustomer(server, [ACCOUNT], undefined, undefined, { totp: true });
    browser = await launchBrowser();

    const outgoing = recordOutgoingSecrets(server.issuer);
    const { context, page } = await newPage(browser);
    try {
      const { started, callback, tokens } = await authorizeInBrowser(page, server, tpp, psu, [ACCOUNT.name], {
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [
          { type: 'account_information', permissions: ['accounts', 'balances'], expirationDateTime: inDays(30) },
        ],
      });
      const refreshed = await oauth.processRefreshTokenResponse(
        started.as,
        tpp.client,
        await oauth.refreshTokenGrantRequest(started.as, tpp.client, tpp.auth, tokens.refresh_token as string, {
          ...insecure,
          DPoP: started.dpop,
          additionalParameters: { resource: rs.resource },
        }),
      );
      assert.equal((await introspect(started.as, rs, refreshed.access_token)).active, true);
      const revoked = await oauth.revocationRequest(started.as, tpp.client, tpp.auth, refreshed.refresh_token as string, {
        ...insecure,
      });
      assert.equal(revoked.status, 200);

      for (const value of [
        psu.password,
        psu.totp?.secret as string,
        callback.searchParams.get('code') as string,
        started.verifier,
        tokens.access_token,
        tokens.refresh_token as string,
        tokens.id_token as string,
        refreshed.access_token,
        refreshed.refresh_token as string,
        rs.clientSecret,
        server.adminKey,
        // The interaction cookies hold the interaction's uid, which is also in the pages' URLs and
        // names the journey in the logs: useless without the signed cookie beside it (kept secret).
        ...(await context.cookies()).filter((c) => !/^_interaction(_resume)?$/.test(c.name)).map((c) => c.value),
        ...outgoing.secrets,
      ]) {
        if (value && value.length >= 8) secrets.add(value);
      }
    } finally {
      outgoing.restore();
      await context.close();
    }
    // A request that names its FAPI interaction.
    await fetch(`${server.issuer}/.well-known/openid-configuration`, {
      headers: { 'x-fapi-interaction-id': '8c0c2d4e-3b1a-4f7e-9d2a-logs-test' },
    });
    // Request lines are written once the response is out.
    await new Promise((resolve) => setTimeout(resolve, 100));
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  const parsed = () => lines.map((line) => JSON.parse(line) as Record<string, unknown>);

  test('the journey produced the credentials this test looks for', () => {
    // password, code, verifier, 2 access, 2 refresh, id token, RS secret, admin key, cookies,
    // and from the wire: client assertions and DPoP proofs of PAR, token (x2), revocation.
    assert.ok(secrets.size >= 15, `collected ${secrets.size} credentials`);
    const assertions = [...secrets].filter(
      (s) => s.split('.').length === 3 && JSON.parse(atob(s.split('.')[0] as string)).typ === 'dpop+jwt',
    );
    assert.ok(assertions.length >= 3, 'DPoP proofs were captured');
  });

  test('no credential appears anywhere in the logs', () => {
    const text = lines.join('');
    assert.ok(text.length > 0);
    for (const secret of secrets) {
      for (const form of leakForms(secret)) {
        assert.ok(
          !text.includes(form),
          `a credential (${secret.slice(0, 6)}…) appears in: ${lines.find((l) => l.includes(form))}`,
        );
      }
    }
  });

  test('every line is JSON; every request is one line with its request id and route', () => {
    const entries = parsed();
    const requests = entries.filter((e) => e.msg === 'request');
    const routes = new Set(requests.map((e) => e.route));
    for (const route of ['pushed_authorization_request', 'authorization', 'token', 'introspection', 'revocation', 'resume']) {
      assert.ok(routes.has(route), `a request line for ${route}`);
    }
    assert.ok(routes.has('/interaction/:uid/login'), 'interaction routes are named by their template');
    for (const entry of requests) {
      assert.match(String(entry.request_id), /^[0-9a-f-]{36}$/);
      assert.equal(typeof entry.status, 'number');
      assert.equal(typeof entry.duration_ms, 'number');
      assert.equal(entry.headers, undefined, 'no headers are logged');
    }
    const tokenLine = requests.find((e) => e.route === 'token');
    assert.equal(tokenLine?.client_id, tpp.clientId);
    const echoed = requests.find((e) => e.fapi_interaction_id === '8c0c2d4e-3b1a-4f7e-9d2a-logs-test');
    assert.equal(echoed?.route, 'discovery');
  });

  test('the authorization response is logged with its code masked', () => {
    const redirect = parsed().find(
      (e) => typeof e.location === 'string' && String(e.location).startsWith('https://tpp.example/'),
    );
    assert.ok(redirect, 'the redirect to the TPP is logged');
    assert.match(String(redirect.location), /[?&]code=\[redacted\]/);
    assert.match(String(redirect.location), new RegExp(`[?&]iss=${encodeURIComponent(server.issuer).replace(/[.]/g, '\\.')}`));
  });

  test("oidc-provider's own events are logged at debug level, with named fields only", () => {
    const events = parsed().filter((e) => e.msg === 'oidc-provider event');
    const names = new Set(events.map((e) => e.event));
    for (const name of ['pushed_authorization_request.success', 'grant.success', 'authorization.success']) {
      assert.ok(names.has(name), `${name} is logged`);
    }
    for (const event of events) {
      assert.deepEqual(
        Object.keys(event).filter(
          (k) =>
            ![
              'level',
              'time',
              'service',
              'msg',
              'event',
              'request_id',
              'route',
              'client_id',
              'grant_type',
              'error',
              'error_description',
              'error_detail',
            ].includes(k),
        ),
        [],
      );
    }
  });
});

describe('redaction by field name (the net under the request logs)', () => {
  test('secret fields are censored at the top level, one level down and in message headers, in any case', () => {
    const input = {
      password: 'hunter2',
      body: { code: 'abc', state: 'kept' },
      req: { headers: { cookie: 'sid=1', host: 'bank.example' } },
      res: { headers: { 'set-cookie': 'sid=2' } },
      Authorization: 'DPoP eyJ',
      client_id: 'tpp',
    };
    const out = redactSecrets(input);
    assert.deepEqual(out, {
      password: '[redacted]',
      body: { code: '[redacted]', state: 'kept' },
      req: { headers: { cookie: '[redacted]', host: 'bank.example' } },
      res: { headers: { 'set-cookie': '[redacted]' } },
      Authorization: '[redacted]',
      client_id: 'tpp',
    });
    assert.equal(input.password, 'hunter2', "the caller's object is left as it was");
    assert.equal(input.body.code, 'abc');
  });

  test('an object without secrets is passed through as it is (no copy)', () => {
    const input = { route: '/token', status: 200, nested: { client_id: 'tpp' } };
    assert.equal(redactSecrets(input), input);
  });
});
