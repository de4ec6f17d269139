// The consent scopes `accounts` and `payments` are granted only through an authorization_details
// entry of their kind (RFC 9396). A request that asks for one without it is refused where the TPP
// sends it, with invalid_scope (RFC 6749 sections 5.2 and 4.1.2.1), before any customer signs in;
// matching requests, identity-only sign-ins and client_credentials are untouched.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UnsecuredJWT } from 'jose';
import * as oauth from 'oauth4webapi';
import { startAuthorization } from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  dpopKeyPair,
  introspect,
  REDIRECT_URI,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const ACCOUNTS = { type: 'account_information', permissions: ['balances'] };
const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { amount: '12.34', currency: 'EUR' },
  creditorName: 'Merchant Ltd',
  creditorAccount: { iban: 'GB82WEST12345698765432' },
};

const needsAccounts =
  'scope "accounts" is granted through an account_information authorization detail (RFC 9396): send one in authorization_details, or leave "accounts" out of scope';
const needsPayments =
  'scope "payments" is granted through a payment_initiation authorization detail (RFC 9396): send one in authorization_details, or leave "payments" out of scope';

describe('consent scopes need an authorization_details entry of their kind', () => {
  let server: TestServer;
  let tpp: Tpp;
  let rs: ResourceServer;

  before(async () => {
    server = await startTestServer();
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
  });
  after(async () => {
    await server?.close();
  });

  const refused: { name: string; scope: string; details?: unknown[]; description: string }[] = [
    { name: 'openid accounts without authorization_details', scope: 'openid accounts', description: needsAccounts },
    {
      name: 'openid payments with only an account_information detail',
      scope: 'openid payments',
      details: [ACCOUNTS],
      description: needsPayments,
    },
    {
      name: 'openid accounts with only a payment_initiation detail',
      scope: 'openid accounts',
      details: [PAYMENT],
      description: needsAccounts,
    },
    {
      name: 'openid accounts payments with only an account_information detail',
      scope: 'openid accounts payments',
      details: [ACCOUNTS],
      description: needsPayments,
    },
    {
      name: 'accounts payments (no openid) without authorization_details',
      scope: 'accounts payments',
      description: `${needsAccounts}; ${needsPayments}`,
    },
  ];
  for (const { name, scope, details, description } of refused) {
    test(`PAR with ${name} -> 400 invalid_scope, saying what to send`, async () => {
      await assert.rejects(
        startAuthorization(server, tpp, { scope, resource: rs.resource, ...(details ? { authorization_details: details } : {}) }),
        (err: oauth.ResponseBodyError) => {
          assert.equal(err.status, 400);
          assert.equal(err.error, 'invalid_scope');
          assert.equal(err.error_description, description);
          assert.equal((err.cause as Record<string, unknown>).request_uri, undefined);
          return true;
        },
      );
    });
  }

  const accepted: { name: string; scope: string; details?: unknown[] }[] = [
    { name: 'openid accounts with an account_information detail', scope: 'openid accounts', details: [ACCOUNTS] },
    { name: 'openid payments with a payment_initiation detail', scope: 'openid payments', details: [PAYMENT] },
    {
      name: 'openid accounts payments with one detail of each kind',
      scope: 'openid accounts payments',
      details: [ACCOUNTS, PAYMENT],
    },
    { name: 'openid alone (an identity-only sign-in)', scope: 'openid' },
  ];
  for (const { name, scope, details } of accepted) {
    test(`PAR with ${name} -> 201 and a request_uri`, async () => {
      const started = await startAuthorization(server, tpp, {
        scope,
        ...(details ? { resource: rs.resource, authorization_details: details } : {}),
      });
      assert.match(started.requestUri, /^urn:ietf:params:oauth:request_uri:/);
    });
  }

  test('a malformed detail is still invalid_authorization_details, an unknown resource still invalid_target', async () => {
    await assert.rejects(
      startAuthorization(server, tpp, {
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [{ ...PAYMENT, creditorName: '' }],
      }),
      (err: oauth.ResponseBodyError) => err.error === 'invalid_authorization_details',
    );
    await assert.rejects(
      startAuthorization(server, tpp, { scope: 'openid accounts', resource: 'https://unknown.bank.example/api' }),
      (err: oauth.ResponseBodyError) => err.error === 'invalid_target',
    );
  });

  test('client_credentials with scope accounts (no customer, no consent) is unaffected', async () => {
    const as = await discover(server.issuer);
    const token = await clientCredentials(as, tpp, { scope: 'accounts payments', resource: rs.resource }, await dpopKeyPair());
    assert.equal(token.scope, 'accounts payments');
    const info = await introspect(as, rs, token.access_token);
    assert.equal(info.active, true);
    assert.equal(info.scope, 'accounts payments');
  });

  test('a pushed request stored without the check (pushed before an upgrade) is refused at the authorization endpoint: invalid_scope to the redirect URI', async () => {
    const provider = server.server.holder.current;
    const now = Math.floor(Date.now() / 1000);
    const request = new UnsecuredJWT({
      client_id: tpp.clientId,
      response_type: 'code',
      redirect_uri: REDIRECT_URI,
      scope: 'openid accounts',
      resource: rs.resource,
      state: 'stored-state',
      code_challenge: await oauth.calculatePKCECodeChallenge(oauth.generateRandomCodeVerifier()),
      code_challenge_method: 'S256',
    })
      .setIssuedAt(now)
      .setIssuer(tpp.clientId)
      .setAudience(server.issuer)
      .setNotBefore(now)
      .setExpirationTime(now + 60)
      .encode();
    // As oidc-provider stores a PAR of an authenticated client (its typings say string[]; it keeps a boolean).
    const id = await new provider.PushedAuthorizationRequest({ request, trusted: true } as never).save(60);
    const url = new URL(`${server.issuer}/auth`);
    url.searchParams.set('client_id', tpp.clientId);
    url.searchParams.set('request_uri', `urn:ietf:params:oauth:request_uri:${id}`);

    const response = await fetch(url, { redirect: 'manual' });
    assert.equal(response.status, 303);
    const callback = new URL(response.headers.get('location') ?? '');
    assert.equal(`${callback.origin}${callback.pathname}`, REDIRECT_URI);
    assert.equal(callback.searchParams.get('error'), 'invalid_scope');
    assert.equal(callback.searchParams.get('error_description'), needsAccounts);
    assert.equal(callback.searchParams.get('state'), 'stored-state');
    assert.equal(callback.searchParams.get('iss'), server.issuer);
  });
});
