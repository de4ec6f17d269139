// Portcullis terminating TLS itself (TLS_CERT/TLS_KEY, BCP 195) with an RFC 8705 mTLS listener
// (MTLS_PORT) advertised as mtls_endpoint_aliases: tls_client_auth with a QWAC-like certificate
// and self_signed_tls_client_auth over real TLS, certificate-bound tokens (cnf.x5t#S256) that
// introspection exposes and userinfo enforces, and the certificates that must be refused.
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import { completeLogin, createCustomer, interceptCallback, launchBrowser, type TestCustomer } from './support/browser.ts';
import { createCa, type Issued, issue, selfSigned, tppSubject } from './support/certificates.ts';
import { type ClientTls, startTlsServer, type TlsTestServer, tlsFetch, viaTls } from './support/tls.ts';
import { REDIRECT_URI, type ResourceServer, registerResourceServer } from './support/tpp.ts';

const DAY = 24 * 3600 * 1000;
const ACCOUNTS = { type: 'account_information', permissions: ['accounts', 'balances'] };
const x5t = (pem: string) => createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');

/**
 * A resource server (the bank's account API) behind its own mTLS listener: a request is served
 * only when introspection says the token is active and bound to the connection's certificate.
 */
async function bankApi(
  server: TlsTestServer,
  introspect: (token: string) => Promise<oauth.IntrospectionResponse>,
): Promise<{ url: string; close(): Promise<void> }> {
  const api = createHttpsServer(
    { cert: server.files.server.pem, key: server.files.server.keyPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '';
      const presented = (req.socket as TLSSocket).getPeerX509Certificate();
      introspect(token)
        .then((result) => {
          const bound = (result.cnf as { 'x5t#S256'?: string } | undefined)?.['x5t#S256'];
          const holder = presented && bound === createHash('sha256').update(presented.raw).digest('base64url');
          if (result.active && holder) {
            res.writeHead(200, { 'content-type': 'application/json' }).end('{"accounts":[]}');
          } else {
            res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' }).end();
          }
        })
        .catch(() => res.writeHead(500).end());
    },
  );
  await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
  const { port } = api.address() as AddressInfo;
  return { url: `https://127.0.0.1:${port}`, close: () => new Promise((resolve) => api.close(() => resolve())) };
}

interface MtlsTpp {
  clientId: string;
  client: oauth.Client;
  tls: ClientTls;
}

describe('TLS and mTLS (RFC 8705)', () => {
  let server: TlsTestServer;
  let rs: ResourceServer;
  let as: oauth.AuthorizationServer;
  let qwac: Issued;
  let tpp: MtlsTpp;
  let browser: Browser;
  let customer: TestCustomer;
  const publicTls = () => ({ ca: server.files.ca.pem });

  const register = async (body: Record<string, unknown>) => {
    const response = await server.admin('POST', '/admin/clients', {
      client_name: 'Acme Payments',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      tls_client_certificate_bound_access_tokens: true,
      ...body,
    });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as { client_id: string }).client_id;
  };
  const withCert = (issued: { pem: string; keyPem: string }): ClientTls => ({
    ca: server.files.ca.pem,
    cert: issued.pem,
    key: issued.keyPem,
  });
  const mtlsClient = (clientId: string): oauth.Client => ({ client_id: clientId, use_mtls_endpoint_aliases: true });

  const clientCredentials = async (clientId: string, tls: ClientTls) => {
    const response = await oauth.clientCredentialsGrantRequest(
      as,
      mtlsClient(clientId),
      oauth.TlsClientAuth(),
      new URLSearchParams({ scope: 'accounts', resource: rs.resource }),
      viaTls(tls),
    );
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const introspect = async (token: string) => {
    const response = await oauth.introspectionRequest(as, rs.client, rs.auth, token, viaTls(publicTls()));
    return oauth.processIntrospectionResponse(as, rs.client, response);
  };

  before(async () => {
    server = await startTlsServer();
    rs = await registerResourceServer(server);
    const discovery = await oauth.discoveryRequest(new URL(server.httpsIssuer), { ...viaTls(publicTls()), algorithm: 'oidc' });
    as = await oauth.processDiscoveryResponse(new URL(server.httpsIssuer), discovery);
    qwac = await issue(server.files.ca, {
      subject: tppSubject('Acme Payments Ltd', 'PSDGB-FCA-100001'),
      roles: ['PSP_AI', 'PSP_PI'],
    });
    const clientId = await register({ token_endpoint_auth_method: 'tls_client_auth', qwac_certificate: qwac.pem });
    tpp = { clientId, client: mtlsClient(clientId), tls: withCert(qwac) };
    customer = await createCustomer(
      server,
      [{ iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' }],
      undefined,
      undefined,
      { totp: true },
    );
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  test('HTTPS with TLS_CERT serves discovery with HSTS, advertising mtls_endpoint_aliases for the five endpoints', async () => {
    const response = await tlsFetch(publicTls())(`${server.httpsIssuer}/.well-known/openid-configuration`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('strict-transport-security'), 'max-age=63072000; includeSubDomains');
    const metadata = (await response.json()) as Record<string, unknown>;
    assert.equal(metadata.issuer, server.httpsIssuer);
    assert.equal(metadata.tls_client_certificate_bound_access_tokens, true);
    assert.deepEqual(metadata.mtls_endpoint_aliases, {
      token_endpoint: `${server.mtlsBase}/token`,
      pushed_authorization_request_endpoint: `${server.mtlsBase}/request`,
      introspection_endpoint: `${server.mtlsBase}/token/introspection`,
      revocation_endpoint: `${server.mtlsBase}/token/revocation`,
      userinfo_endpoint: `${server.mtlsBase}/me`,
    });
    // The mTLS host serves those endpoints only: pages and metadata stay on the issuer.
    const elsewhere = await tlsFetch(withCert(qwac))(`${server.mtlsBase}/.well-known/openid-configuration`);
    assert.equal(elsewhere.status, 404);
    assert.equal(((await elsewhere.json()) as { error: string }).error, 'not_found');
  });

  test('TLS: a TLS 1.1 handshake and a TLS 1.2 CBC suite are refused; 1.2 negotiates ECDHE with GCM; 1.3 is preferred', async () => {
    const handshake = (options: Record<string, unknown>, port: number) =>
      new Promise<{ protocol: string | null; cipher: string }>((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port, ca: server.files.ca.pem, ...options }, () => {
          const result = { protocol: socket.getProtocol(), cipher: socket.getCipher().name };
          socket.end();
          resolve(result);
        });
        socket.once('error', reject);
      });
    for (const port of [server.server.port, server.server.mtlsPort as number]) {
      await assert.rejects(
        handshake({ minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }, port),
        (err: Error & { code?: string }) => /protocol|version/i.test(`${err.code} ${err.message}`),
      );
      await assert.rejects(
        handshake({ maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA' }, port),
      );
      const tls12 = await handshake({ maxVersion: 'TLSv1.2' }, port);
      assert.equal(tls12.protocol, 'TLSv1.2');
      assert.match(tls12.cipher, /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
      assert.equal((await handshake({}, port)).protocol, 'TLSv1.3');
    }
  });

  test('tls_client_auth over the mTLS alias: the token carries cnf.x5t#S256 of the QWAC, and introspection shows it', async () => {
    const { status, body } = await clientCredentials(tpp.clientId, tpp.tls);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.token_type, 'Bearer');
    const introspection = await introspect(body.access_token as string);
    assert.equal(introspection.active, true);
    assert.deepEqual(introspection.cnf, { 'x5t#S256': x5t(qwac.pem) });
    // The public listener asks for no certificate: no certificate, no client authentication.
    const plain = await oauth.clientCredentialsGrantRequest(
      as,
      { client_id: tpp.clientId },
      oauth.TlsClientAuth(),
      new URLSearchParams({ scope: 'accounts', resource: rs.resource }),
      viaTls(withCert(qwac)),
    );
    assert.equal(plain.status, 401);
    assert.equal(((await plain.json()) as { error: string }).error, 'invalid_client');
  });

  test('the code flow over mTLS: the token is bound to the QWAC; at the resource server, presented with another certificate, it is refused', async () => {
    const verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const params = new URLSearchParams({
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid accounts',
      resource: rs.resource,
      state,
      code_challenge: await oauth.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      authorization_details: JSON.stringify([ACCOUNTS]),
    });
    const par = await oauth.pushedAuthorizationRequest(as, tpp.client, oauth.TlsClientAuth(), params, viaTls(tpp.tls));
    const pushed = await oauth.processPushedAuthorizationResponse(as, tpp.client, par);

    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    try {
      const page = await context.newPage();
      const { received } = await interceptCallback(page);
      const url = new URL(as.authorization_endpoint as string);
      url.searchParams.set('client_id', tpp.clientId);
      url.searchParams.set('request_uri', pushed.request_uri);
      await page.goto(url.href);
      await completeLogin(page, customer.username, customer.password, customer.totp);
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.getByLabel('Everyday account').check();
      await page.getByRole('button', { name: 'Approve' }).click();
      const callback = await received;

      const code = oauth.validateAuthResponse(as, tpp.client, callback, state);
      const exchange = await oauth.authorizationCodeGrantRequest(
        as,
        tpp.client,
        oauth.TlsClientAuth(),
        code,
        REDIRECT_URI,
        verifier,
        viaTls(tpp.tls),
      );
      const tokens = await oauth.processAuthorizationCodeResponse(as, tpp.client, exchange);

      assert.deepEqual((await introspect(tokens.access_token)).cnf, { 'x5t#S256': x5t(qwac.pem) });

      // The bank's API, as a resource server does it (RFC 8705 section 3): over its own mTLS
      // connection it introspects the presented token and compares cnf.x5t#S256 with the
      // certificate of that connection.
      const api = await bankApi(server, async (token) => introspect(token));
      try {
        const call = (tls: ClientTls) =>
          tlsFetch(tls)(`${api.url}/accounts`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
        const own = await call(tpp.tls);
        assert.equal(own.status, 200);
        // Another valid QWAC (another TPP), a self-signed certificate, no certificate: not the holder.
        const other = await issue(server.files.ca, {
          subject: tppSubject('Other Fintech', 'PSDGB-FCA-100002'),
          roles: ['PSP_AI'],
        });
        for (const stranger of [withCert(other), withCert(await selfSigned()), publicTls()]) {
          const refused = await call(stranger);
          assert.equal(refused.status, 401);
          assert.match(refused.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
        }
      } finally {
        await api.close();
      }
    } finally {
      await context.close();
    }
  });

  test('self_signed_tls_client_auth: the certificate registered in the JWKS (x5c) authenticates; another does not', async () => {
    const own = await selfSigned('CN=Self-signed Fintech');
    const clientId = await register({
      token_endpoint_auth_method: 'self_signed_tls_client_auth',
      jwks: { keys: [{ ...own.jwk, alg: 'ES256', use: 'sig', kid: 'tls' }] },
    });
    const { status, body } = await clientCredentials(clientId, withCert(own));
    assert.equal(status, 200, JSON.stringify(body));
    assert.deepEqual((await introspect(body.access_token as string)).cnf, { 'x5t#S256': x5t(own.pem) });

    const stranger = await clientCredentials(clientId, withCert(await selfSigned('CN=Self-signed Fintech')));
    assert.equal(stranger.status, 401);
    assert.equal(stranger.body.error, 'invalid_client');
  });

  test('tls_client_auth refuses an expired, a not-yet-valid, a wrong-CA certificate and none at all (invalid_client)', async () => {
    const subject = tppSubject('Acme Payments Ltd', 'PSDGB-FCA-100001');
    const roles = ['PSP_AI', 'PSP_PI'] as const;
    const cases: [string, ClientTls][] = [
      [
        'expired',
        withCert(
          await issue(server.files.ca, {
            subject,
            roles: [...roles],
            notBefore: new Date(Date.now() - 30 * DAY),
            notAfter: new Date(Date.now() - DAY),
          }),
        ),
      ],
      [
        'not yet valid',
        withCert(
          await issue(server.files.ca, {
            subject,
            roles: [...roles],
            notBefore: new Date(Date.now() + DAY),
            notAfter: new Date(Date.now() + 30 * DAY),
          }),
        ),
      ],
      ['issued by another CA', withCert(await issue(await createCa('CN=Rogue CA, C=EU'), { subject, roles: [...roles] }))],
      ['no certificate', publicTls()],
    ];
    for (const [name, tls] of cases) {
      const { status, body } = await clientCredentials(tpp.clientId, tls);
      assert.equal(status, 401, name);
      assert.equal(body.error, 'invalid_client', name);
      assert.equal(body.access_token, undefined, name);
    }
  });
});
