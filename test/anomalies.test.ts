// Anomaly detection: many usernames from one address raise an `anomaly` audit event, reach the
// webhook and the metric, and (with ANOMALY_BLOCK_MINUTES) block the address; by default it only
// alerts; refresh-token reuse is reported; token velocity is judged against the client's own norm.
// Over real HTTP with addresses in X-Forwarded-For (TRUST_PROXY=true), and the windows alone.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { pino } from 'pino';
import { type Anomaly, createAnomalyDetector } from '../src/security/anomalies/detector.ts';
import { effectiveRules } from '../src/security/anomalies/rules.ts';
import { DistinctWindow, EventWindow, RateNorm } from '../src/security/anomalies/windows.ts';
import type { AuditEvent, AuditLog } from '../src/security/audit.ts';
import type { IpBlockStore } from '../src/security/ip-blocks.ts';
import { portalLogin } from './support/abuse.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { type WebhookReceiver, webhookReceiver } from './support/webhook.ts';

const uniqueName = () => `stuffed-${randomBytes(4).toString('hex')}`;

const until = async (check: () => boolean | Promise<boolean>, ms = 3000) => {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

describe('credential stuffing with automatic blocking', () => {
  let server: TestServer;
  let hook: WebhookReceiver<Record<string, unknown>>;
  const ip = '192.0.2.50';

  before(async () => {
    hook = await webhookReceiver();
    server = await startTestServer({
      env: {
        TRUST_PROXY: 'true',
        ANOMALY_THRESHOLDS: 'credential_stuffing=3',
        ANOMALY_BLOCK_MINUTES: '5',
        ANOMALY_WEBHOOK_URL: hook.url,
      },
    });
  });
  after(async () => {
    await server.close();
    await hook.close();
  });

  test('one username tried again and again from one address is not stuffing', async () => {
    const name = uniqueName();
    for (let i = 0; i < 4; i++)
      assert.equal((await portalLogin(server.issuer, { ip: '192.0.2.51', username: name })).status, 401);
    await server.server.services.audit.flush();
    assert.equal((await server.server.services.audit.query({ type: 'anomaly', limit: 10 })).length, 0);
  });

  test('three different usernames from one address: anomaly event, address blocked, webhook called', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await portalLogin(server.issuer, { ip, username: uniqueName() })).status, 401);
    }
    const next = await fetch(`${server.issuer}/account/login`, { headers: { 'x-forwarded-for': ip } });
    assert.equal(next.status, 403, 'the address is blocked from the next request on');
    const elsewhere = await fetch(`${server.issuer}/account/login`, { headers: { 'x-forwarded-for': '192.0.2.52' } });
    assert.equal(elsewhere.status, 200);

    const services = server.server.services;
    await services.audit.flush();
    const [anomaly, ...more] = await services.audit.query({ type: 'anomaly', limit: 10 });
    assert.ok(anomaly);
    assert.equal(more.length, 0, 'once per window');
    assert.equal(anomaly.actor_type, 'system');
    assert.equal(anomaly.outcome, 'failure');
    assert.equal(anomaly.personal?.ip, ip);
    assert.deepEqual(
      {
        rule: anomaly.details.rule,
        count: anomaly.details.count,
        threshold: anomaly.details.threshold,
        action: anomaly.details.action,
      },
      { rule: 'credential_stuffing', count: 3, threshold: 3, action: 'ip_blocked' },
    );

    const blocks = (await (await server.admin('GET', '/admin/ip-blocks')).json()) as Record<string, string>[];
    const block = blocks.find((b) => b.cidr === `${ip}/32`);
    assert.ok(block);
    assert.equal(block.created_by, 'system:anomaly-detection');
    assert.equal(block.reason, 'anomaly: credential_stuffing');
    const minutes = (new Date(block.expires_at as string).getTime() - Date.now()) / 60_000;
    assert.ok(minutes > 4.5 && minutes <= 5, `expires in ${minutes} min`);
    const blocked = await services.audit.query({ type: 'ip.blocked', limit: 10 });
    assert.equal(blocked[0]?.actor_id, 'anomaly-detection');

    await hook.arrival();
    assert.deepEqual(
      { type: hook.received[0]?.type, rule: hook.received[0]?.rule, ip: hook.received[0]?.ip, action: hook.received[0]?.action },
      { type: 'portcullis.anomaly', rule: 'credential_stuffing', ip, action: 'ip_blocked' },
    );
  });

  test('the anomaly is counted in the metrics', async () => {
    const response = await server.admin('GET', '/metrics');
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^portcullis_anomalies_total\{rule="credential_stuffing"\} [1-9]/m);
  });
});

describe('alert only (ANOMALY_BLOCK_MINUTES unset)', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ env: { TRUST_PROXY: 'true', ANOMALY_THRESHOLDS: 'login_failures_ip=3' } });
  });
  after(() => server.close());

  test('three failures from one address raise the alert and block nothing', async () => {
    const name = uniqueName();
    for (let i = 0; i < 3; i++) await portalLogin(server.issuer, { ip: '192.0.2.60', username: name });
    assert.equal((await portalLogin(server.issuer, { ip: '192.0.2.60', username: name })).status, 401);
    await server.server.services.audit.flush();
    const anomalies = await server.server.services.audit.query({ type: 'anomaly', limit: 10 });
    assert.equal(anomalies.length, 1);
    assert.equal(anomalies[0]?.details.rule, 'login_failures_ip');
    assert.equal(anomalies[0]?.details.action, 'alert');
    assert.equal(((await (await server.admin('GET', '/admin/ip-blocks')).json()) as unknown[]).length, 0);
  });

  test('refresh-token reuse reported by the provider becomes an anomaly', async () => {
    const audit = server.server.services.audit;
    await audit.record({
      type: 'refresh_token.reuse_detected',
      outcome: 'failure',
      actor: { type: 'client', id: 'tpp-1' },
      clientId: 'tpp-1',
      personal: { ip: '192.0.2.70' },
      details: { grant_id: 'grant-123', action: 'grant and every token of it revoked' },
    });
    await until(async () => {
      await audit.flush();
      return (await audit.query({ type: 'anomaly', limit: 10 })).some((e) => e.details.rule === 'refresh_reuse');
    });
    const event = (await audit.query({ type: 'anomaly', limit: 10 })).find((e) => e.details.rule === 'refresh_reuse');
    assert.equal(event?.client_id, 'tpp-1');
    assert.equal(event?.details.grant_id, 'grant-123');
    assert.equal(event?.personal?.ip, '192.0.2.70');
  });
});

describe('sliding windows', () => {
  test('EventWindow counts events inside the window only', () => {
    const w = new EventWindow(10_000, 5);
    assert.deepEqual([w.add('a', 0), w.add('a', 1000), w.add('a', 2000)], [1, 2, 3]);
    assert.equal(w.add('a', 11_500), 2, 'the events at 0 and 1000 fell out');
    assert.equal(w.add('b', 11_500), 1, 'per key');
    for (let t = 0; t < 10; t++) w.add('c', 20_000 + t);
    assert.equal(w.add('c', 20_010), 5, 'counted up to the cap');
  });

  test('DistinctWindow counts distinct values; repeats refresh, old ones expire', () => {
    const w = new DistinctWindow(10_000, 10);
    assert.deepEqual([w.add('ip', 'x', 0), w.add('ip', 'x', 1), w.add('ip', 'y', 2), w.add('ip', 'z', 9000)], [1, 1, 2, 3]);
    assert.equal(w.add('ip', 'x', 10_500), 2, 'y expired; x was refreshed');
  });

  test("RateNorm learns a client's normal rate per minute", () => {
    const norm = new RateNorm();
    let last = { current: 0, norm: 0, minutes: 0 };
    for (let minute = 0; minute < 120; minute++) {
      for (let i = 0; i < 10; i++) last = norm.add('tpp', minute * 60_000 + i);
    }
    assert.equal(last.current, 10);
    assert.ok(last.norm > 8 && last.norm <= 10, `norm ${last.norm}`);
    assert.equal(last.minutes, 119);
    // Idle minutes count as zero.
    const idle = norm.add('tpp', 300 * 60_000);
    assert.ok(idle.norm < last.norm / 10, `norm ${idle.norm}`);
  });
});

describe('token velocity', () => {
  const fakeAudit = () => {
    const recorded: AuditEvent[] = [];
    const audit = {
      record: async (event: AuditEvent) => {
        recorded.push(event);
      },
      onRecord: () => () => {},
    } as unknown as AuditLog;
    return { audit, recorded };
  };
  const noBlocks = { match: async () => undefined } as unknown as IpBlockStore;

  test('a client above the threshold raises token_velocity once per window, naming the client', async () => {
    const { audit, recorded } = fakeAudit();
    const detector = createAnomalyDetector({
      rules: effectiveRules('token_velocity=5'),
      audit,
      ipBlocks: noBlocks,
      logger: pino({ level: 'silent' }),
      blockMinutes: 10,
      issuer: 'https://as.example',
    });
    const seen: Anomaly[] = [];
    detector.onAnomaly((a) => seen.push(a));
    for (let i = 0; i < 12; i++) await detector.tokenRequest('tpp-9');
    for (let i = 0; i < 3; i++) await detector.tokenRequest('tpp-quiet');
    assert.equal(seen.length, 1);
    assert.deepEqual(
      { rule: seen[0]?.rule, clientId: seen[0]?.clientId, count: seen[0]?.count, action: seen[0]?.action },
      { rule: 'token_velocity', clientId: 'tpp-9', count: 5, action: 'alert' },
    );
    assert.equal(recorded[0]?.type, 'anomaly');
    assert.equal(recorded[0]?.clientId, 'tpp-9');
    detector.stop();
  });
});
