// Tokens stored before RFC 7591 registration was bounded by the operator's decision (OWASP API5,
// PSD2 RTS Art. 34; src/oidc/registration-bound.ts) bound nothing. Migration 20261121000070 deletes
// such initial access tokens and gives such registration access tokens the bound of what their
// client registered, so an RFC 7592 update can never widen it. Driven over real HTTP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Knex } from 'knex';
import { up } from '../migrations/20261121000070_registration_type_bounds.ts';
import { boundPolicy } from '../src/oidc/registration-bound.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { type KeyPair, keyPair, REDIRECT_URI } from './support/tpp.ts';

const BOTH = ['account_information', 'payment_initiation'];

describe('tokens stored before the registration bound (migration 20261121000070)', () => {
  let server: TestServer;
  let knex: Knex;
  let key: KeyPair;

  const mint = async (types: string[]) => {
    const response = await server.admin('POST', '/admin/initial-access-tokens', { authorization_details_types: types });
    assert.equal(response.status, 201, await response.clone().text());
    return ((await response.json()) as { initial_access_token: string }).initial_access_token;
  };
  const register = (token: string, types?: string[]) =>
    fetch(`${server.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        redirect_uris: [REDIRECT_URI],
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [key.publicJwk] },
        ...(types ? { authorization_details_types: types } : {}),
      }),
    });
  const registered = async (token: string, types?: string[]) => {
    const response = await register(token, types);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(response.status, 201, JSON.stringify(body));
    return body;
  };
  /** The token as an earlier release stored it: no policies. Opaque tokens are stored under their value. */
  const forgetBound = (model: string, token: unknown) =>
    knex('oidc_payloads')
      .where({ model, id: token as string })
      .update({ payload: knex.raw(`payload - 'policies'`) });
  const policiesOf = async (model: string, token: unknown) =>
    (
      (
        await knex('oidc_payloads')
          .where({ model, id: token as string })
          .first('payload')
      )?.payload as { policies?: string[] }
    )?.policies;

  before(async () => {
    server = await startTestServer();
    knex = server.server.services.db.knex;
    key = await keyPair('ES256');
  });
  after(() => server.close());

  test('an initial access token without a bound is deleted: the TPP must get one naming its types', async () => {
    const legacy = await mint(BOTH);
    await forgetBound('InitialAccessToken', legacy);
    const bounded = await mint(['account_information']);
    await up(knex);

    const refused = await register(legacy, ['payment_initiation']);
    assert.equal(refused.status, 401);
    assert.equal(((await refused.json()) as { error: string }).error, 'invalid_token');
    assert.deepEqual(await policiesOf('InitialAccessToken', bounded), [boundPolicy(['account_information'])]);
    assert.deepEqual((await registered(bounded)).authorization_details_types, ['account_information']);
  });

  test('a registration access token without a bound gets what its client registered: an update cannot add payments', async () => {
    const created = await registered(await mint(BOTH), ['account_information']);
    const { registration_access_token: token, registration_client_uri: uri, client_id_issued_at: _i, ...echo } = created;
    await forgetBound('RegistrationAccessToken', token);
    await up(knex);
    assert.deepEqual(await policiesOf('RegistrationAccessToken', token), [boundPolicy(['account_information'])]);

    const put = (types: string[]) =>
      fetch(uri as string, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ ...echo, authorization_details_types: types }),
      });
    const widened = await put(BOTH);
    const error = (await widened.json()) as { error: string; error_description: string };
    assert.equal(widened.status, 400, JSON.stringify(error));
    assert.equal(error.error, 'invalid_client_metadata');
    assert.match(error.error_description, /^authorization_details_types: payment_initiation cannot be registered/);
    const kept = await put(['account_information']);
    assert.equal(kept.status, 200, await kept.text());
  });

  test('a client stored without authorization_details_types had both, and keeps exactly both', async () => {
    const created = await registered(await mint(BOTH));
    await knex('clients')
      .where({ client_id: created.client_id as string })
      .update({ metadata: knex.raw(`metadata - 'authorization_details_types'`) });
    await forgetBound('RegistrationAccessToken', created.registration_access_token);
    const untouched = await registered(await mint(['payment_initiation']));
    await up(knex);
    assert.deepEqual(await policiesOf('RegistrationAccessToken', created.registration_access_token), [boundPolicy(BOTH)]);
    assert.deepEqual(await policiesOf('RegistrationAccessToken', untouched.registration_access_token), [
      boundPolicy(['payment_initiation']),
    ]);
  });
});
