// Blocking addresses and ranges (incident response) over real HTTP: a blocked CIDR gets 403 in the
// endpoint's own format (JSON on OAuth endpoints, a page on browser routes), IPv6 ranges too;
// unblocking and expiry restore access; every change is audited with its actor; the admin API
// validates its input and scope; the CLI does the same against the database.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { parseRange } from '../src/security/ip-address.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { postForm } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const from = (ip: string) => ({ 'x-forwarded-for': ip });

describe('IP blocks over HTTP', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true' } });
  });
  after(() => server.close());

  const block = async (body: Record<string, unknown>) => {
    const response = await server.admin('POST', '/admin/ip-blocks', body);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  test('a blocked IPv4 range gets 403 JSON on OAuth endpoints and a page on browser routes; neighbours do not', async () => {
    const created = await block({ cidr: '198.51.100.7/24', reason: 'credential stuffing from this range' });
    assert.equal(created.status, 201);
    assert.equal(created.body.cidr, '198.51.100.0/24', 'host bits cleared');
    assert.equal(created.body.expires_at, null);

    const token = await postForm(`${server.issuer}/token`, { grant_type: 'client_credentials' }, from('198.51.100.200'));
    assert.equal(token.status, 403);
    assert.equal(token.body.error, 'access_denied');
    assert.match(token.headers.get('content-type') ?? '', /application\/json/);

    for (const path of ['/account/login', '/auth?client_id=x']) {
      const page = await fetch(`${server.issuer}${path}`, { headers: from('198.51.100.1') });
      assert.equal(page.status, 403, path);
      assert.match(page.headers.get('content-type') ?? '', /text\/html/, path);
      assert.match(await page.text(), /blocked/, path);
    }
    const discovery = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: from('198.51.100.9') });
    assert.equal(discovery.status, 403, 'every endpoint, even discovery');

    const neighbour = await fetch(`${server.issuer}/.well-known/openid-configuration`, { headers: from('198.51.101.1') });
    assert.equal(neighbour.status, 200);
    const probe = await fetch(`${server.issuer}/healthz`, { headers: from('198.51.100.1') });
    assert.equal(probe.status, 200, 'health probes are never blocked');
  });

  test('IPv6 ranges, and IPv4-mapped IPv6 addresses of a blocked IPv4 range', async () => {
    assert.equal((await block({ cidr: '2001:db8:abcd::/48', reason: 'test' })).status, 201);
    const inside = await fetch(`${server.issuer}/jwks`, { headers: from('2001:db8:abcd:12::5') });
    assert.equal(inside.status, 403);
    const outside = await fetch(`${server.issuer}/jwks`, { headers: from('2001:db8:abce::5') });
    assert.equal(outside.status, 200);
    const mapped = await fetch(`${server.issuer}/jwks`, { headers: from('::ffff:198.51.100.77') });
    assert.equal(mapped.status, 403);
  });

  test('listing, unblocking, and the audit trail', async () => {
    const listed = await server.admin('GET', '/admin/ip-blocks');
    assert.equal(listed.status, 200);
    const blocks = (await listed.json()) as { id: string; cidr: string; created_by: string }[];
    const v4 = blocks.find((b) => b.cidr === '198.51.100.0/24');
    assert.ok(v4);
    assert.match(v4.created_by, /^admin:test-/);

    const removed = await server.admin('DELETE', `/admin/ip-blocks/${v4.id}`);
    assert.equal(removed.status, 204);
    const again = await fetch(`${server.issuer}/jwks`, { headers: from('198.51.100.200') });
    assert.equal(again.status, 200, 'unblocking restores access at once');
    assert.equal((await server.admin('DELETE', `/admin/ip-blocks/${v4.id}`)).status, 404, 'already lifted');
    const remaining = (await (await server.admin('GET', '/admin/ip-blocks')).json()) as { id: string }[];
    assert.ok(!remaining.some((b) => b.id === v4.id));

    await server.server.services.audit.flush();
    const audit = server.server.services.audit;
    const blocked = (await audit.query({ type: 'ip.blocked', limit: 10 })).find((e) => e.details.block_id === v4.id);
    const unblocked = (await audit.query({ type: 'ip.unblocked', limit: 10 })).find((e) => e.details.block_id === v4.id);
    assert.ok(blocked && unblocked);
    assert.equal(blocked.actor_type, 'admin');
    assert.match(blocked.actor_id ?? '', /^test-/);
    assert.equal(blocked.details.cidr, '198.51.100.0/24');
    assert.equal(blocked.details.reason, 'credential stuffing from this range');
    assert.equal(unblocked.actor_type, 'admin');
  });

  test('a block expires on time, whatever the cache', async () => {
    const services = server.server.services;
    const short = await services.ipBlocks.block(
      { cidr: '192.0.2.33', reason: 'short', expiresInSeconds: 1 },
      { type: 'admin', id: 'test' },
    );
    assert.equal(short.cidr, '192.0.2.33/32');
    assert.equal((await fetch(`${server.issuer}/jwks`, { headers: from('192.0.2.33') })).status, 403);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal((await fetch(`${server.issuer}/jwks`, { headers: from('192.0.2.33') })).status, 200);
    const listed = (await (await server.admin('GET', '/admin/ip-blocks')).json()) as { id: string }[];
    assert.ok(!listed.some((b) => b.id === short.id), 'an expired block is not listed');
  });

  test('input is validated: malformed ranges, unknown fields, duplicates, short expiry', async () => {
    for (const cidr of ['not-an-ip', '10.0.0.0/33', '2001:db8::/129', '1.2.3']) {
      const response = await block({ cidr, reason: 'x' });
      assert.equal(response.status, 400, cidr);
      assert.equal(response.body.error, 'invalid_request');
    }
    assert.equal((await block({ cidr: '192.0.2.0/24', reason: 'x', extra: true })).status, 400);
    assert.equal((await block({ cidr: '192.0.2.0/24', reason: 'x', expires_in: 5 })).status, 400);
    assert.equal((await block({ cidr: '192.0.2.0/24', reason: '' })).status, 400);
    assert.equal((await block({ cidr: '192.0.2.0/24', reason: 'first', expires_in: 600 })).status, 201);
    assert.equal((await block({ cidr: '192.0.2.9/24', reason: 'same range' })).status, 409);
  });

  // An operator must not lock the admin API out with a typo (0.0.0.0/0) or by blocking themselves:
  // only the CLI, with database access, could lift such a block.
  test("a block covering the admin request's own address is refused, whatever its prefix", async () => {
    for (const [cidr, ip] of [
      ['127.0.0.0/8', undefined],
      ['127.0.0.1', undefined],
      ['::ffff:127.0.0.1/128', undefined],
      ['203.0.113.0/24', '203.0.113.77'],
      ['2001:db8:77::/48', '2001:db8:77::1'],
    ] as const) {
      const response = await fetch(`${server.issuer}/admin/ip-blocks`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${server.adminKey}`,
          'content-type': 'application/json',
          ...(ip ? from(ip) : {}),
        },
        body: JSON.stringify({ cidr, reason: 'oops' }),
      });
      const body = (await response.json()) as { error: string; error_description: string };
      assert.equal(response.status, 400, `${cidr}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'invalid_request');
      assert.match(body.error_description, /the address this request comes from/, cidr);
    }
    const listed = (await (await server.admin('GET', '/admin/ip-blocks')).json()) as { cidr: string }[];
    assert.ok(!listed.some((b) => b.cidr.startsWith('127.') || b.cidr.startsWith('203.0.113.')), 'nothing was blocked');
    assert.equal((await server.admin('GET', '/admin/ip-blocks')).status, 200, 'the admin API still answers');
  });

  test('blocks broader than IPv4 /8 or IPv6 /16 are refused; those limits themselves are accepted', async () => {
    for (const cidr of ['0.0.0.0/0', '0.0.0.0/1', '64.0.0.0/7', '::/0', '2000::/3', '2a00::/15', '::ffff:0.0.0.0/96']) {
      const response = await block({ cidr, reason: 'too broad' });
      assert.equal(response.status, 400, `${cidr}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error, 'invalid_request');
      assert.match(String(response.body.error_description), /broader than \/(8|16)/, cidr);
    }
    for (const cidr of ['10.0.0.0/8', '2a00::/16']) {
      const created = await block({ cidr, reason: 'a whole network' });
      assert.equal(created.status, 201, `${cidr}: ${JSON.stringify(created.body)}`);
      assert.equal((await server.admin('DELETE', `/admin/ip-blocks/${created.body.id}`)).status, 204);
    }
  });

  test('blocking needs the incident:write scope', async () => {
    const created = await server.admin('POST', '/admin/admin-keys', {
      name: `reader-${randomBytes(3).toString('hex')}`,
      scopes: ['audit:read'],
    });
    const { key } = (await created.json()) as { key: string };
    const denied = await server.admin('POST', '/admin/ip-blocks', { cidr: '192.0.2.0/28', reason: 'x' }, key);
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: string }).error, 'insufficient_scope');
    assert.equal((await server.admin('GET', '/admin/ip-blocks', undefined, key)).status, 200, 'audit:read may list');
  });

  test('the operations are in the OpenAPI document', async () => {
    const doc = (await (await server.admin('GET', '/admin/openapi.json')).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    assert.ok(doc.paths['/admin/ip-blocks']?.post && doc.paths['/admin/ip-blocks']?.get);
    assert.ok(doc.paths['/admin/ip-blocks/{id}']?.delete);
  });
});

describe('CIDR parsing', () => {
  test('canonical ranges', () => {
    const cases: [string, string | undefined][] = [
      ['203.0.113.7', '203.0.113.7/32'],
      ['203.0.113.7/24', '203.0.113.0/24'],
      ['2001:DB8:0:0::1/64', '2001:db8::/64'],
      ['::ffff:203.0.113.0/120', '203.0.113.0/24'],
      ['0.0.0.0/0', '0.0.0.0/0'],
      ['fe80::1%eth0', 'fe80::1/128'],
      ['203.0.113.7/', undefined],
      ['2001:db8::/200', undefined],
      ['', undefined],
    ];
    for (const [input, expected] of cases) assert.equal(parseRange(input)?.cidr, expected, input);
  });
});

describe('portcullis ip-blocks', () => {
  const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;
  const ENCRYPTION_KEY = randomBytes(32).toString('base64');
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(() => db.drop());

  function portcullis(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      NODE_ENV: 'test',
      ENCRYPTION_KEY,
      DATA_DIR: db.dataDir,
      ...(db.url ? { DATABASE_URL: db.url } : {}),
    };
    const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  test('block, list, unblock, each audited with the operator', async () => {
    const blocked = await portcullis([
      'ip-blocks',
      'block',
      '2001:db8:1::/48',
      '--reason',
      'incident 42',
      '--expires-in',
      '3600',
      '--json',
    ]);
    assert.equal(blocked.code, 0, blocked.stderr);
    const created = JSON.parse(blocked.stdout) as { id: string; cidr: string; created_by: string; expires_at: string };
    assert.equal(created.cidr, '2001:db8:1::/48');
    assert.match(created.created_by, /^admin:cli:/);
    assert.ok(created.expires_at);

    const listed = await portcullis(['ip-blocks', 'list']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^ID\s+CIDR\s+UNTIL\s+BY\s+REASON/m);
    assert.match(listed.stdout, /2001:db8:1::\/48 .*incident 42/);

    const bad = await portcullis(['ip-blocks', 'block', 'nonsense', '--reason', 'x']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /invalid_request: cidr/);
    const everything = await portcullis(['ip-blocks', 'block', '0.0.0.0/0', '--reason', 'x']);
    assert.equal(everything.code, 2, 'the CLI keeps the same minimum prefix');
    assert.match(everything.stderr, /invalid_request: cidr: 0\.0\.0\.0\/0 is broader than \/8/);

    const unblocked = await portcullis(['ip-blocks', 'unblock', created.id]);
    assert.equal(unblocked.code, 0, unblocked.stderr);
    assert.match(unblocked.stdout, /Unblocked 2001:db8:1::\/48/);

    const exported = await portcullis(['audit', 'export']);
    const events = exported.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event_type: string; actor_id: string; details: Record<string, unknown> });
    const types = events.map((e) => e.event_type);
    assert.ok(types.includes('ip.blocked') && types.includes('ip.unblocked'), types.join(','));
    assert.ok(!types.some((t) => t.startsWith('cli.ip-blocks')), 'one event per change, from the store');
    assert.match(events.find((e) => e.event_type === 'ip.blocked')?.actor_id ?? '', /^cli:/);
  });
});
