// Behind a TLS-terminating proxy (TRUSTED_PROXIES): X-Forwarded-For/Proto and the forwarded
// client certificate (nginx URL-encoded PEM, Envoy XFCC) are believed from a trusted proxy only;
// from any other peer they are removed before anything (IP blocks, rate limits, audit, mTLS
// client authentication) reads them.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';
import { proxyTrust } from '../src/security/trusted-proxies.ts';
import { type Issued, issue, tlsFiles, tppSubject } from './support/certificates.ts';
import { postForm } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { REDIRECT_URI, registerResourceServer } from './support/tpp.ts';

const HSTS = 'max-age=63072000; includeSubDomains';
const x5t = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

describe('TRUSTED_PROXIES parsing', () => {
  test('IPv4 and IPv6 addresses and CIDRs, and the loopback / private presets', () => {
    const trust = proxyTrust({ TRUSTED_PROXIES: '10.1.0.0/16, 2001:db8:1::/48, 192.0.2.7, loopback', TRUST_PROXY: false });
    assert.equal(trust.enabled, true);
    for (const ip of ['10.1.200.3', '2001:db8:1:ff::1', '192.0.2.7', '127.0.0.1', '::1', '::ffff:10.1.0.1']) {
      assert.equal(trust.trusts(ip), true, ip);
    }
    for (const ip of ['10.2.0.1', '2001:db8:2::1', '192.0.2.8', '203.0.113.1', '', 'unknown'])
      assert.equal(trust.trusts(ip), false, ip);
    const priv = proxyTrust({ TRUSTED_PROXIES: 'private', TRUST_PROXY: false });
    for (const ip of ['10.0.0.1', '172.20.1.1', '192.168.1.1', 'fd00::1']) assert.equal(priv.trusts(ip), true, ip);
    assert.equal(priv.trusts('127.0.0.1'), false);
  });

  test('nothing is trusted by default; the old TRUST_PROXY=true means the loopback proxy only, never everyone', () => {
    const none = proxyTrust({ TRUSTED_PROXIES: '', TRUST_PROXY: false });
    assert.equal(none.enabled, false);
    assert.equal(none.trusts('127.0.0.1'), false);
    const legacy = proxyTrust({ TRUSTED_PROXIES: '', TRUST_PROXY: true });
    assert.equal(legacy.trusts('127.0.0.1'), true);
    assert.equal(legacy.trusts('203.0.113.5'), false);
  });

  test('a malformed entry stops the start, naming TRUSTED_PROXIES', () => {
    for (const bad of ['10.0.0.0/33', 'proxy.example', '2001:db8::/129']) {
      assert.throws(
        () => parseConfig({ TRUSTED_PROXIES: bad }),
        (err: unknown) => err instanceof ConfigError && /TRUSTED_PROXIES/.test(err.message),
        bad,
      );
    }
  });
});

describe('forwarded headers over HTTP', () => {
  let untrusted: TestServer;
  let trusted: TestServer;
  let qwac: Issued;
  const header = (pem: string) => encodeURIComponent(pem);

  /** A tls_client_auth TPP and a resource server on one server; the QWAC comes from `qwac`. */
  const setUp = async (server: TestServer) => {
    const rs = await registerResourceServer(server);
    const response = await server.admin('POST', '/admin/clients', {
      client_name: 'Proxied Fintech',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'tls_client_auth',
      tls_client_certificate_bound_access_tokens: true,
      qwac_certificate: qwac.pem,
    });
    assert.equal(response.status, 201, await response.clone().text());
    const clientId = ((await response.json()) as { client_id: string }).client_id;
    const blocked = await server.admin('POST', '/admin/ip-blocks', { cidr: '203.0.113.0/24', reason: 'proxy test' });
    assert.equal(blocked.status, 201);
    const token = (headers: Record<string, string>) =>
      postForm(
        `${server.issuer}/token`,
        { grant_type: 'client_credentials', client_id: clientId, scope: 'accounts', resource: rs.resource },
        headers,
      );
    const introspect = (accessToken: string) =>
      postForm(
        `${server.issuer}/token/introspection`,
        { token: accessToken },
        { authorization: `Basic ${Buffer.from(`${rs.clientId}:${rs.clientSecret}`).toString('base64')}` },
      );
    return { token, introspect };
  };
  let viaUntrusted: Awaited<ReturnType<typeof setUp>>;
  let viaTrusted: Awaited<ReturnType<typeof setUp>>;

  before(async () => {
    const files = await tlsFiles();
    qwac = await issue(files.ca, { subject: tppSubject('Proxied Fintech Ltd', 'PSDGB-FCA-300001'), roles: ['PSP_AI'] });
    const env = {
      MTLS_CA_BUNDLE: files.caBundlePath,
      CLIENT_CERT_HEADER: 'X-SSL-Client-Cert',
      // A proxy terminates mTLS on its own host name and forwards here.
      MTLS_BASE_URL: 'https://mtls.bank.example',
    };
    // The test's requests come from 127.0.0.1: outside 192.0.2.0/24, inside `loopback`.
    untrusted = await startTestServer({ env: { ...env, TRUSTED_PROXIES: '192.0.2.0/24' } });
    trusted = await startTestServer({ env: { ...env, TRUSTED_PROXIES: 'loopback' } });
    viaUntrusted = await setUp(untrusted);
    viaTrusted = await setUp(trusted);
  });
  after(async () => {
    await untrusted?.close();
    await trusted?.close();
  });

  test('from an untrusted address a forged forwarded certificate is ignored: no client authentication with it', async () => {
    const forged = await viaUntrusted.token({ 'x-ssl-client-cert': header(qwac.pem) });
    assert.equal(forged.status, 401);
    assert.equal(forged.body.error, 'invalid_client');
    assert.equal(forged.body.access_token, undefined);
  });

  test('from a trusted proxy the forwarded certificate authenticates the TPP and binds the token (cnf.x5t#S256)', async () => {
    const { status, body } = await viaTrusted.token({ 'x-ssl-client-cert': header(qwac.pem) });
    assert.equal(status, 200, JSON.stringify(body));
    const introspection = await viaTrusted.introspect(body.access_token as string);
    assert.equal(introspection.body.active, true);
    assert.deepEqual(introspection.body.cnf, { 'x5t#S256': x5t(qwac.pem) });
    // Discovery advertises the proxy's mTLS host (MTLS_BASE_URL) without an mTLS listener here.
    const metadata = (await (await fetch(`${trusted.issuer}/.well-known/openid-configuration`)).json()) as {
      mtls_endpoint_aliases: Record<string, string>;
    };
    assert.equal(metadata.mtls_endpoint_aliases.token_endpoint, 'https://mtls.bank.example/token');
  });

  test('Envoy XFCC: the Cert element of the element the trusted proxy appended is the client certificate', async () => {
    await trusted.restart({ CLIENT_CERT_HEADER: 'X-Forwarded-Client-Cert', CLIENT_CERT_ENCODING: 'xfcc' });
    try {
      const xfcc = `By=spiffe://bank.example/portcullis;Hash=abc123;Cert="${header(qwac.pem)}";Subject="CN=proxied"`;
      const { status, body } = await viaTrusted.token({ 'x-forwarded-client-cert': xfcc });
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual((await viaTrusted.introspect(body.access_token as string)).body.cnf, { 'x5t#S256': x5t(qwac.pem) });
      // The nginx header name means nothing now.
      const other = await viaTrusted.token({ 'x-ssl-client-cert': header(qwac.pem) });
      assert.equal(other.status, 401);
    } finally {
      await trusted.restart();
    }
  });

  // OWASP API5 / PSD2 RTS Art. 34: at RFC 7591 registration both bounds apply, the bank's (named on
  // the initial access token) and the NCA's (the roles of the QWAC the trusted proxy forwards).
  test("RFC 7591 /reg: the forwarded QWAC's roles narrow what the initial access token allows", async () => {
    const mint = async (server: TestServer, types: string[]) => {
      const response = await server.admin('POST', '/admin/initial-access-tokens', { authorization_details_types: types });
      assert.equal(response.status, 201, await response.clone().text());
      return ((await response.json()) as { initial_access_token: string }).initial_access_token;
    };
    const register = async (server: TestServer, token: string, types?: string[]) => {
      const response = await fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${token}`,
          'x-ssl-client-cert': header(qwac.pem),
        },
        body: JSON.stringify({
          redirect_uris: [REDIRECT_URI],
          token_endpoint_auth_method: 'tls_client_auth',
          tls_client_auth_subject_dn: tppSubject('Proxied Fintech Ltd', 'PSDGB-FCA-300001'),
          tls_client_certificate_bound_access_tokens: true,
          ...(types ? { authorization_details_types: types } : {}),
        }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const both = ['account_information', 'payment_initiation'];

    // The QWAC carries PSP_AI only: of the bank's two types, account information remains.
    const omitted = await register(trusted, await mint(trusted, both));
    assert.equal(omitted.status, 201, JSON.stringify(omitted.body));
    assert.deepEqual(omitted.body.authorization_details_types, ['account_information']);
    const refused: [string, string[], string[] | undefined, RegExp][] = [
      ['a payment type without PSP_PI', both, ['payment_initiation'], /payment_initiation cannot be registered: .*PSP_PI/],
      ['nothing left of the bound', ['payment_initiation'], undefined, /no type can be registered: .*PSP_PI/],
    ];
    for (const [name, allowed, asked, pattern] of refused) {
      const { status, body } = await register(trusted, await mint(trusted, allowed), asked);
      assert.equal(status, 400, name);
      assert.equal(body.error, 'invalid_client_metadata', name);
      assert.match(body.error_description as string, /^authorization_details_types: /, name);
      assert.match(body.error_description as string, pattern, name);
    }
    // From an untrusted peer the header is no certificate: the bank's bound alone applies.
    const unproxied = await register(untrusted, await mint(untrusted, both));
    assert.equal(unproxied.status, 201, JSON.stringify(unproxied.body));
    assert.deepEqual(unproxied.body.authorization_details_types, both);
  });

  test('X-Forwarded-For from an untrusted address is ignored: a blocked address cannot be claimed, nor escaped', async () => {
    const claimed = await fetch(`${untrusted.issuer}/jwks`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(claimed.status, 200, 'the header is not the client address');
    const fromProxy = await fetch(`${trusted.issuer}/jwks`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    assert.equal(fromProxy.status, 403, 'the trusted proxy names the blocked client');
    // A client behind the trusted proxy cannot hide by prepending an address: only the entry the
    // proxy appended (the rightmost) counts.
    const spoofed = await fetch(`${trusted.issuer}/jwks`, { headers: { 'x-forwarded-for': '198.51.100.4, 203.0.113.9' } });
    assert.equal(spoofed.status, 403);
    const innocent = await fetch(`${trusted.issuer}/jwks`, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.4' } });
    assert.equal(innocent.status, 200);
  });

  test('X-Forwarded-Proto: https earns HSTS only from a trusted proxy', async () => {
    const forged = await fetch(`${untrusted.issuer}/.well-known/openid-configuration`, {
      headers: { 'x-forwarded-proto': 'https' },
    });
    assert.equal(forged.headers.get('strict-transport-security'), null);
    const metadata = (await forged.json()) as { issuer: string; token_endpoint: string };
    assert.match(metadata.token_endpoint, /^http:\/\//, 'the forged scheme reaches no URL either');
    const real = await fetch(`${trusted.issuer}/.well-known/openid-configuration`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.equal(real.headers.get('strict-transport-security'), HSTS);
  });
});
