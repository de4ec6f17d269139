// The authorization code: single use (a second redemption fails and revokes what the first one
// issued, RFC 6749 section 4.1.2 / FAPI 2.0), and authorization_details validated at PAR
// (RFC 9396: a malformed payment or account request is invalid_authorization_details).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as oauth from 'oauth4webapi';
import type { Browser } from 'playwright-core';
import {
  authorizeInBrowser,
  createCustomer,
  launchBrowser,
  newPage,
  startAuthorization,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import {
  clientCredentials,
  discover,
  dpopKeyPair,
  insecure,
  introspect,
  type ResourceServer,
  registerResourceServer,
  registerTpp,
  type Tpp,
} from './support/tpp.ts';

const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { amount: '12.34', currency: 'EUR' },
  creditorName: 'Demo Coffee Roasters',
  creditorAccount: { iban: 'GB82WEST12345698765432' },
};

describe('authorization codes and authorization_details', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let customer: TestCustomer;
  let browser: Browser;

  before(async () => {
    server = await startTestServer();
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server);
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
    await browser.close();
    await server.close();
  });

  test('a code redeemed twice: the second gets invalid_grant and the tokens of the first are revoked', async () => {
    const { page, context } = await newPage(browser);
    try {
      const journey = await authorizeInBrowser(page, server, tpp, customer, ['Everyday account'], {
        scope: 'openid payments',
        resource: rs.resource,
        authorization_details: [PAYMENT],
      });
      const { started, callback, tokens } = journey;
      assert.equal((await introspect(started.as, rs, tokens.access_token)).active, true);

      const params = oauth.validateAuthResponse(started.as, tpp.client, callback, started.state ?? oauth.expectNoState);
      const replay = await oauth.authorizationCodeGrantRequest(
        started.as,
        tpp.client,
        tpp.auth,
        params,
        started.redirectUri,
        started.verifier,
        {
          ...insecure,
          DPoP: started.dpop,
        },
      );
      const body = (await replay.json()) as { error?: string };
      assert.equal(replay.status, 400);
      assert.equal(body.error, 'invalid_grant');

      assert.equal((await introspect(started.as, rs, tokens.access_token)).active, false, 'the first access token is revoked');
      const refreshed = await oauth.refreshTokenGrantRequest(started.as, tpp.client, tpp.auth, tokens.refresh_token as string, {
        ...insecure,
        DPoP: started.dpop,
      });
      assert.equal(((await refreshed.json()) as { error?: string }).error, 'invalid_grant', 'the first refresh token is revoked');
    } finally {
      await context.close();
    }
  });

  const malformed: [string, unknown][] = [
    ['an amount with three decimals', { ...PAYMENT, instructedAmount: { amount: '12.345', currency: 'EUR' } }],
    ['a negative amount', { ...PAYMENT, instructedAmount: { amount: '-12.34', currency: 'EUR' } }],
    ['an amount as a JSON number', { ...PAYMENT, instructedAmount: { amount: 12.34, currency: 'EUR' } }],
    ['an amount in exponent notation', { ...PAYMENT, instructedAmount: { amount: '1e3', currency: 'EUR' } }],
    ['a zero amount', { ...PAYMENT, instructedAmount: { amount: '0.00', currency: 'EUR' } }],
    ['an unknown currency', { ...PAYMENT, instructedAmount: { amount: '12.34', currency: 'XXX' } }],
    ['an IBAN with a wrong check digit', { ...PAYMENT, creditorAccount: { iban: 'GB83WEST12345698765432' } }],
    ['an IBAN that is not one', { ...PAYMENT, creditorAccount: { iban: "1' OR '1'='1" } }],
    ['no payee name', { ...PAYMENT, creditorName: '' }],
    ['an unknown field', { ...PAYMENT, executeTwice: true }],
    ['an unknown type', { type: 'crypto_withdrawal', amount: '1' }],
    ['account access more than 4 times a day', { type: 'account_information', permissions: ['balances'], frequencyPerDay: 5 }],
    ['an unknown permission', { type: 'account_information', permissions: ['everything'] }],
    [
      'an expiry in the past',
      { type: 'account_information', permissions: ['balances'], expirationDateTime: '2020-01-01T00:00:00Z' },
    ],
  ];
  for (const [name, detail] of malformed) {
    test(`PAR with ${name} -> invalid_authorization_details`, async () => {
      await assert.rejects(
        startAuthorization(server, tpp, {
          scope: 'openid payments accounts',
          resource: rs.resource,
          authorization_details: [detail],
        }),
        (err: oauth.ResponseBodyError) => {
          assert.equal(err.status, 400);
          assert.equal(err.error, 'invalid_authorization_details');
          return true;
        },
      );
    });
  }

  test('an account-information TPP gets no payment scope, not even by client credentials (OWASP API5)', async () => {
    const aisp = await registerTpp(server, { authorization_details_types: ['account_information'] });
    const as = await discover(server.issuer);
    const token = await clientCredentials(as, aisp, { scope: 'accounts payments', resource: rs.resource }, await dpopKeyPair());
    assert.equal(token.scope, 'accounts');
    assert.equal((await introspect(as, rs, token.access_token)).scope, 'accounts');
    // A TPP allowed both: its token for a payment carries only the payment scope.
    const both = await clientCredentials(as, tpp, { scope: 'accounts payments', resource: rs.resource }, await dpopKeyPair());
    assert.equal(both.scope, 'accounts payments');
  });

  test('a consent for account information yields no payment scope: asking for one beside it is invalid_scope at PAR (OWASP API5)', async () => {
    const balances = { type: 'account_information', permissions: ['balances'] };
    await assert.rejects(
      startAuthorization(server, tpp, {
        scope: 'openid accounts payments',
        resource: rs.resource,
        authorization_details: [balances],
      }),
      (err: oauth.ResponseBodyError) => {
        assert.equal(err.error, 'invalid_scope');
        assert.match(
          err.error_description ?? '',
          /^scope "payments" is granted through a payment_initiation authorization detail/,
        );
        return true;
      },
    );
    const { page, context } = await newPage(browser);
    try {
      const { started, tokens } = await authorizeInBrowser(page, server, tpp, customer, ['Everyday account'], {
        scope: 'openid accounts',
        resource: rs.resource,
        authorization_details: [balances],
      });
      assert.equal(tokens.scope, 'accounts');
      const info = await introspect(started.as, rs, tokens.access_token);
      assert.equal(info.scope, 'accounts');
    } finally {
      await context.close();
    }
  });

  test('a TPP registered for account information only cannot ask for a payment (OWASP API5)', async () => {
    const aisp = await registerTpp(server, { authorization_details_types: ['account_information'] });
    await assert.rejects(
      startAuthorization(server, aisp, { scope: 'openid payments', resource: rs.resource, authorization_details: [PAYMENT] }),
      (err: oauth.ResponseBodyError) => err.error === 'invalid_authorization_details',
    );
    const allowed = await startAuthorization(server, aisp, {
      scope: 'openid accounts',
      resource: rs.resource,
      authorization_details: [{ type: 'account_information', permissions: ['balances'] }],
    });
    assert.match(allowed.requestUri, /^urn:ietf:params:oauth:request_uri:/);
  });
});
