// Scale-out: two Portcullis instances behind one issuer, on one PostgreSQL and one Redis, in two
// operating-system processes (A runs in this test process, B is `node src/main.ts`), so nothing
// held in one process's memory can make a journey work. The TPP pushes its request to A, the
// customer signs in and consents in Chromium on B, the TPP redeems the code on A; revocations,
// key rotations and client suspensions made on one are in force on the other at once; and a
// "load balancer" that alternates every browser request between A and B still completes a journey
// (interaction sessions, cookie signing keys, CSRF keys, pending logins and TOTP state shared).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import * as oauth from 'oauth4webapi';
import type { Browser, Page } from 'playwright-core';
import {
  approveConsent,
  completeLogin,
  createCustomer,
  exchangeCode,
  interceptCallback,
  launchBrowser,
  newPage,
  screenshot,
  startAuthorization,
  type TestCustomer,
} from './support/browser.ts';
import { testDatabaseKind } from './support/database.ts';
import { freePort, startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  dpopKeyPair,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const ACCOUNT = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const inDays = (days: number) => new Date(Date.now() + days * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const REQUEST = () => ({
  scope: 'openid accounts',
  authorization_details: [{ type: 'account_information', permissions: ['balances'], expirationDateTime: inDays(30) }],
});

/** The same endpoint on another instance: what a load balancer does with one issuer. */
const on = (instance: string, url: string) => {
  const moved = new URL(url);
  const target = new URL(instance);
  moved.protocol = target.protocol;
  moved.host = target.host;
  return moved.href;
};
/** The discovery document with every endpoint on `instance` (issuer unchanged). */
const metadataOn = (as: oauth.AuthorizationServer, instance: string): oauth.AuthorizationServer =>
  Object.fromEntries(
    Object.entries(as).map(([key, value]) =>
      key !== 'issuer' && typeof value === 'string' && value.startsWith(as.issuer) ? [key, on(instance, value)] : [key, value],
    ),
  ) as oauth.AuthorizationServer;

/** Resolves once the child has written `pattern` (stdout or stderr); rejects if it exits first. */
function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`instance B did not start; output:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`instance B exited (${code}); output:\n${seen}`));
    });
  });
}

describe('scale-out: two instances, one PostgreSQL, one Redis', {
  skip: testDatabaseKind() === 'pglite' && 'two instances share a PostgreSQL server; PGlite belongs to one process',
}, () => {
  const prefix = `test:scale:${randomBytes(6).toString('hex')}`;
  // Long cache TTLs and key reloads: only the change notifications can explain a change seen at once.
  const shared = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    RATE_LIMIT_KEY_PREFIX: prefix,
    CLIENT_CACHE_TTL_MS: '600000',
    KEY_REFRESH_SECONDS: '600',
    DPOP_REQUIRE_NONCE: 'true',
  };
  let a: TestServer;
  let b: ChildProcess;
  let bUrl: string;
  let as: oauth.AuthorizationServer;
  let asB: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let customer: TestCustomer;
  let browser: Browser;

  before(async () => {
    a = await startTestServer({ env: shared });
    const port = await freePort();
    bUrl = `http://127.0.0.1:${port}`;
    const config = a.config;
    b = spawn(process.execPath, ['src/main.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        NODE_ENV: 'test',
        HOST: '127.0.0.1',
        PORT: String(port),
        ISSUER: a.issuer,
        DATABASE_URL: config.DATABASE_URL as string,
        DATA_DIR: config.DATA_DIR,
        ENCRYPTION_KEY: config.ENCRYPTION_KEY as string,
        LOG_LEVEL: 'info',
        JANITOR_INTERVAL_SECONDS: '0',
        ARGON2_MEMORY_KIB: '8192',
        ARGON2_TIME_COST: '1',
        RATE_LIMIT_MULTIPLIER: '50',
        ...shared,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await waitForOutput(b, /Portcullis is listening/);
    as = await discover(a.issuer);
    asB = metadataOn(as, bUrl);
    rs = await registerResourceServer(a);
    tpp = await registerTpp(a, { client_name: 'Scale-out Fintech' });
    customer = await createCustomer(a, [ACCOUNT], undefined, undefined, { totp: true });
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    if (b && b.exitCode === null) {
      const exited = new Promise((resolve) => b.once('exit', resolve));
      b.kill('SIGTERM');
      await exited;
    }
    const redis = new Redis(shared.REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    try {
      await redis.connect();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
    } catch {
      // Redis gone: nothing to clean.
    } finally {
      redis.disconnect();
    }
    await a?.close();
  });

  test('both instances publish the same issuer and signing keys', async () => {
    const [discoveryA, discoveryB] = await Promise.all(
      [a.issuer, bUrl].map(
        async (base) => (await (await fetch(`${base}/.well-known/openid-configuration`)).json()) as oauth.AuthorizationServer,
      ),
    );
    // oidc-provider names its endpoints after the host the request came to (behind a load
    // balancer: the public host); the issuer is the configured one on both.
    assert.equal(discoveryB.issuer, a.issuer);
    assert.deepEqual(discoveryB, metadataOn(discoveryA, bUrl));
    const [jwksA, jwksB] = await Promise.all([a.issuer, bUrl].map(async (base) => (await fetch(`${base}/jwks`)).json()));
    assert.deepEqual(jwksB, jwksA);
  });

  test('PAR on A, sign-in with SCA and consent in Chromium on B, code redeemed on A; both introspect it', async () => {
    const { context, page } = await newPage(browser);
    try {
      const started = await startAuthorization(a, tpp, { ...REQUEST(), resource: rs.resource });
      const documents: string[] = [];
      page.on('request', (request) => {
        if (request.isNavigationRequest()) documents.push(new URL(request.url()).origin);
      });
      const { received } = await interceptCallback(page, started.redirectUri);
      await page.goto(on(bUrl, started.url));
      await completeLogin(page, customer.username, customer.password, customer.totp);
      await screenshot(page, 'scale-out-consent-on-b');
      await approveConsent(page, [ACCOUNT.name]);
      const callback = await received;
      // Every page of the bank came from B; the redirect back names the one issuer.
      const bank = documents.filter((origin) => origin !== new URL(started.redirectUri).origin);
      assert.ok(bank.length >= 3, bank.join(' '));
      assert.deepEqual([...new Set(bank)], [bUrl]);
      assert.equal(callback.searchParams.get('iss'), a.issuer);

      const tokens = await exchangeCode(started, callback); // on A: the metadata names A's endpoints
      assert.ok(tokens.refresh_token);
      const onA = await introspect(as, rs, tokens.access_token);
      const onB = await introspect(asB, rs, tokens.access_token);
      assert.equal(onA.active, true);
      assert.equal(onB.active, true);
      assert.equal(onB.consent_id, onA.consent_id);
      assert.equal((onB.cnf as { jkt?: string } | undefined)?.jkt !== undefined, true);

      // The TPP revokes its access token on B: A's introspection answers inactive at once.
      const revoked = await oauth.revocationRequest(asB, tpp.client, tpp.auth, tokens.access_token, insecure);
      await oauth.processRevocationResponse(revoked);
      assert.equal((await introspect(as, rs, tokens.access_token)).active, false);

      // The bank revokes the customer's consent on B (incident response): the refresh token fails on A.
      const response = await fetch(`${bUrl}/admin/customers/${customer.customer.id}/revoke-all`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.adminKey}` },
      });
      assert.equal(response.status, 200, await response.clone().text());
      const refresh = await oauth.refreshTokenGrantRequest(as, tpp.client, tpp.auth, tokens.refresh_token as string, {
        ...insecure,
        DPoP: started.dpop,
      });
      assert.equal(((await refresh.json()) as { error?: string }).error, 'invalid_grant');
    } finally {
      await context.close();
    }
  });

  test('a load balancer alternating every browser request between A and B: the journey completes', async () => {
    const { context, page } = await newPage(browser);
    try {
      const started = await startAuthorization(a, tpp, { ...REQUEST(), resource: rs.resource });
      // Every request to the bank goes to the next instance in turn, cookies and all.
      const served = await balance(page, a.issuer, [a.issuer, bUrl]);
      const { received } = await interceptCallback(page, started.redirectUri);
      await page.goto(started.url);
      await completeLogin(page, customer.username, customer.password, customer.totp);
      await approveConsent(page, [ACCOUNT.name]);
      const callback = await received;
      assert.ok(served.includes(a.issuer) && served.includes(bUrl), served.join(' '));
      const tokens = await exchangeCode(started, callback);
      assert.equal((await introspect(asB, rs, tokens.access_token)).active, true);
    } finally {
      await context.close();
    }
  });

  test('a key rotation on A is in the JWKS of B within a second', async () => {
    const kids = async (base: string) =>
      ((await (await fetch(`${base}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
    const before = new Set(await kids(bUrl));
    const response = await a.admin('POST', '/admin/keys/rotate', {});
    assert.equal(response.status, 200);
    const rotated = ((await response.json()) as { kid: string; state: string }[]).filter((k) => !before.has(k.kid));
    assert.ok(rotated.length >= 1);
    const start = Date.now();
    let seen: string[] = [];
    while (Date.now() - start < 1000) {
      seen = await kids(bUrl);
      if (rotated.every((k) => seen.includes(k.kid))) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const elapsed = Date.now() - start;
    assert.ok(
      rotated.every((k) => seen.includes(k.kid)),
      `B publishes ${seen.join(', ')} after ${elapsed} ms; expected ${rotated.map((k) => k.kid).join(', ')}`,
    );
    assert.ok(elapsed < 1000, `${elapsed} ms`);
  });

  test('a client suspended on B is refused on A at once, though A caches clients for 10 minutes', async () => {
    const other = await registerTpp(a, { client_name: 'Suspended Fintech' });
    const key = await dpopKeyPair();
    // A has the client in its cache now.
    assert.ok((await clientCredentials(as, other, { scope: 'accounts', resource: rs.resource }, key)).access_token);
    const response = await fetch(`${bUrl}/admin/clients/${other.clientId}/suspend`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.adminKey}` },
    });
    assert.equal(response.status, 200);
    // NOTIFY is delivered when B's change commits; give A's listener a moment to hear it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await assert.rejects(
      clientCredentials(as, other, { scope: 'accounts', resource: rs.resource }, key),
      (err: { error?: string; cause?: { error?: string } }) =>
        (err.error ?? err.cause?.error) === 'invalid_client' || /invalid_client/.test(String(err)),
    );
  });

  test('rate-limit counters of both instances are in the one Redis', async () => {
    const redis = new Redis(shared.REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}:*`);
      assert.ok(
        keys.some((k) => k.includes(`:token:client:`)),
        keys.join(' '),
      );
    } finally {
      redis.disconnect();
    }
  });
});

/**
 * Routes every request for `origin` to the next of `instances` in turn, as a round-robin load
 * balancer in front of them would (the browser only ever sees `origin`). Returns the instances
 * that served, in order.
 */
async function balance(page: Page, origin: string, instances: string[]): Promise<string[]> {
  const served: string[] = [];
  await page.route(
    (url) => url.origin === origin,
    async (route) => {
      const instance = instances[served.length % instances.length] as string;
      served.push(instance);
      const response = await route.fetch({ url: on(instance, route.request().url()), maxRedirects: 0 });
      await route.fulfill({ response });
    },
  );
  return served;
}
