// Refresh tokens: rotated on every use, with a retry window (REFRESH_REUSE_WINDOW) in which the
// previous token still works; a use after the window revokes the whole grant; concurrent
// refreshes with one token never destroy a healthy grant. Driven over HTTP with oauth4webapi and
// DPoP; the starting refresh token is minted through the provider's own models (the browser
// journey that produces one is covered by the end-to-end tests).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import { type DPoPKey, dpopKey } from './support/fapi.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  discover,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const WINDOW = 3;

describe('refresh token rotation with a retry window', () => {
  let server: TestServer;
  let as: oauth.AuthorizationServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let customerId: string;

  before(async () => {
    server = await startTestServer({ env: { REFRESH_REUSE_WINDOW: String(WINDOW) } });
    as = await discover(server.issuer);
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
    customerId = (await server.server.services.customers.create('refresh-customer', 'correct horse battery')).id;
  });
  after(() => server.close());

  /** A grant with a DPoP-bound refresh token, as the code exchange leaves them. */
  async function mintRefreshToken(): Promise<{ refreshToken: string; grantId: string }> {
    const provider = server.server.holder.current;
    const grant = new provider.Grant({ accountId: customerId, clientId: tpp.clientId });
    grant.addOIDCScope('openid');
    grant.addResourceScope(rs.resource, 'accounts');
    const grantId = await grant.save();
    const client = await provider.Client.find(tpp.clientId);
    const token = new provider.RefreshToken({
      client,
      accountId: customerId,
      grantId,
      gty: 'authorization_code',
      scope: 'openid accounts',
      resource: rs.resource,
      authTime: Math.floor(Date.now() / 1000),
    } as never);
    return { refreshToken: await token.save(), grantId };
  }

  async function refresh(refreshToken: string, dpop: DPoPKey): Promise<oauth.TokenEndpointResponse> {
    const DPoP = oauth.DPoP(tpp.client, dpop.pair);
    const send = () =>
      oauth.refreshTokenGrantRequest(as, tpp.client, tpp.auth, refreshToken, {
        ...insecure,
        DPoP,
        additionalParameters: { resource: rs.resource },
      });
    try {
      return await oauth.processRefreshTokenResponse(as, tpp.client, await send());
    } catch (err) {
      if (!oauth.isDPoPNonceError(err)) throw err;
      return oauth.processRefreshTokenResponse(as, tpp.client, await send());
    }
  }

  const refreshError = async (refreshToken: string, dpop: DPoPKey) => {
    try {
      await refresh(refreshToken, dpop);
    } catch (err) {
      return err as oauth.ResponseBodyError;
    }
    assert.fail('the refresh succeeded');
  };

  test('each refresh rotates: a new DPoP-bound access token and a new refresh token', async () => {
    const dpop = await dpopKey();
    const { refreshToken } = await mintRefreshToken();
    const first = await refresh(refreshToken, dpop);
    assert.equal(first.token_type.toLowerCase(), 'dpop');
    assert.ok(first.refresh_token);
    assert.notEqual(first.refresh_token, refreshToken);
    const info = await introspect(as, rs, first.access_token);
    assert.equal(info.active, true);
    assert.equal((info.cnf as { jkt?: string }).jkt, dpop.jkt);
  });

  test('inside the window the previous refresh token still works and returns a valid pair', async () => {
    const dpop = await dpopKey();
    const { refreshToken } = await mintRefreshToken();
    const first = await refresh(refreshToken, dpop);
    const retry = await refresh(refreshToken, dpop);
    assert.ok(retry.refresh_token);
    assert.equal((await introspect(as, rs, retry.access_token)).active, true);
    assert.equal((await introspect(as, rs, first.access_token)).active, true, 'the first pair stays valid too');
    const next = await refresh(retry.refresh_token as string, dpop);
    assert.equal((await introspect(as, rs, next.access_token)).active, true);
  });

  test('after the window a reuse revokes the whole family (old and new tokens inactive)', async () => {
    const dpop = await dpopKey();
    const { refreshToken, grantId } = await mintRefreshToken();
    const rotated = await refresh(refreshToken, dpop);
    await new Promise((resolve) => setTimeout(resolve, (WINDOW + 1) * 1000));

    const reuse = await refreshError(refreshToken, dpop);
    assert.equal(reuse.error, 'invalid_grant');

    assert.equal((await introspect(as, rs, rotated.access_token)).active, false, 'the access token of the family is revoked');
    const afterReuse = await refreshError(rotated.refresh_token as string, dpop);
    assert.equal(afterReuse.error, 'invalid_grant', 'the newest refresh token of the family is revoked too');
    assert.equal(await server.server.holder.current.Grant.find(grantId), undefined, 'the grant is gone');
  });

  test('10 concurrent refreshes with one token all succeed and leave the grant alive', async () => {
    const dpop = await dpopKey();
    const { refreshToken, grantId } = await mintRefreshToken();
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => refresh(refreshToken, dpop)));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => String(r.reason));
    assert.deepEqual(failures, []);
    assert.ok(await server.server.holder.current.Grant.find(grantId), 'the grant survives');
    const last = (results.at(-1) as PromiseFulfilledResult<oauth.TokenEndpointResponse>).value;
    const onward = await refresh(last.refresh_token as string, dpop);
    assert.equal((await introspect(as, rs, onward.access_token)).active, true);
  });

  test("a confidential client's refresh token follows the client, not one DPoP key (RFC 9449 §5); the new access token is bound to the new key", async () => {
    // RFC 9449 §5 binds refresh tokens to a DPoP key for public clients only; a confidential
    // client's are bound to its authentication, and the FAPI 2.0 conformance suite refreshes with
    // a new key and expects success. What must hold: a DPoP proof is still required, and the
    // access token it gets is bound to the key that proved possession now.
    const { refreshToken } = await mintRefreshToken();
    const rotatedKey = await dpopKey();
    const tokens = await refresh(refreshToken, rotatedKey);
    assert.equal(tokens.token_type.toLowerCase(), 'dpop');
    const introspected = await introspect(as, rs, tokens.access_token);
    assert.equal(introspected.active, true);
    assert.deepEqual(introspected.cnf, { jkt: rotatedKey.jkt });
    const response = await oauth.refreshTokenGrantRequest(as, tpp.client, tpp.auth, tokens.refresh_token as string, {
      ...insecure,
      additionalParameters: { resource: rs.resource },
    });
    await assert.rejects(oauth.processRefreshTokenResponse(as, tpp.client, response), (err: oauth.ResponseBodyError) => {
      assert.equal(err.error, 'invalid_grant', 'no DPoP proof: no token (never a Bearer one)');
      return true;
    });
  });

  test("another client cannot use the TPP's refresh token (OWASP API1)", async () => {
    const dpop = await dpopKey();
    const { refreshToken } = await mintRefreshToken();
    const other = await registerTpp(server);
    const DPoP = oauth.DPoP(other.client, dpop.pair);
    const response = await oauth.refreshTokenGrantRequest(as, other.client, other.auth, refreshToken, { ...insecure, DPoP });
    await assert.rejects(oauth.processRefreshTokenResponse(as, other.client, response), (err: oauth.ResponseBodyError) => {
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });
});
