// What survives a restart and what protects it at rest: clients, signing keys and tokens live in
// the database (PostgreSQL or PGlite), private keys are sealed with ENCRYPTION_KEY (AES-256-GCM)
// so a different key cannot start the server, and a key rotation keeps old tokens verifiable.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import type * as oauth from 'oauth4webapi';
import { dpopKey } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

describe('persistence across restarts', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let jwtRs: ResourceServer;
  let tpp: Tpp;

  const jwks = async () => (await (await fetch(`${server.issuer}/jwks`)).json()) as JSONWebKeySet;
  const kids = async () => (await jwks()).keys.map((k) => k.kid as string).sort();
  const token = async (resource: string) =>
    (await clientCredentials(as, tpp, { scope: 'accounts', resource }, (await dpopKey()).pair)).access_token;

  before(async () => {
    server = await startTestServer();
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    jwtRs = await registerResourceServer(server, { access_token_format: 'jwt' });
    tpp = await registerTpp(server);
  });
  after(() => server.close());

  describe('a restart keeps clients, keys and tokens', () => {
    let kidsBefore: string[];
    let opaque: string;

    before(async () => {
      kidsBefore = await kids();
      opaque = await token(rs.resource);
      assert.equal((await introspect(as, rs, opaque)).active, true);
      await server.restart();
    });

    test('the JWKS publishes the same keys', async () => {
      assert.deepEqual(await kids(), kidsBefore);
    });

    test('a token issued before the restart still introspects active', async () => {
      const result = await introspect(as, rs, opaque);
      assert.equal(result.active, true);
      assert.equal(result.client_id, tpp.clientId);
    });

    test('the client and the resource server still work', async () => {
      const fresh = await token(rs.resource);
      assert.equal((await introspect(as, rs, fresh)).active, true);
    });
  });

  describe('private keys at rest', () => {
    test('signing_keys hold sealed values, not JWKs', async () => {
      const rows = await server.server.services.db.knex('signing_keys').select('kid', 'private_jwk_encrypted');
      assert.ok(rows.length >= 3);
      for (const { kid, private_jwk_encrypted: sealed } of rows as { kid: string; private_jwk_encrypted: string }[]) {
        assert.throws(() => JSON.parse(sealed), SyntaxError, `${kid} is stored as JSON`);
        assert.ok(!sealed.includes('"d"'), `${kid} exposes its private part`);
        assert.match(sealed, /^v1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      }
    });

    test('shared server secrets are sealed too', async () => {
      const rows = await server.server.services.db.knex('server_secrets').select('name', 'value_encrypted');
      assert.ok(rows.length >= 1);
      for (const { value_encrypted: sealed } of rows as { value_encrypted: string }[]) assert.match(sealed, /^v1\./);
    });

    test('a different ENCRYPTION_KEY refuses to start, naming the key; the right one starts again', async () => {
      const kidsBefore = await kids();
      await assert.rejects(server.restart({ ENCRYPTION_KEY: randomBytes(32).toString('base64') }), /ENCRYPTION_KEY/);
      await server.restart();
      assert.deepEqual(await kids(), kidsBefore);
      assert.ok(await token(rs.resource));
    });
  });

  describe('key rotation', () => {
    let oldJwt: string;
    let oldKids: string[];
    let rotatedKids: string[];

    before(async () => {
      oldJwt = await token(jwtRs.resource);
      oldKids = await kids();
      const response = await server.admin('POST', '/admin/keys/rotate', { publish_delay: 0 });
      assert.equal(response.status, 200);
      rotatedKids = await kids();
    });

    test('the JWKS publishes the old and the new keys', () => {
      for (const kid of oldKids) assert.ok(rotatedKids.includes(kid), `old key ${kid} was dropped`);
      assert.equal(rotatedKids.length, oldKids.length * 2);
    });

    test('new JWT access tokens are signed with the new ES256 key', async () => {
      const fresh = await token(jwtRs.resource);
      const { kid, alg } = decodeProtectedHeader(fresh);
      assert.equal(alg, 'ES256');
      assert.ok(kid && !oldKids.includes(kid), `still signing with ${kid}`);
      await jwtVerify(fresh, createLocalJWKSet(await jwks()), { issuer: server.issuer, audience: jwtRs.resource });
    });

    test('tokens signed by the old key still verify against the JWKS', async () => {
      const { kid } = decodeProtectedHeader(oldJwt);
      assert.ok(kid && oldKids.includes(kid));
      const { payload } = await jwtVerify(oldJwt, createLocalJWKSet(await jwks()), {
        issuer: server.issuer,
        audience: jwtRs.resource,
        algorithms: ['ES256'],
      });
      assert.equal(payload.client_id, tpp.clientId);
    });

    test('the rotation survives a restart', async () => {
      await server.restart();
      assert.deepEqual(await kids(), rotatedKids);
    });
  });
});
