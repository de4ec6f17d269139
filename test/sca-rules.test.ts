// The rules behind strong customer authentication, piece by piece: which requests need SCA
// (PSD2 RTS Art. 4, 5, 10), the acr ladder, the dynamic-linking code (Art. 5), and the settings.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';
import type { AuthorizationDetail } from '../src/consents/authorization-details.ts';
import { createDynamicLinking } from '../src/consents/dynamic-linking.ts';
import { ACR_CA, ACR_SCA, acrSatisfies, asksForSca, requestedAcr, unreachableAcr } from '../src/oidc/acr.ts';
import { scaReason } from '../src/oidc/sca-requirement.ts';

const DAY = 86_400_000;
const payment = JSON.stringify([
  {
    type: 'payment_initiation',
    instructedAmount: { amount: '12.34', currency: 'EUR' },
    creditorName: 'Corner Shop',
    creditorAccount: { iban: 'GB82WEST12345698765432' },
  },
]);
const accounts = JSON.stringify([{ type: 'account_information', permissions: ['balances'] }]);

/** Consent history: the last SCA behind the customer's account consents with the TPP. */
const rules = (last: Date | undefined) => ({ consents: { lastAccountSca: async () => last }, reauthDays: 180 });

describe('when SCA is needed', () => {
  const cases: { name: string; details: string; acr?: string; last?: Date; customer?: string; want: string | undefined }[] = [
    { name: 'every payment', details: payment, last: new Date(), want: 'payment' },
    { name: 'a payment even when the TPP asks for ca only', details: payment, acr: ACR_CA, want: 'payment' },
    { name: 'account access through a TPP for the first time', details: accounts, want: 'first_access' },
    { name: 'a repeat within 180 days', details: accounts, last: new Date(Date.now() - 179 * DAY), want: undefined },
    {
      name: 'a repeat after 180 days',
      details: accounts,
      last: new Date(Date.now() - 181 * DAY),
      want: 'reauthentication_due',
    },
    { name: 'the TPP asks for sca only', details: accounts, acr: ACR_SCA, last: new Date(), want: 'requested' },
    { name: 'the TPP accepts either class', details: accounts, acr: `${ACR_SCA} ${ACR_CA}`, last: new Date(), want: undefined },
    { name: 'account access before the customer is known', details: accounts, customer: '', want: undefined },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.want ?? 'one factor is enough'}`, async () => {
      const request = { clientId: 'tpp', authorizationDetails: c.details, acrValues: c.acr };
      const customer = c.customer === '' ? undefined : 'customer';
      assert.equal(await scaReason(request, customer, rules(c.last)), c.want);
    });
  }
});

describe('acr values', () => {
  test('claims and acr_values are read together; essential only from the claims parameter', () => {
    const claims = JSON.stringify({ id_token: { acr: { essential: true, values: [ACR_SCA] } } });
    assert.deepEqual(requestedAcr({ claims }), { values: [ACR_SCA], essential: true });
    assert.deepEqual(requestedAcr({ acrValues: `${ACR_CA} ${ACR_SCA}` }), { values: [ACR_CA, ACR_SCA], essential: false });
    assert.equal(requestedAcr({ claims: 'not json' }), undefined);
    assert.equal(asksForSca(requestedAcr({ acrValues: ACR_SCA })), true);
    assert.equal(asksForSca(requestedAcr({ acrValues: `${ACR_SCA} ${ACR_CA}` })), false);
  });

  test('sca meets a request for ca, never the reverse; unknown essential values are unreachable', () => {
    assert.equal(acrSatisfies(ACR_SCA, [ACR_CA]), true);
    assert.equal(acrSatisfies(ACR_CA, [ACR_SCA]), false);
    assert.equal(acrSatisfies(undefined, [ACR_CA]), false);
    assert.equal(unreachableAcr({ values: ['urn:example:loa:4'], essential: true }), true);
    assert.equal(unreachableAcr({ values: ['urn:example:loa:4'], essential: false }), false);
    assert.equal(unreachableAcr({ values: ['urn:example:loa:4', ACR_SCA], essential: true }), false);
  });
});

describe('dynamic linking code (PSD2 RTS Art. 5)', () => {
  const linking = createDynamicLinking(async () => randomBytes(32));
  const details = JSON.parse(payment) as AuthorizationDetail[];
  const changed = (change: Record<string, unknown>) => [{ ...(details[0] as object), ...change }] as AuthorizationDetail[];

  test('matches the same payment, whatever else the details carry (the account paid from)', async () => {
    const link = await linking.link(details, ['pwd', 'otp']);
    assert.ok(link);
    assert.deepEqual(link.amr, ['otp', 'pwd']);
    assert.equal(await linking.verify(changed({ debtorAccount: { iban: 'DE89370400440532013000' } }), link), true);
    assert.equal(await linking.verify(changed({ creditorAccount: { iban: 'gb82 west 1234 5698 7654 32' } }), link), true);
  });

  const tampered: [string, Record<string, unknown>][] = [
    ['amount', { instructedAmount: { amount: '12.35', currency: 'EUR' } }],
    ['currency', { instructedAmount: { amount: '12.34', currency: 'GBP' } }],
    ['payee account', { creditorAccount: { iban: 'DE89370400440532013000' } }],
    ['payee name', { creditorName: 'Corner Shop Ltd' }],
  ];
  for (const [what, change] of tampered) {
    test(`a changed ${what} no longer matches`, async () => {
      const link = await linking.link(details, ['otp', 'pwd']);
      assert.ok(link);
      assert.equal(await linking.verify(changed(change), link), false);
    });
  }

  test('a code made with other factors, or under another key, does not match', async () => {
    const link = await linking.link(details, ['otp', 'pwd']);
    assert.ok(link);
    assert.equal(await linking.verify(details, { ...link, amr: ['pwd'] }), false);
    const other = createDynamicLinking(async () => randomBytes(32));
    assert.equal(await other.verify(details, link), false);
    assert.equal(await linking.link(JSON.parse(accounts), ['otp', 'pwd']), undefined, 'account access has no payment to link');
  });
});

describe('settings', () => {
  test('SCA_REAUTH_DAYS defaults to 180 and never exceeds it', () => {
    assert.equal(parseConfig({ NODE_ENV: 'test' }).SCA_REAUTH_DAYS, 180);
    assert.equal(parseConfig({ NODE_ENV: 'test', SCA_REAUTH_DAYS: '90' }).SCA_REAUTH_DAYS, 90);
    assert.throws(() => parseConfig({ NODE_ENV: 'test', SCA_REAUTH_DAYS: '181' }), /SCA_REAUTH_DAYS/);
  });

  test('NOTIFY_WEBHOOK_URL must be https in production', () => {
    const production = {
      NODE_ENV: 'production',
      ISSUER: 'https://bank.example',
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    };
    assert.throws(
      () => parseConfig({ ...production, NOTIFY_WEBHOOK_URL: 'http://alerts.bank.example/hook' }),
      (err: unknown) => err instanceof ConfigError && /NOTIFY_WEBHOOK_URL/.test(err.message),
    );
    assert.equal(
      parseConfig({ ...production, NOTIFY_WEBHOOK_URL: 'https://alerts.bank.example/hook' }).NOTIFY_WEBHOOK_URL,
      'https://alerts.bank.example/hook',
    );
  });
});
