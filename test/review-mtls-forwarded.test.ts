// Review: on the mTLS listener Portcullis terminates TLS itself, so the TLS handshake names the
// client certificate. A forwarded-certificate header (CLIENT_CERT_HEADER) must not override it,
// even from an address in TRUSTED_PROXIES: otherwise anyone reaching MTLS_PORT from such an
// address (a proxy for the public host on the same network, an L4 balancer that rewrites the
// source) authenticates as any tls_client_auth TPP with nothing but its public certificate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Issued, issue, selfSigned, tppSubject } from './support/certificates.ts';
import { type ClientTls, startTlsServer, type TlsTestServer, tlsFetch } from './support/tls.ts';
import { REDIRECT_URI, type ResourceServer, registerResourceServer } from './support/tpp.ts';

describe('mTLS listener and forwarded certificates (RFC 8705, PSD2 RTS Art. 34)', () => {
  let server: TlsTestServer;
  let rs: ResourceServer;
  let qwac: Issued;
  let clientId: string;

  const token = async (tls: ClientTls, headers: Record<string, string> = {}) => {
    const response = await tlsFetch(tls)(`${server.mtlsBase}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        scope: 'accounts',
        resource: rs.resource,
      }).toString(),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  before(async () => {
    // The listener's peer (127.0.0.1) is a trusted proxy address, as with a proxy on the same host.
    server = await startTlsServer({ TRUSTED_PROXIES: 'loopback', CLIENT_CERT_HEADER: 'X-SSL-Client-Cert' });
    rs = await registerResourceServer(server);
    qwac = await issue(server.files.ca, {
      subject: tppSubject('Acme Payments Ltd', 'PSDGB-FCA-100001'),
      roles: ['PSP_AI', 'PSP_PI'],
    });
    const response = await server.admin('POST', '/admin/clients', {
      client_name: 'Acme Payments',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      tls_client_certificate_bound_access_tokens: true,
      token_endpoint_auth_method: 'tls_client_auth',
      qwac_certificate: qwac.pem,
    });
    assert.equal(response.status, 201, await response.clone().text());
    clientId = ((await response.json()) as { client_id: string }).client_id;
  });
  after(async () => {
    await server?.close();
  });

  test('a forwarded certificate header on the mTLS listener does not replace the handshake certificate', async () => {
    const forged = { 'x-ssl-client-cert': encodeURIComponent(qwac.pem) };
    const attacker = await selfSigned('CN=Someone Else');
    for (const [name, tls] of [
      ['no certificate in the handshake', { ca: server.files.ca.pem }],
      ['another certificate in the handshake', { ca: server.files.ca.pem, cert: attacker.pem, key: attacker.keyPem }],
    ] as [string, ClientTls][]) {
      const { status, body } = await token(tls, forged);
      assert.equal(status, 401, `${name}: ${JSON.stringify(body)}`);
      assert.equal(body.error, 'invalid_client', name);
      assert.equal(body.access_token, undefined, name);
    }
    // The TPP holding the QWAC's key still authenticates with it in the handshake.
    const genuine = await token({ ca: server.files.ca.pem, cert: qwac.pem, key: qwac.keyPem });
    assert.equal(genuine.status, 200, JSON.stringify(genuine.body));
  });
});
