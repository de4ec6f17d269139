// Rate limits (OWASP API4) as a client meets them over real HTTP: the per-address sign-in limit
// with an HTML page, the token endpoint's JSON 429, trust tiers (partner above standard), the
// anonymous tier for forged client ids, IPv6 counted per /64, every spelling of a path the routers
// serve (letter case, trailing slash) counted like the path itself, counters shared by two
// instances on one Redis, and the fail-closed token endpoint when Redis is unreachable. Limits are lowered per
// test with RATE_LIMITS; addresses come from X-Forwarded-For (TRUST_PROXY=true).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { parseConfig } from '../src/config.ts';
import { addressKey } from '../src/security/ip-address.ts';
import { rateLimitsMarkdown } from '../src/security/rate-limit/docs.ts';
import { effectivePolicy } from '../src/security/rate-limit/overrides.ts';
import { authenticatedTokenRequest, portalLogin, rateLimitHeaders } from './support/abuse.ts';
import { clientAssertion, postForm } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { keyPair, registerTpp, type Tpp } from './support/tpp.ts';

const uniqueName = () => `nobody-${randomBytes(4).toString('hex')}`;

describe('per-address sign-in limit (login.ip = 3)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true', RATE_LIMITS: 'login.ip=3' } });
  });
  after(() => server.close());

  test('attempts 1..3 are answered and counted down; attempt 4 is 429 with Retry-After, headers and a page', async () => {
    const ip = '203.0.113.10';
    for (let attempt = 1; attempt <= 3; attempt++) {
      const response = await portalLogin(server.issuer, { ip, username: uniqueName() });
      assert.equal(response.status, 401, `attempt ${attempt}`);
      assert.deepEqual(rateLimitHeaders(response.headers).remaining, 3 - attempt);
      assert.equal(rateLimitHeaders(response.headers).limit, 3);
    }
    const refused = await portalLogin(server.issuer, { ip, username: uniqueName() });
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers.get('retry-after'));
    // login.ip blocks for 900 s once exceeded.
    assert.ok(retryAfter > 800 && retryAfter <= 900, `Retry-After ${retryAfter}`);
    assert.deepEqual(rateLimitHeaders(refused.headers), { limit: 3, remaining: 0, reset: retryAfter });
    assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
    const page = await refused.text();
    assert.match(page, /Too many requests/);
    assert.match(page, /try again in 15 minutes/);
    assert.match(page, /too_many_requests/);
    assert.doesNotMatch(page, /at .*\.ts:\d+/, 'no stack trace');
  });

  test('another address is not affected, and the page itself is a different (generous) family', async () => {
    const response = await portalLogin(server.issuer, { ip: '203.0.113.11', username: uniqueName() });
    assert.equal(response.status, 401);
    const page = await fetch(`${server.issuer}/account/login`, { headers: { 'x-forwarded-for': '203.0.113.10' } });
    assert.equal(page.status, 200, 'the blocked address can still load pages');
  });

  test('the request that went over is in the audit log once', async () => {
    await server.server.services.audit.flush();
    const events = await server.server.services.audit.query({ type: 'rate_limit.exceeded', limit: 10 });
    const login = events.filter((e) => e.details.family === 'login');
    assert.equal(login.length, 1);
    assert.equal(login[0]?.details.dimension, 'ip');
    assert.equal(login[0]?.personal?.ip, '203.0.113.10');
  });

  test('IPv6 addresses are counted per /64', async () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), addressKey('2001:db8:1:2:bbbb::2'));
    for (const host of ['::1', '::2', '::3']) {
      const response = await portalLogin(server.issuer, { ip: `2001:db8:7:7${host}`, username: uniqueName() });
      assert.equal(response.status, 401);
    }
    const sameSlash64 = await portalLogin(server.issuer, { ip: '2001:db8:7:7:ffff::9', username: uniqueName() });
    assert.equal(sameSlash64.status, 429);
    const otherSlash64 = await portalLogin(server.issuer, { ip: '2001:db8:7:8::1', username: uniqueName() });
    assert.equal(otherSlash64.status, 401);
  });
});

describe('per-customer sign-in limit (login.customer = 2)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true', RATE_LIMITS: 'login.customer=2' } });
  });
  after(() => server.close());

  test('one username from many addresses is refused after 2 attempts, written in any case or spacing', async () => {
    const name = uniqueName();
    assert.equal((await portalLogin(server.issuer, { ip: '198.51.100.1', username: name })).status, 401);
    assert.equal((await portalLogin(server.issuer, { ip: '198.51.100.2', username: ` ${name.toUpperCase()} ` })).status, 401);
    const third = await portalLogin(server.issuer, { ip: '198.51.100.3', username: name });
    assert.equal(third.status, 429);
    // Another username from the same address goes on: the limit is the customer's, not the address's.
    assert.equal((await portalLogin(server.issuer, { ip: '198.51.100.3', username: uniqueName() })).status, 401);
  });

  test('an existing customer is limited exactly like an unknown username (no enumeration)', async () => {
    const customer = await server.server.services.customers.create(uniqueName(), 'correct horse battery staple');
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await portalLogin(server.issuer, { ip: `198.51.100.${20 + i}`, username: customer.username })).status);
    }
    assert.deepEqual(statuses, [401, 401, 429]);
  });
});

describe('token endpoint', () => {
  let server: TestServer;
  let standard: Tpp;
  let partner: Tpp;

  before(async () => {
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        RATE_LIMITS: 'token.client.standard=3+0,token.client.partner=6+0,token.client.anonymous=4,token.ip=50+0',
      },
    });
    standard = await registerTpp(server, { trust_tier: 'standard' });
    partner = await registerTpp(server, { trust_tier: 'partner' });
  });
  after(() => server.close());

  /** Authenticated requests until the first 429; returns how many were answered before it. */
  async function answeredBefore429(tpp: Tpp, ip: string, max: number): Promise<{ answered: number; refused?: Response }> {
    for (let i = 0; i < max; i++) {
      const response = await authenticatedTokenRequest(server.issuer, tpp, { ip });
      if (response.status === 429) return { answered: i, refused: response as unknown as Response };
      assert.notEqual(response.status, 401, JSON.stringify(response.body));
    }
    return { answered: max };
  }

  test('a partner client gets a higher limit than a standard one', async () => {
    const s = await answeredBefore429(standard, '192.0.2.1', 10);
    const p = await answeredBefore429(partner, '192.0.2.2', 10);
    assert.equal(s.answered, 3);
    assert.equal(p.answered, 6);
  });

  test('the refusal is OAuth-style JSON with Retry-After and RateLimit headers for the client limit', async () => {
    const response = await authenticatedTokenRequest(server.issuer, standard, { ip: '192.0.2.3' });
    assert.equal(response.status, 429);
    assert.equal(response.body.error, 'too_many_requests');
    assert.equal(typeof response.body.error_description, 'string');
    assert.match(response.headers.get('content-type') ?? '', /application\/json/);
    const retryAfter = Number(response.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 60);
    assert.equal(rateLimitHeaders(response.headers).limit, 3);
    assert.equal(rateLimitHeaders(response.headers).remaining, 0);
  });

  test('answered requests carry the headers of the tightest limit (the client tier)', async () => {
    const fresh = await registerTpp(server, { trust_tier: 'partner' });
    const response = await authenticatedTokenRequest(server.issuer, fresh, { ip: '192.0.2.4' });
    assert.equal(response.status, 400);
    assert.deepEqual(
      { limit: rateLimitHeaders(response.headers).limit, remaining: rateLimitHeaders(response.headers).remaining },
      { limit: 6, remaining: 5 },
    );
  });

  test("a forged assertion naming a client spends the sender's anonymous allowance, not the client's", async () => {
    const victim = await registerTpp(server, { trust_tier: 'standard' });
    const forger = await keyPair('ES256');
    const ip = '192.0.2.66';
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const forged = await clientAssertion(server.issuer, victim, { key: forger });
      statuses.push((await authenticatedTokenRequest(server.issuer, victim, { ip, assertion: forged })).status);
    }
    // token.client.anonymous = 4: four authentication failures, then the forger's address is refused.
    assert.deepEqual(statuses, [401, 401, 401, 401, 429]);
    // The victim, from its own address, still has its whole allowance.
    const s = await answeredBefore429(victim, '192.0.2.67', 10);
    assert.equal(s.answered, 3);
  });

  test('requests that authenticate no client spend the low anonymous allowance of their address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await postForm(
        `${server.issuer}/token`,
        { grant_type: 'client_credentials' },
        { 'x-forwarded-for': '192.0.2.99' },
      );
      statuses.push(response.status);
    }
    // token.client.anonymous = 4, then the address is refused (for 5 minutes).
    assert.deepEqual(statuses, [400, 400, 400, 400, 429, 429]);
  });
});

describe('every spelling a route serves is counted in its family (letter case, trailing slash)', () => {
  // Both routers match paths case-insensitively and forgive a trailing slash (src/http/route-path.ts):
  // each spelling below reaches the real handler, so it must spend the same counters as the exact path.
  let server: TestServer;
  let address = 0;
  const freshIp = () => `203.0.113.${100 + address++}`;
  before(async () => {
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        RATE_LIMITS: [
          'login.ip=3',
          'login.customer=2',
          'token.client.anonymous=3',
          'par.client.anonymous=3',
          'introspection.client.anonymous=3',
          'revocation.client.anonymous=3',
          'admin.ip=3+0',
        ].join(','),
      },
    });
  });
  after(() => server.close());

  const clientEndpoints = [
    { name: 'token', spellings: ['/Token', '/token/', '/TOKEN/', '/tOkEn'] },
    { name: 'PAR', spellings: ['/REQUEST', '/request/', '/Request/', '/REQUEST/'] },
    {
      name: 'introspection',
      spellings: ['/Token/Introspection', '/token/introspection/', '/TOKEN/INTROSPECTION', '/token/Introspection/'],
    },
    { name: 'revocation', spellings: ['/token/revocation/', '/Token/Revocation', '/TOKEN/REVOCATION/', '/token/REVOCATION'] },
  ];
  for (const { name, spellings } of clientEndpoints) {
    test(`${name}: unauthenticated requests at ${spellings.join(', ')} share the anonymous limit of 3`, async () => {
      const ip = freshIp();
      for (const [i, path] of spellings.slice(0, 3).entries()) {
        const response = await postForm(`${server.issuer}${path}`, { client_id: 'nobody' }, { 'x-forwarded-for': ip });
        // oidc-provider itself answered (an OAuth error about the client, not a 404).
        assert.ok([400, 401].includes(response.status), `${path}: ${response.status} ${JSON.stringify(response.body)}`);
        assert.notEqual(response.body.error, 'not_found', path);
        assert.deepEqual(
          { limit: rateLimitHeaders(response.headers).limit, remaining: rateLimitHeaders(response.headers).remaining },
          { limit: 3, remaining: 2 - i },
          path,
        );
      }
      const refused = await postForm(`${server.issuer}${spellings[3]}`, { client_id: 'nobody' }, { 'x-forwarded-for': ip });
      assert.equal(refused.status, 429, JSON.stringify(refused.body));
      assert.equal(refused.body.error, 'too_many_requests');
      assert.match(refused.headers.get('content-type') ?? '', /application\/json/);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    });
  }

  test('sign-in at /ACCOUNT/LOGIN, /Account/Login/ and /INTERACTION/<uid>/Login/ spends login.ip; the next is a 429 page', async () => {
    // Each attempt names a new username: only the address counter (login.ip = 3) can refuse.
    const ip = freshIp();
    for (const path of ['/ACCOUNT/LOGIN', '/Account/Login/']) {
      const response = await portalLogin(server.issuer, { ip, username: uniqueName(), path });
      assert.equal(response.status, 401, `${path}: the sign-in handler checked the password`);
    }
    const step = await fetch(`${server.issuer}/INTERACTION/no-such-uid/Login/`, {
      method: 'POST',
      headers: { 'x-forwarded-for': ip, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: uniqueName(), password: 'not the password' }),
    });
    assert.notEqual(step.status, 429);
    assert.ok(step.headers.get('ratelimit-limit'), 'the interaction step was counted');
    const refused = await portalLogin(server.issuer, { ip, username: uniqueName(), path: '/account/LOGIN/' });
    assert.equal(refused.status, 429, 'the fourth attempt from the address');
    assert.match(refused.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await refused.text(), /Too many requests/);
  });

  test('one username at /Account/Login and /ACCOUNT/LOGIN/ from other addresses spends login.customer', async () => {
    const name = uniqueName();
    assert.equal((await portalLogin(server.issuer, { ip: freshIp(), username: name, path: '/Account/Login' })).status, 401);
    assert.equal((await portalLogin(server.issuer, { ip: freshIp(), username: name, path: '/ACCOUNT/LOGIN/' })).status, 401);
    const third = await portalLogin(server.issuer, { ip: freshIp(), username: name, path: '/account/login' });
    assert.equal(third.status, 429);
  });

  test('spellings no router serves (percent-escapes, doubled or inner slashes) are 404s, not a way around the limits', async () => {
    for (const path of ['/%74oken', '/to%6Ben', '//token', '/token//', '/token//introspection', '/%2Ftoken']) {
      const response = await postForm(`${server.issuer}${path}`, { client_id: 'nobody' }, { 'x-forwarded-for': freshIp() });
      assert.equal(response.status, 404, path);
      assert.equal(response.body.error, 'not_found', path);
    }
  });

  test('the admin API at /ADMIN/clients, /admin/Clients/ and /Admin/CLIENTS spends admin.ip', async () => {
    const ip = freshIp();
    const get = (path: string) =>
      fetch(`${server.issuer}${path}`, { headers: { authorization: `Bearer ${server.adminKey}`, 'x-forwarded-for': ip } });
    for (const [i, path] of ['/ADMIN/clients', '/admin/Clients/', '/Admin/CLIENTS'].entries()) {
      const response = await get(path);
      assert.equal(response.status, 200, path);
      assert.ok(Array.isArray(await response.json()), `${path} is the client list`);
      assert.equal(rateLimitHeaders(response.headers).remaining, 2 - i, path);
    }
    const refused = await get('/admin/clients/');
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { error: string }).error, 'too_many_requests');
  });
});

describe('two instances on one Redis share a client counter', () => {
  const prefix = `test:${randomBytes(6).toString('hex')}`;
  const env = {
    REDIS_URL: 'redis://127.0.0.1:6379',
    RATE_LIMIT_KEY_PREFIX: prefix,
    RATE_LIMITS: 'token.client.standard=4+0',
  };
  let a: TestServer;
  let b: TestServer;
  let onA: Tpp;
  let onB: Tpp;

  before(async () => {
    a = await startTestServer({ env });
    b = await startTestServer({ env });
    onA = await registerTpp(a, { trust_tier: 'standard' });
    // The same client, registered with the same id on the second instance's database.
    const record = await a.server.services.clients.get(onA.clientId);
    assert.ok(record);
    await b.server.services.clients.create(record.metadata, { trustTier: 'standard' });
    onB = { ...onA };
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  test('two requests on A and two on B spend the 4 points; the fifth is refused on either', async () => {
    for (const [server, tpp] of [
      [a, onA],
      [a, onA],
      [b, onB],
      [b, onB],
    ] as const) {
      const response = await authenticatedTokenRequest(server.issuer, tpp);
      assert.equal(response.status, 400, JSON.stringify(response.body));
    }
    const onAAgain = await authenticatedTokenRequest(a.issuer, onA);
    const onBAgain = await authenticatedTokenRequest(b.issuer, onB);
    assert.equal(onAAgain.status, 429);
    assert.equal(onBAgain.status, 429);
  });

  test('the counters are in Redis, under the configured prefix', async () => {
    const redis = new Redis(env.REDIS_URL);
    try {
      const keys = await redis.keys(`${prefix}:*`);
      assert.ok(
        keys.some((k) => k === `${prefix}:token:client:standard:${onA.clientId}`),
        keys.join(' '),
      );
      if (keys.length) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });
});

describe('Redis unreachable: token and login fail closed, the rest stays up', () => {
  let server: TestServer;
  let tpp: Tpp;
  before(async () => {
    // Nothing listens on port 1; the machine's Redis keeps running for the other tests.
    server = await startTestServer({ env: { REDIS_URL: 'redis://127.0.0.1:1', RATE_LIMIT_STORE_TIMEOUT_MS: '200' } });
    tpp = await registerTpp(server);
  });
  after(() => server.close());

  test('the token endpoint refuses with 503 temporarily_unavailable and Retry-After', async () => {
    const response = await authenticatedTokenRequest(server.issuer, tpp);
    assert.equal(response.status, 503);
    assert.equal(response.body.error, 'temporarily_unavailable');
    assert.equal(response.headers.get('retry-after'), '5');
  });

  test('sign-in refuses with an HTML page', async () => {
    const response = await portalLogin(server.issuer, { ip: '127.0.0.1', username: uniqueName() });
    assert.equal(response.status, 503);
    assert.match(response.headers.get('content-type') ?? '', /text\/html/);
  });

  test('every spelling of the token endpoint and of sign-in fails closed too', async () => {
    for (const path of ['/Token', '/token/', '/TOKEN/']) {
      const response = await postForm(`${server.issuer}${path}`, { grant_type: 'client_credentials' });
      assert.equal(response.status, 503, path);
      assert.equal(response.body.error, 'temporarily_unavailable', path);
      assert.equal(response.headers.get('retry-after'), '5', path);
    }
    for (const path of ['/ACCOUNT/LOGIN', '/Account/Login/']) {
      const response = await portalLogin(server.issuer, { ip: '127.0.0.1', username: uniqueName(), path });
      assert.equal(response.status, 503, path);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/, path);
    }
    const step = await fetch(`${server.issuer}/Interaction/some-uid/LOGIN`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ username: uniqueName(), password: 'not the password' }),
    });
    assert.equal(step.status, 503);
    assert.match(step.headers.get('content-type') ?? '', /text\/html/);
  });

  test('discovery, JWKS and the sign-in page still work (fail open, counted in memory)', async () => {
    for (const path of ['/.well-known/openid-configuration', '/jwks', '/account/login']) {
      const response = await fetch(`${server.issuer}${path}`);
      assert.equal(response.status, 200, path);
      assert.ok(response.headers.get('ratelimit-limit'), `${path} is still counted`);
    }
  });
});

describe('configuration', () => {
  test('RATE_LIMITS entries are validated at start-up, naming the variable', () => {
    for (const [value, reason] of [
      ['login.ip=abc', /points/],
      ['nosuch.ip=5', /not a family/],
      ['registration.client.standard=5', /not limited per client/],
      ['token.client=5', /needs a tier/],
      ['login.ip.partner=5', /only the client dimension/],
    ] as const) {
      assert.throws(
        () => parseConfig({ RATE_LIMITS: value }),
        (err: Error) => /RATE_LIMITS/.test(err.message) && reason.test(err.message),
      );
    }
    assert.throws(() => parseConfig({ RATE_LIMIT_FAIL_CLOSED: 'token,bogus' }), /RATE_LIMIT_FAIL_CLOSED/);
    assert.throws(() => parseConfig({ REDIS_URL: 'http://x' }), /REDIS_URL/);
  });

  test('the multiplier scales defaults, explicit entries are exact, the fail-closed list replaces the default', () => {
    const policy = effectivePolicy({
      RATE_LIMIT_MULTIPLIER: 2,
      RATE_LIMITS: 'login.ip=7/60+0',
      RATE_LIMIT_FAIL_CLOSED: 'par',
    });
    assert.equal(policy.token.client?.standard.points, 240);
    assert.equal(policy.token.client?.standard.burst?.points, 480);
    assert.deepEqual({ points: policy.login.ip.points, duration: policy.login.ip.duration }, { points: 7, duration: 60 });
    assert.equal(policy.par.storeDown, 'closed');
    assert.equal(policy.token.storeDown, 'open');
    const defaults = effectivePolicy({ RATE_LIMIT_MULTIPLIER: 1, RATE_LIMITS: '', RATE_LIMIT_FAIL_CLOSED: '' });
    assert.deepEqual(
      Object.entries(defaults)
        .filter(([, p]) => p.storeDown === 'closed')
        .map(([f]) => f),
      ['token', 'login'],
    );
  });

  test('every tier is ordered: anonymous < standard <= partner <= internal on every client family', () => {
    const policy = effectivePolicy({ RATE_LIMIT_MULTIPLIER: 1, RATE_LIMITS: '', RATE_LIMIT_FAIL_CLOSED: '' });
    for (const [family, p] of Object.entries(policy)) {
      if (!p.client) continue;
      const { anonymous, standard, partner, internal } = p.client;
      assert.ok(anonymous.points < standard.points, family);
      assert.ok(standard.points <= partner.points && partner.points <= internal.points, family);
    }
  });

  test('docs/rate-limits.md is generated from the current tables (npm run docs:rate-limits)', () => {
    assert.equal(readFileSync(new URL('../docs/rate-limits.md', import.meta.url), 'utf8'), rateLimitsMarkdown());
  });
});
