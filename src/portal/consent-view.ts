// A consent as the customer reads it on the dashboard: who, what, which accounts, since when,
// until when, last used. Amounts and IBANs are formatted exactly as they are executed.
import type { BankAccount } from '../accounts/account-directory.ts';
import {
  type ACCOUNT_PERMISSIONS,
  type AuthorizationDetail,
  formatAmount,
  formatIban,
  normaliseIban,
} from '../consents/authorization-details.ts';
import type { Consent, ConsentStatus } from '../consents/consent-store.ts';

export interface ConsentRow {
  label: string;
  value: string;
}

export interface ConsentView {
  id: string;
  tpp: string;
  organisation: string | undefined;
  kind: string;
  status: ConsentStatus;
  statusText: string;
  /** Still in force: the customer can revoke it. */
  revocable: boolean;
  granted: ConsentRow[];
  accounts: string[];
  since: string;
  expires: string;
  /** When it stopped (revoked, payment made, expired); undefined while active. */
  ended: string | undefined;
  lastUsed: string;
}

export interface TppName {
  name: string;
  organisation?: string | undefined;
}

const KIND: Record<Consent['type'], string> = {
  account_information: 'Account information',
  payment_initiation: 'Payment',
};

const STATUS: Record<ConsentStatus, string> = {
  awaiting_authorisation: 'Awaiting your approval',
  authorised: 'Active',
  rejected: 'Declined',
  revoked: 'Revoked',
  expired: 'Expired',
  consumed: 'Payment made',
};

const PERMISSION: Record<(typeof ACCOUNT_PERMISSIONS)[number], string> = {
  accounts: 'account details',
  balances: 'balances',
  transactions: 'transactions',
  beneficiaries: 'saved payees',
  standing_orders: 'standing orders',
};

// Server-rendered for every customer alike: one unambiguous zone, named on the page.
const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
export const formatDateTime = (date: Date) => `${dateTime.format(date)} UTC`;
const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' });

const sentence = (words: string[]) => {
  const text = words.length > 1 ? `${words.slice(0, -1).join(', ')} and ${words.at(-1)}` : (words[0] ?? '');
  return text.charAt(0).toUpperCase() + text.slice(1);
};

function grantedRows(detail: AuthorizationDetail, frequencyPerDay: number | null): ConsentRow[] {
  if (detail.type === 'payment_initiation') {
    return [
      { label: 'Payment', value: `${formatAmount(detail.instructedAmount)} to ${detail.creditorName}` },
      { label: 'Payee account', value: formatIban(detail.creditorAccount.iban) },
      ...(detail.remittanceInformation ? [{ label: 'Reference', value: detail.remittanceInformation }] : []),
    ];
  }
  const from = detail.transactionFromDateTime;
  const to = detail.transactionToDateTime;
  const perDay = frequencyPerDay ?? detail.frequencyPerDay;
  return [
    { label: 'Can see', value: sentence(detail.permissions.map((p) => PERMISSION[p])) },
    ...(from || to
      ? [
          {
            label: 'Transactions',
            value: `${from ? `from ${dateOnly.format(new Date(from))}` : ''}${from && to ? ' ' : ''}${to ? `until ${dateOnly.format(new Date(to))}` : ''}`,
          },
        ]
      : []),
    ...(perDay ? [{ label: 'Without you', value: `at most ${perDay} time${perDay === 1 ? '' : 's'} a day` }] : []),
  ];
}

const accountIbans = (detail: AuthorizationDetail): string[] =>
  detail.type === 'account_information'
    ? (detail.accounts ?? []).map((a) => a.iban)
    : detail.debtorAccount
      ? [detail.debtorAccount.iban]
      : [];

/** "Everyday account, DE89 3704 0044 0532 0130 00"; the IBAN alone for an account no longer held. */
function accountLabel(iban: string, held: Map<string, BankAccount>): string {
  const account = held.get(normaliseIban(iban));
  return account ? `${account.name}, ${formatIban(iban)}` : formatIban(iban);
}

function endedAt(consent: Consent, status: ConsentStatus): Date | undefined {
  if (status === 'revoked') return consent.revokedAt ?? consent.updatedAt;
  if (status === 'consumed') return consent.consumedAt ?? consent.updatedAt;
  if (status === 'expired') return consent.expiresAt;
  return undefined;
}

export function consentView(consent: Consent, tpp: TppName, heldAccounts: BankAccount[], now = new Date()): ConsentView {
  // Past its expiry but not yet swept by the janitor: already inactive (introspection says so).
  const status = consent.status === 'authorised' && consent.expiresAt <= now ? 'expired' : consent.status;
  const ended = endedAt(consent, status);
  const held = new Map(heldAccounts.map((a) => [normaliseIban(a.iban), a]));
  const ibans = [...new Set(consent.details.flatMap(accountIbans).map(normaliseIban))];
  return {
    id: consent.id,
    tpp: tpp.name,
    organisation: tpp.organisation && tpp.organisation !== tpp.name ? tpp.organisation : undefined,
    kind: KIND[consent.type],
    status,
    statusText: STATUS[status],
    revocable: status === 'authorised',
    granted: consent.details.flatMap((d) => grantedRows(d, consent.frequencyPerDay)),
    accounts: ibans.map((iban) => accountLabel(iban, held)),
    since: formatDateTime(consent.authorisedAt ?? consent.createdAt),
    expires: formatDateTime(consent.expiresAt),
    ended: ended ? formatDateTime(ended) : undefined,
    lastUsed: consent.lastUsedAt ? formatDateTime(consent.lastUsedAt) : 'never',
  };
}
