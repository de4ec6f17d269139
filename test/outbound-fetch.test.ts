// OWASP API7: the policy every server-side fetch (a client's jwks_uri) goes through, driven with a
// recording transport so each rule is seen on its own: https, allow-list, special-use addresses
// (before any connection), no redirects, a time cap and a size cap.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseConfig } from '../src/config.ts';
import {
  createOutboundFetch,
  hostAllowed,
  isSpecialUseAddress,
  type OutboundFetchPolicy,
  OutboundFetchRefused,
} from '../src/security/outbound-fetch.ts';

const policy: OutboundFetchPolicy = {
  allowedHosts: ['keys.tpp.example', '*.qtsp.example'],
  timeoutMs: 200,
  maxBytes: 1024,
  allowPrivate: false,
};

function recorder(answer: (init: RequestInit) => Promise<Response> = async () => new Response('{"keys":[]}')) {
  const calls: { url: string; init: RequestInit & { dispatcher?: unknown } }[] = [];
  const transport = async (url: string | URL, init: RequestInit & { dispatcher?: unknown } = {}) => {
    calls.push({ url: String(url), init });
    return answer(init);
  };
  return { calls, transport };
}

const publicResolver = async () => ['93.184.215.14'];

describe('outbound fetch policy (OWASP API7)', () => {
  test('special-use addresses: loopback, private, link-local (cloud metadata), CGNAT, ULA, mapped; public ones are not', () => {
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      '::',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      'not-an-address',
    ]) {
      assert.equal(isSpecialUseAddress(address), true, address);
    }
    for (const address of ['93.184.215.14', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) {
      assert.equal(isSpecialUseAddress(address), false, address);
    }
  });

  test('allow-list: exact names and *.domain subdomains only', () => {
    assert.equal(hostAllowed('keys.tpp.example', policy.allowedHosts), true);
    assert.equal(hostAllowed('KEYS.TPP.EXAMPLE.', policy.allowedHosts), true);
    assert.equal(hostAllowed('a.qtsp.example', policy.allowedHosts), true);
    for (const host of ['tpp.example', 'evil-keys.tpp.example', 'qtsp.example', 'evilqtsp.example', 'qtsp.example.evil']) {
      assert.equal(hostAllowed(host, policy.allowedHosts), false, host);
    }
  });

  test('refused before any request: http, a host off the list, credentials in the URL, a name resolving to a private address', async () => {
    const { calls, transport } = recorder();
    const cases: [string, (host: string) => Promise<string[]>][] = [
      ['http://keys.tpp.example/jwks', publicResolver],
      ['https://keys.elsewhere.example/jwks', publicResolver],
      ['https://user:pw@keys.tpp.example/jwks', publicResolver],
      ['https://keys.tpp.example/jwks', async () => ['10.0.0.5']],
      ['https://keys.tpp.example/jwks', async () => ['93.184.215.14', '127.0.0.1']],
      ['https://a.qtsp.example/jwks', async () => ['169.254.169.254']],
    ];
    for (const [url, resolve] of cases) {
      const fetchIt = createOutboundFetch(policy, { resolve, transport });
      await assert.rejects(fetchIt(url), OutboundFetchRefused, url);
    }
    assert.equal(calls.length, 0);
  });

  test('an allowed public target is fetched without following redirects, through the caller dispatcher', async () => {
    const { calls, transport } = recorder();
    const dispatcher = { ssrf: 'oidc-provider' };
    const fetchIt = createOutboundFetch(policy, { resolve: publicResolver, transport });
    const response = await fetchIt('https://keys.tpp.example/jwks', { dispatcher } as RequestInit);
    assert.deepEqual(await response.json(), { keys: [] });
    assert.equal(calls[0]?.init.redirect, 'error');
    assert.equal(calls[0]?.init.dispatcher, dispatcher, "oidc-provider's connect-time check stays in place");
  });

  test('a slow target is abandoned after the timeout', async () => {
    const { transport } = recorder(
      (init) =>
        new Promise((_resolve, reject) => {
          init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
        }),
    );
    const fetchIt = createOutboundFetch(policy, { resolve: publicResolver, transport });
    const started = Date.now();
    await assert.rejects(fetchIt('https://keys.tpp.example/jwks'), /timeout|abort/i);
    assert.ok(Date.now() - started < 2000);
  });

  test('a body over the cap is refused, declared or streamed', async () => {
    const big = 'x'.repeat(policy.maxBytes + 1);
    const declared = createOutboundFetch(policy, {
      resolve: publicResolver,
      transport: async () => new Response(big, { headers: { 'content-length': String(big.length) } }),
    });
    await assert.rejects(declared('https://keys.tpp.example/jwks'), OutboundFetchRefused);
    const streamed = createOutboundFetch(policy, {
      resolve: publicResolver,
      transport: async () =>
        new Response(
          new ReadableStream({
            start(controller) {
              for (let i = 0; i < 4; i++) controller.enqueue(new TextEncoder().encode('y'.repeat(400)));
              controller.close();
            },
          }),
        ),
    });
    const response = await streamed('https://keys.tpp.example/jwks');
    await assert.rejects(response.arrayBuffer(), OutboundFetchRefused);
  });

  test('OUTBOUND_FETCH_ALLOW_PRIVATE is refused in production', () => {
    assert.throws(
      () =>
        parseConfig({
          NODE_ENV: 'production',
          ISSUER: 'https://bank.example',
          ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
          OUTBOUND_FETCH_ALLOW_PRIVATE: 'true',
        }),
      /OUTBOUND_FETCH_ALLOW_PRIVATE/,
    );
    assert.throws(() => parseConfig({ OUTBOUND_FETCH_ALLOWED_HOSTS: 'ok.example,not a host' }), /OUTBOUND_FETCH_ALLOWED_HOSTS/);
  });
});
