// GET /metrics: Prometheus text behind an admin key with `metrics:read` on the public listener,
// open on the internal admin listener; request histograms labelled by route template, tokens
// issued by grant type and client, security counters fed by the audit log, event-loop lag and
// the database pool.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { freePort, startTestServer, type TestServer } from './support/server.ts';
import { clientCredentials, discover, dpopKeyPair, registerResourceServer, registerTpp } from './support/tpp.ts';

/** The value of one sample, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    const present = Object.fromEntries([...labelText.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => present[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics on the public listener', () => {
  let server: TestServer;
  let metricsKey: string;

  const scrape = async (key = metricsKey) => {
    const response = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    return response.text();
  };

  before(async () => {
    server = await startTestServer();
    const created = await server.admin('POST', '/admin/admin-keys', { name: 'prometheus', scopes: ['metrics:read'] });
    assert.equal(created.status, 201);
    metricsKey = ((await created.json()) as { key: string }).key;
  });
  after(() => server?.close());

  test('needs an admin key holding metrics:read', async () => {
    const anonymous = await fetch(`${server.issuer}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.equal(((await anonymous.json()) as { error: string }).error, 'invalid_token');

    const other = await server.admin('POST', '/admin/admin-keys', { name: 'reader', scopes: ['clients:read'] });
    const { key } = (await other.json()) as { key: string };
    const forbidden = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(forbidden.status, 403);
    const body = (await forbidden.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'insufficient_scope');
    assert.match(body.error_description, /metrics:read/);
  });

  test('request counts and latency histograms by route template, never by raw path', async () => {
    const tpp = await registerTpp(server);
    for (let i = 0; i < 3; i++) assert.equal((await server.admin('GET', `/admin/clients/${tpp.clientId}`)).status, 200);
    await fetch(`${server.issuer}/.well-known/openid-configuration`);
    await fetch(`${server.issuer}/no/such/${tpp.clientId}`);

    const text = await scrape();
    const route = { method: 'GET', route: '/admin/clients/:id', status: '200' };
    assert.ok((sample(text, 'portcullis_http_requests_total', route) ?? 0) >= 3);
    assert.ok((sample(text, 'portcullis_http_request_duration_seconds_count', route) ?? 0) >= 3);
    assert.ok((sample(text, 'portcullis_http_request_duration_seconds_bucket', { ...route, le: '+Inf' }) ?? 0) >= 3);
    assert.ok((sample(text, 'portcullis_http_requests_total', { route: 'discovery', status: '200' }) ?? 0) >= 1);
    assert.ok((sample(text, 'portcullis_http_requests_total', { route: 'unmatched', status: '404' }) ?? 0) >= 1);
    assert.ok(!text.includes(tpp.clientId), 'no client id from a path appears in the request metrics');
  });

  test('tokens issued by grant type and client', async () => {
    const rs = await registerResourceServer(server);
    const tpp = await registerTpp(server);
    const as = await discover(server.issuer);
    const dpop = await dpopKeyPair();
    await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop);
    await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop);

    const text = await scrape();
    assert.equal(
      sample(text, 'portcullis_tokens_issued_total', { grant_type: 'client_credentials', client_id: tpp.clientId }),
      2,
    );
    assert.ok((sample(text, 'portcullis_http_requests_total', { method: 'POST', route: 'token', status: '200' }) ?? 0) >= 2);
  });

  test('security counters follow the audit log', async () => {
    const names = [
      'portcullis_login_failures_total',
      'portcullis_sca_failures_total',
      'portcullis_lockouts_total',
      'portcullis_refresh_token_reuse_total',
    ];
    const first = await scrape();
    const before = Object.fromEntries(names.map((n) => [n, sample(first, n) ?? 0]));
    const { audit } = server.server.services;
    const anonymous = { type: 'anonymous' } as const;
    await audit.record({ type: 'customer.login', outcome: 'failure', actor: anonymous });
    await audit.record({ type: 'customer.login', outcome: 'failure', actor: anonymous });
    await audit.record({ type: 'customer.login', outcome: 'failure', actor: anonymous, details: { step: 'second_factor' } });
    await audit.record({ type: 'customer.login', outcome: 'success', actor: { type: 'customer', id: 'c1' } });
    await audit.record({ type: 'customer.locked', outcome: 'info', actor: { type: 'system' }, customerId: 'c1' });
    await audit.record({ type: 'refresh_token.reuse_detected', outcome: 'failure', actor: { type: 'client', id: 'x' } });

    const text = await scrape();
    const delta = (name: string) => (sample(text, name) ?? 0) - (before[name] ?? 0);
    assert.equal(delta('portcullis_login_failures_total'), 2);
    assert.equal(delta('portcullis_sca_failures_total'), 1);
    assert.equal(delta('portcullis_lockouts_total'), 1);
    assert.equal(delta('portcullis_refresh_token_reuse_total'), 1);
    assert.ok((sample(text, 'portcullis_audit_events_total', { type: 'customer.login', outcome: 'success' }) ?? 0) >= 1);
    for (const name of ['portcullis_rate_limit_rejections_total', 'portcullis_anomalies_total']) {
      assert.match(text, new RegExp(`# TYPE ${name} counter`), `${name} is exported`);
    }
  });

  test('event-loop lag, process metrics and the database pool', async () => {
    const text = await scrape();
    for (const name of [
      'nodejs_eventloop_lag_seconds',
      'nodejs_eventloop_lag_p99_seconds',
      'process_cpu_seconds_total',
      'nodejs_heap_size_used_bytes',
      'portcullis_db_pool_connections_in_use',
      'portcullis_db_pool_connections_idle',
      'portcullis_db_pool_pending_acquires',
    ]) {
      assert.notEqual(sample(text, name), undefined, `${name} is exported`);
    }
    assert.match(text, /# TYPE portcullis_http_request_duration_seconds histogram/);
    if (server.database.kind === 'postgresql') {
      assert.equal(sample(text, 'portcullis_db_pool_connections_max'), server.config.DATABASE_POOL_MAX);
    }
  });
});

describe('metrics on the admin listener (ADMIN_PORT)', () => {
  let server: TestServer;
  let adminPort: number;

  before(async () => {
    adminPort = await freePort();
    server = await startTestServer({ env: { ADMIN_PORT: String(adminPort) } });
  });
  after(() => server?.close());

  test('served without a key on the internal port, absent from the public one', async () => {
    const internal = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    assert.equal(internal.status, 200);
    assert.match(await internal.text(), /nodejs_eventloop_lag_seconds/);

    const publicAnswer = await fetch(`${server.issuer}/metrics`, { headers: { authorization: `Bearer ${server.adminKey}` } });
    assert.equal(publicAnswer.status, 404);
    // The admin API on the internal port still wants its key.
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/admin/clients`)).status, 401);
  });
});
