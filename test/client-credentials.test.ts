// The flow every deployment must show: an operator registers a TPP and a resource server, the TPP
// gets a DPoP-bound token with private_key_jwt (oauth4webapi), the resource server introspects it
// (plain and RFC 9701 signed), or verifies it as a JWT against the JWKS; revocation and client
// suspension switch it off.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { startAuthorization } from './support/browser.ts';
import { type DPoPKey, dpopKey } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

describe('client credentials with private_key_jwt and DPoP', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
    jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
  });
  after(() => server.close());

  describe('opaque token for an introspecting resource server', () => {
    let dpop: DPoPKey;
    let token: oauth.TokenEndpointResponse;

    before(async () => {
      dpop = await dpopKey();
      token = await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, dpop.pair);
    });

    test('the token is DPoP-bound, short-lived and carries the granted scope', () => {
      assert.equal(token.token_type, 'dpop');
      assert.equal(token.scope, 'accounts');
      assert.ok(token.expires_in !== undefined && token.expires_in > 0 && token.expires_in <= 300);
      // FAPI 2.0 SP 5.4.1: at least 128 bits of entropy (43 base64url characters = 256 bits here).
      assert.ok(token.access_token.length >= 22);
    });

    test('introspection shows it active, bound to the DPoP key, for this client and resource', async () => {
      const result = await introspect(as, rs, token.access_token);
      assert.equal(result.active, true);
      assert.deepEqual(result.cnf, { jkt: dpop.jkt });
      assert.equal(result.scope, 'accounts');
      assert.equal(result.client_id, tpp.clientId);
      assert.equal(result.aud, rs.resource);
      assert.equal(result.iss, server.issuer);
      assert.equal(result.token_type, 'DPoP');
    });

    test('the resource server authenticates with its secret at every spelling the router serves (/Token/Introspection/)', async () => {
      const basic = Buffer.from(`${encodeURIComponent(rs.clientId)}:${encodeURIComponent(rs.clientSecret)}`).toString('base64');
      const response = await fetch(`${server.issuer}/Token/Introspection/`, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: token.access_token }),
      });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { active: boolean }).active, true);
    });

    test('RFC 9701: a signed introspection response verifies against the JWKS', async () => {
      const response = await fetch(as.introspection_endpoint as string, {
        method: 'POST',
        headers: {
          accept: 'application/token-introspection+jwt',
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${rs.clientId}:${rs.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ token: token.access_token }),
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^application\/token-introspection\+jwt/);
      const jwt = await response.text();
      const { payload, protectedHeader } = await jwtVerify(jwt, jwks, {
        issuer: server.issuer,
        audience: rs.clientId,
        typ: 'token-introspection+jwt',
        algorithms: ['ES256', 'PS256', 'EdDSA'],
      });
      assert.equal(protectedHeader.alg, 'ES256');
      const introspection = payload.token_introspection as Record<string, unknown>;
      assert.equal(introspection.active, true);
      assert.deepEqual(introspection.cnf, { jkt: dpop.jkt });
      assert.equal(introspection.client_id, tpp.clientId);
    });

    test('another TPP cannot revoke it (RFC 7009 section 2.1): refused with 400 invalid_request, the token stays active', async () => {
      const other = await registerTpp(server);
      const response = await oauth.revocationRequest(as, other.client, other.auth, token.access_token, insecure);
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: string; error_description: string };
      assert.equal(body.error, 'invalid_request');
      assert.match(body.error_description, /not authorized to revoke/);
      assert.equal((await introspect(as, rs, token.access_token)).active, true);
    });

    test('after the TPP revokes it, introspection says inactive', async () => {
      const response = await oauth.revocationRequest(as, tpp.client, tpp.auth, token.access_token, insecure);
      await oauth.processRevocationResponse(response);
      const result = await introspect(as, rs, token.access_token);
      assert.deepEqual(result, { active: false });
    });
  });

  describe('JWT access token for a JWT resource server', () => {
    let jwtRs: ResourceServer;
    let dpop: DPoPKey;
    let token: oauth.TokenEndpointResponse;

    before(async () => {
      jwtRs = await registerResourceServer(server, { access_token_format: 'jwt' });
      dpop = await dpopKey();
      token = await clientCredentials(as, tpp, { scope: 'accounts', resource: jwtRs.resource }, dpop.pair);
    });

    test("a customer's authorization cannot target it: PAR gets invalid_target (a JWT could not follow the consent)", async () => {
      // Revocation, a consumed payment, dynamic linking and RTS Art. 36(5) are enforced at
      // introspection: a token acting for a customer is opaque.
      await assert.rejects(
        startAuthorization(server, tpp, {
          scope: 'openid accounts',
          resource: jwtRs.resource,
          authorization_details: [{ type: 'account_information', permissions: ['balances'] }],
        }),
        (err: oauth.ResponseBodyError) => {
          assert.equal(err.error, 'invalid_target');
          assert.match(err.error_description ?? '', /client_credentials/);
          return true;
        },
      );
    });

    test('verifies against the JWKS with ES256 and is typed at+jwt (RFC 9068)', async () => {
      assert.equal(decodeProtectedHeader(token.access_token).alg, 'ES256');
      const { protectedHeader } = await jwtVerify(token.access_token, jwks, { algorithms: ['ES256'], typ: 'at+jwt' });
      assert.equal(typeof protectedHeader.kid, 'string');
    });

    test('carries cnf.jkt, the resource as aud, this issuer, and lives at most 300 s', async () => {
      const { payload } = await jwtVerify(token.access_token, jwks, {
        algorithms: ['ES256'],
        issuer: server.issuer,
        audience: jwtRs.resource,
      });
      assert.deepEqual(payload.cnf, { jkt: dpop.jkt });
      assert.equal(payload.aud, jwtRs.resource);
      assert.equal(payload.iss, server.issuer);
      assert.equal(payload.client_id, tpp.clientId);
      assert.ok(payload.exp !== undefined && payload.iat !== undefined);
      assert.ok(payload.exp - payload.iat <= 300, `lifetime ${payload.exp - payload.iat} s`);
    });

    test('a tampered JWT does not verify', async () => {
      const [header, body, signature] = token.access_token.split('.');
      const claims = JSON.parse(Buffer.from(body!, 'base64url').toString()) as Record<string, unknown>;
      const forged = Buffer.from(JSON.stringify({ ...claims, scope: 'accounts payments' })).toString('base64url');
      await assert.rejects(jwtVerify(`${header}.${forged}.${signature}`, jwks), {
        code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
      });
    });
  });

  describe('suspending the client', () => {
    let suspended: Tpp;
    let token: oauth.TokenEndpointResponse;

    before(async () => {
      suspended = await registerTpp(server);
      token = await clientCredentials(as, suspended, { scope: 'accounts', resource: rs.resource }, (await dpopKey()).pair);
      assert.equal((await introspect(as, rs, token.access_token)).active, true);
      const response = await server.admin('POST', `/admin/clients/${suspended.clientId}/suspend`);
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { status: string }).status, 'suspended');
    });

    test('its tokens introspect as inactive', async () => {
      assert.deepEqual(await introspect(as, rs, token.access_token), { active: false });
    });

    test('its next token request fails with invalid_client', async () => {
      await assert.rejects(
        clientCredentials(as, suspended, { scope: 'accounts', resource: rs.resource }, (await dpopKey()).pair),
        (err: unknown) => {
          assert.ok(err instanceof oauth.ResponseBodyError);
          assert.equal(err.status, 401);
          assert.equal(err.error, 'invalid_client');
          return true;
        },
      );
    });

    test('other clients are unaffected', async () => {
      const other = await clientCredentials(as, tpp, { scope: 'accounts', resource: rs.resource }, (await dpopKey()).pair);
      assert.equal((await introspect(as, rs, other.access_token)).active, true);
    });

    test('activating it again lets it obtain tokens', async () => {
      const response = await server.admin('POST', `/admin/clients/${suspended.clientId}/activate`);
      assert.equal(response.status, 200);
      const fresh = await clientCredentials(as, suspended, { scope: 'accounts', resource: rs.resource }, (await dpopKey()).pair);
      assert.equal((await introspect(as, rs, fresh.access_token)).active, true);
    });
  });
});
