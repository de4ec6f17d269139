// The two RFC 9396 authorization_details types Portcullis understands, as zod schemas. They are
// registered with oidc-provider's RAR feature (a bad detail is `invalid_authorization_details`
// at PAR) and used again to read what a consent approved.
import { z } from 'zod';

// ISO 13616 IBAN: country, check digits, 11-30 alphanumerics; checked with the mod-97 rule.
export function normaliseIban(value: string): string {
  return value.replace(/\s+/g, '').toUpperCase();
}

export function isValidIban(value: string): boolean {
  const iban = normaliseIban(value);
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(iban)) return false;
  const rearranged = `${iban.slice(4)}${iban.slice(0, 4)}`;
  const digits = rearranged.replace(/[A-Z]/g, (c) => String(c.charCodeAt(0) - 55));
  let remainder = 0;
  for (const digit of digits) remainder = (remainder * 10 + Number(digit)) % 97;
  return remainder === 1;
}

/** "DE89 3704 0044 0532 0130 00": the grouping customers know from their cards and statements. */
export const formatIban = (iban: string) => normaliseIban(iban).replace(/(.{4})(?=.)/g, '$1 ');

const iban = z.string().max(42).refine(isValidIban, 'must be a valid IBAN').transform(normaliseIban);

export const accountReference = z.strictObject({ iban });

// ISO 4217 alphabetic codes the bank settles; amounts as decimal strings, never floats.
export const CURRENCIES = ['EUR', 'GBP', 'USD', 'CHF', 'SEK', 'NOK', 'DKK', 'PLN', 'CZK', 'HUF'] as const;
const MINOR_UNITS: Record<string, number> = { HUF: 2, CZK: 2 };

export const instructedAmount = z
  .strictObject({
    amount: z
      .string()
      .regex(/^(0|[1-9]\d{0,14})(\.\d{1,2})?$/, 'must be a decimal string such as "12.34" (at most 2 decimals)')
      .refine((v) => Number(v) > 0, 'must be greater than zero'),
    currency: z.enum(CURRENCIES, { error: `must be an ISO 4217 code the bank supports (${CURRENCIES.join(', ')})` }),
  })
  .refine((a) => (a.amount.split('.')[1]?.length ?? 0) <= (MINOR_UNITS[a.currency] ?? 2), 'too many decimals for the currency');

export const ACCOUNT_PERMISSIONS = ['accounts', 'balances', 'transactions', 'beneficiaries', 'standing_orders'] as const;

const isoDateTime = z.iso.datetime({ offset: true });

// PSD2 RTS Art. 36(5): at most 4 unattended accesses a day unless agreed with the customer.
export const MAX_FREQUENCY_PER_DAY = 4;

export const accountInformationDetail = z
  .strictObject({
    type: z.literal('account_information'),
    permissions: z.array(z.enum(ACCOUNT_PERMISSIONS)).min(1).max(ACCOUNT_PERMISSIONS.length),
    accounts: z.array(accountReference).max(20).optional(),
    expirationDateTime: isoDateTime.optional(),
    frequencyPerDay: z
      .number()
      .int()
      .min(1)
      .max(MAX_FREQUENCY_PER_DAY, `at most ${MAX_FREQUENCY_PER_DAY} a day (PSD2 RTS Art. 36(5))`)
      .optional(),
    transactionFromDateTime: isoDateTime.optional(),
    transactionToDateTime: isoDateTime.optional(),
  })
  .refine((d) => !d.expirationDateTime || Date.parse(d.expirationDateTime) > Date.now(), {
    message: 'must be in the future',
    path: ['expirationDateTime'],
  })
  .refine((d) => !d.transactionFromDateTime || !d.transactionToDateTime || d.transactionFromDateTime <= d.transactionToDateTime, {
    message: 'must not be after transactionToDateTime',
    path: ['transactionFromDateTime'],
  });

export const paymentInitiationDetail = z.strictObject({
  type: z.literal('payment_initiation'),
  instructedAmount,
  creditorName: z.string().trim().min(1).max(140),
  creditorAccount: accountReference,
  debtorAccount: accountReference.optional(),
  remittanceInformation: z.string().max(140).optional(),
  endToEndIdentification: z.string().max(35).optional(),
});

export type AccountInformationDetail = z.output<typeof accountInformationDetail>;
export type PaymentInitiationDetail = z.output<typeof paymentInitiationDetail>;
export type AuthorizationDetail = AccountInformationDetail | PaymentInitiationDetail;
export type ConsentType = AuthorizationDetail['type'];

/**
 * The resource-server scope that stands for each kind of consent (OWASP API5: a TPP that may not
 * ask for payments never gets the payment scope, and a request for account information never
 * yields it either). Scopes of no kind (a bank's own) are left alone.
 */
export const CONSENT_SCOPES: Record<ConsentType, string> = {
  account_information: 'accounts',
  payment_initiation: 'payments',
};

/** A resource server's scopes, less those of the consent kinds not in `kinds`. */
export const scopesForKinds = (scopes: string[], kinds: readonly string[]): string[] =>
  scopes.filter((scope) => Object.entries(CONSENT_SCOPES).every(([kind, own]) => own !== scope || kinds.includes(kind)));

export const authorizationDetailSchemas = {
  account_information: accountInformationDetail,
  payment_initiation: paymentInitiationDetail,
} as const;

export const AUTHORIZATION_DETAIL_TYPES = ['account_information', 'payment_initiation'] as const;

/** "€12.34", "£1,000.00": the amount exactly as it will be executed, in the customer's terms. */
export function formatAmount(amount: { amount: string; currency: string }, locale = 'en-GB'): string {
  const [whole, fraction = ''] = amount.amount.split('.');
  const digits = MINOR_UNITS[amount.currency] ?? 2;
  const formatter = new Intl.NumberFormat(locale, {
    style: 'currency',
    currency: amount.currency,
    minimumFractionDigits: digits,
  });
  // Format from the string, never through a float that could round.
  const parts = formatter.formatToParts(0);
  const grouped = Number(whole).toLocaleString(locale);
  const decimals = fraction.padEnd(digits, '0');
  return parts.map((p) => (p.type === 'integer' ? grouped : p.type === 'fraction' ? decimals : p.value)).join('');
}
