// FAPI 2.0 SP 5.4: the keys a client may hold. RSA >= 2048 bits (PS256), EC P-256 (ES256) and OKP
// Ed25519 (EdDSA) are registered; a short RSA modulus, another curve, a symmetric key or private
// key material is refused with invalid_client_metadata naming the key: through the admin API, RFC
// 7591 registration at /reg, resource-server registration, and in a JWKS fetched from a jwks_uri
// (served here over real HTTPS by a test CA the server's fetch trusts).
import assert from 'node:assert/strict';
import { generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { tlsFiles } from './support/certificates.ts';
import { clientAssertion, tokenRequest } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { keyPair, REDIRECT_URI, type ResourceServer, registerResourceServer, type Tpp } from './support/tpp.ts';

type Jwk = Record<string, unknown>;

const exported = (key: { export(o: { format: 'jwk' }): JsonWebKey }) => key.export({ format: 'jwk' }) as Jwk;
const rsa = (bits: number, extra: Jwk = {}): Jwk => ({
  ...exported(generateKeyPairSync('rsa', { modulusLength: bits }).publicKey),
  kid: `rsa-${bits}`,
  ...extra,
});
const ec = (curve: string, extra: Jwk = {}): Jwk => ({
  ...exported(generateKeyPairSync('ec', { namedCurve: curve }).publicKey),
  kid: `ec-${curve}`,
  ...extra,
});
const okp = (type: 'ed25519' | 'ed448' | 'x25519', extra: Jwk = {}): Jwk => ({
  ...exported(generateKeyPairSync(type as 'ed25519').publicKey),
  kid: `okp-${type}`,
  ...extra,
});

const refusedKeys: { name: string; jwk: () => Jwk; mentions: RegExp }[] = [
  {
    name: 'a 1024-bit RSA key for PS256',
    jwk: () => rsa(1024, { alg: 'PS256', kid: 'weak-rsa' }),
    mentions: /weak-rsa.*1024 bits.*2048/,
  },
  { name: 'a 2040-bit RSA key', jwk: () => rsa(2040), mentions: /rsa-2040.*2040 bits/ },
  { name: 'an RSA key for RS256', jwk: () => rsa(2048, { alg: 'RS256' }), mentions: /rsa-2048.*RS256.*PS256/ },
  {
    name: 'a 1024-bit RSA encryption key',
    jwk: () => rsa(1024, { use: 'enc', alg: 'RSA-OAEP' }),
    mentions: /rsa-1024.*1024 bits/,
  },
  { name: 'an EC P-384 key', jwk: () => ec('P-384'), mentions: /ec-P-384.*P-384.*P-256/ },
  { name: 'an EC secp256k1 key', jwk: () => ec('secp256k1'), mentions: /ec-secp256k1.*secp256k1/ },
  { name: 'an EC P-256 key labelled PS256', jwk: () => ec('P-256', { alg: 'PS256' }), mentions: /ec-P-256.*ES256/ },
  { name: 'an Ed448 key', jwk: () => okp('ed448'), mentions: /okp-ed448.*Ed448.*Ed25519/ },
  { name: 'an X25519 key', jwk: () => okp('x25519'), mentions: /okp-x25519.*X25519/ },
  {
    name: 'a symmetric key',
    jwk: () => ({ kty: 'oct', kid: 'shared', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' }),
    mentions: /shared.*symmetric/,
  },
  {
    name: 'a private RSA key',
    jwk: () => ({ ...exported(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), kid: 'leaked' }),
    mentions: /leaked.*private member "d"/,
  },
  {
    name: 'an unknown key type',
    jwk: () => ({ kty: 'AKP', kid: 'pq', alg: 'ML-DSA-44', pub: 'AAAA' }),
    mentions: /pq.*kty "AKP"/,
  },
];

const allowedKeys: { name: string; jwk: () => Jwk }[] = [
  { name: 'RSA 2048 for PS256', jwk: () => rsa(2048, { alg: 'PS256', use: 'sig' }) },
  { name: 'RSA 3072 without alg', jwk: () => rsa(3072) },
  { name: 'EC P-256 for ES256', jwk: () => ec('P-256', { alg: 'ES256' }) },
  { name: 'OKP Ed25519 for EdDSA', jwk: () => okp('ed25519', { alg: 'EdDSA' }) },
  // Directory-hosted JWKS publish encryption keys beside the signing keys: never used to verify.
  { name: 'an RSA 2048 encryption key (use enc, RSA-OAEP-256)', jwk: () => rsa(2048, { alg: 'RSA-OAEP-256', use: 'enc' }) },
  { name: 'an X25519 encryption key (use enc)', jwk: () => okp('x25519', { use: 'enc', alg: 'ECDH-ES' }) },
];

async function errorOf(response: Response, status: number) {
  const body = (await response.json()) as { error: string; error_description: string };
  assert.equal(response.status, status, JSON.stringify(body));
  return body;
}

describe('client keys (FAPI 2.0 SP 5.4)', () => {
  let server: TestServer;
  let jwksServer: Server;
  let jwksBase: string;
  const served = new Map<string, unknown>();
  const logLines: string[] = [];
  let rs: ResourceServer;
  const client = (jwks: unknown) => ({
    client_name: 'Key Fintech',
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: 'private_key_jwt',
    jwks,
  });

  before(async () => {
    // A JWKS host on localhost, with a certificate from a test CA that this process (and so the
    // server's outbound fetch) trusts from now on.
    const tls = await tlsFiles();
    setDefaultCACertificates([...getCACertificates('default'), tls.ca.pem]);
    jwksServer = createServer({ cert: tls.server.pem, key: tls.server.keyPem }, (req, res) => {
      const body = served.get(req.url ?? '');
      res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body ?? {}));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksBase = `https://localhost:${(jwksServer.address() as { port: number }).port}`;
    server = await startTestServer({
      env: { OUTBOUND_FETCH_ALLOWED_HOSTS: 'localhost', OUTBOUND_FETCH_ALLOW_PRIVATE: 'true', LOG_LEVEL: 'warn' },
      logDestination: { write: (line: string) => void logLines.push(line) },
    });
    rs = await registerResourceServer(server);
  });
  after(async () => {
    jwksServer?.close();
    await server?.close();
  });

  describe('admin API: POST /admin/clients', () => {
    for (const { name, jwk, mentions } of refusedKeys) {
      test(`refused: ${name} -> 400 invalid_client_metadata naming the key`, async () => {
        const good = (await keyPair('ES256')).publicJwk;
        const body = await errorOf(await server.admin('POST', '/admin/clients', client({ keys: [good, jwk()] })), 400);
        assert.equal(body.error, 'invalid_client_metadata');
        assert.match(body.error_description, /jwks\.keys\.1/);
        assert.match(body.error_description, mentions);
      });
    }
    for (const { name, jwk } of allowedKeys) {
      test(`allowed: ${name}`, async () => {
        const response = await server.admin('POST', '/admin/clients', client({ keys: [jwk()] }));
        assert.equal(response.status, 201, await response.text());
      });
    }
  });

  test('RFC 7591 /reg refuses a weak key as the admin API does', async () => {
    const minted = await server.admin('POST', '/admin/initial-access-tokens', {
      authorization_details_types: ['account_information', 'payment_initiation'],
    });
    const { initial_access_token: token } = (await minted.json()) as { initial_access_token: string };
    for (const [jwk, mentions] of [
      [rsa(1024, { alg: 'PS256', kid: 'weak-rsa' }), /weak-rsa.*1024 bits/],
      [{ kty: 'oct', kid: 'shared', k: 'c2VjcmV0' }, /shared.*symmetric/],
    ] as const) {
      const response = await fetch(`${server.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(client({ keys: [jwk] })),
      });
      const body = await errorOf(response, 400);
      assert.equal(body.error, 'invalid_client_metadata');
      assert.match(body.error_description, mentions);
    }
  });

  test('a resource server registering private_key_jwt with a weak key is refused', async () => {
    const response = await server.admin('POST', '/admin/resource-servers', {
      resource: 'https://weak.bank.example/api',
      name: 'Weak API',
      scopes: ['accounts'],
      auth_method: 'private_key_jwt',
      jwks: { keys: [rsa(1024, { kid: 'weak-rs' })] },
    });
    const body = await errorOf(response, 400);
    assert.match(body.error_description, /weak-rs.*1024 bits/);
  });

  test('a client stored before the rule with a weak key is refused when it is loaded, never authenticated', async () => {
    const key = await keyPair('ES256');
    const clientId = `stored-${Date.now()}`;
    await server.server.services.clients.create({
      client_id: clientId,
      client_name: 'Legacy Fintech',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['client_credentials'],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      dpop_bound_access_tokens: true,
      jwks: { keys: [key.publicJwk, rsa(1024, { alg: 'PS256', kid: 'legacy-weak' })] },
    });
    const assertion = await clientAssertion(server.issuer, { clientId, key } as Tpp);
    const token = await tokenRequest(server.issuer, assertion, { params: { scope: 'accounts', resource: rs.resource } });
    assert.ok(!('access_token' in token.body), JSON.stringify(token.body));
    assert.equal(token.status, 400, JSON.stringify(token.body));
    assert.equal(token.body.error, 'invalid_client_metadata');
    assert.match(String(token.body.error_description), /legacy-weak.*1024 bits/);
  });

  describe('jwks_uri', () => {
    /** Registers a client whose keys are served at `path`, and asks for a token signed by `key`. */
    const tokenWith = async (path: string, keys: Jwk[], key: Tpp['key']) => {
      served.set(path, { keys });
      const registered = await server.admin('POST', '/admin/clients', {
        client_name: 'Remote Keys Fintech',
        redirect_uris: [REDIRECT_URI],
        grant_types: ['client_credentials'],
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks_uri: `${jwksBase}${path}`,
      });
      const text = await registered.text();
      assert.equal(registered.status, 201, text);
      const { client_id: clientId } = JSON.parse(text) as { client_id: string };
      const assertion = await clientAssertion(server.issuer, { clientId, key } as Tpp);
      return tokenRequest(server.issuer, assertion, { params: { scope: 'accounts', resource: rs.resource } });
    };

    test('control: a JWKS of strong keys authenticates the client', async () => {
      const key = await keyPair('ES256');
      const token = await tokenWith('/strong.json', [key.publicJwk, rsa(2048, { alg: 'PS256' })], key);
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.equal(token.body.token_type, 'DPoP');
    });

    test('a fetched JWKS holding a 1024-bit RSA key is refused as a whole: invalid_client, and the log names the key', async () => {
      const key = await keyPair('ES256');
      const token = await tokenWith('/mixed.json', [key.publicJwk, rsa(1024, { alg: 'PS256', kid: 'weak-remote' })], key);
      assert.equal(token.status, 401, JSON.stringify(token.body));
      assert.equal(token.body.error, 'invalid_client');
      assert.ok(!('access_token' in token.body));
      const line = logLines.find((l) => l.includes('client JWKS refused'));
      assert.ok(line, 'the operator learns why');
      assert.match(line, /weak-remote.*1024 bits/);
      assert.match(line, /mixed\.json/);
    });

    test('a fetched JWKS holding a symmetric or private key is refused', async () => {
      for (const [path, extra] of [
        ['/oct.json', { kty: 'oct', kid: 'remote-oct', k: 'c2VjcmV0' }],
        ['/private.json', { ...exported(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), kid: 'remote-d' }],
      ] as const) {
        const key = await keyPair('ES256');
        const token = await tokenWith(path, [key.publicJwk, extra], key);
        assert.equal(token.status, 401, `${path}: ${JSON.stringify(token.body)}`);
        assert.equal(token.body.error, 'invalid_client', path);
      }
    });
  });
});
