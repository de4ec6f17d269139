// What the customer reads on the login and consent pages, in plain words: who asks (the TPP as
// registered), which scopes, and each authorization_details entry with amounts and IBANs exactly
// as they will be executed. Plain data for the templates, which escape everything.

import type Provider from 'oidc-provider';
import {
  type AccountInformationDetail,
  type AuthorizationDetail,
  formatAmount,
  formatIban,
  type PaymentInitiationDetail,
} from '../consents/authorization-details.ts';
import { type ConsentSettings, consentExpiry } from '../consents/consent-service.ts';
import type { CertifiedTpp } from '../oidc/tpp-certificates.ts';
import { InteractionNotFound } from './interaction.ts';

export interface ClientView {
  name: string;
  /** Only an https logo: the page never loads mixed or local content for a TPP. */
  logoUri?: string;
  organisation?: string;
}

export interface Row {
  label: string;
  /** One line each (several accounts, say). */
  values: string[];
  /** `amount` is shown larger; `iban` never breaks inside a group. */
  kind?: 'amount' | 'iban';
}

export interface DetailView {
  type: AuthorizationDetail['type'];
  title: string;
  /** A list shown under the title (the permissions of account access). */
  items: string[];
  rows: Row[];
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

export async function describeClient(provider: Provider, clientId: unknown): Promise<ClientView> {
  const client = typeof clientId === 'string' ? await provider.Client.find(clientId) : undefined;
  if (!client) throw new InteractionNotFound();
  const metadata = client.metadata() as Record<string, unknown>;
  const logo = text(metadata.logo_uri);
  const organisation = text(metadata.organisation_name);
  return {
    name: text(metadata.client_name) ?? client.clientId,
    ...(logo && URL.canParse(logo) && new URL(logo).protocol === 'https:' ? { logoUri: logo } : {}),
    ...(organisation ? { organisation } : {}),
  };
}

const ROLE_WORDS: Record<string, string> = {
  PSP_AS: 'account servicing',
  PSP_PI: 'payment initiation',
  PSP_AI: 'account information',
  PSP_IC: 'issuing card-based payment instruments',
};

/**
 * PSD2 RTS Art. 34: who the TPP is according to its eIDAS certificate (legal name, authorisation
 * number, the authority that granted it, the services it may offer); undefined without one.
 */
export function describeCertificate(certified: CertifiedTpp | undefined): Row[] | undefined {
  if (!certified || (!certified.legalName && !certified.organizationId)) return undefined;
  const rows: Row[] = [];
  if (certified.legalName) rows.push({ label: 'Legal name', values: [certified.legalName] });
  if (certified.organizationId) rows.push({ label: 'Authorisation number', values: [certified.organizationId] });
  if (certified.ncaName || certified.ncaId) {
    const authority = [certified.ncaName, certified.ncaId ? `(${certified.ncaId})` : undefined].filter(Boolean).join(' ');
    rows.push({ label: 'Authorised by', values: [authority] });
  }
  if (certified.roles.length) {
    rows.push({ label: 'Authorised for', values: certified.roles.map((role) => ROLE_WORDS[role] ?? role) });
  }
  return rows;
}

const SCOPE_WORDS: Record<string, string> = {
  openid: 'confirm your identity',
  accounts: 'read account information',
  payments: 'initiate payments',
  offline_access: 'keep access while you are away',
};

/** The requested scopes in plain words, in the order asked; unknown ones by name. */
export function describeScopes(scope: unknown): string[] {
  const scopes = typeof scope === 'string' ? scope.split(' ').filter(Boolean) : [];
  return [...new Set(scopes)].map((s) => SCOPE_WORDS[s] ?? `use the "${s}" permission`);
}

const PERMISSION_WORDS: Record<AccountInformationDetail['permissions'][number], string> = {
  accounts: 'your account names and numbers',
  balances: 'your balances',
  transactions: 'your transactions',
  beneficiaries: 'the payees you have saved',
  standing_orders: 'your standing orders',
};

const day = new Intl.DateTimeFormat('en-GB', { dateStyle: 'long', timeZone: 'UTC' });
const formatDay = (iso: string) => day.format(new Date(iso));

function transactionRange(detail: AccountInformationDetail): string | undefined {
  const from = detail.transactionFromDateTime;
  const to = detail.transactionToDateTime;
  if (from && to) return `from ${formatDay(from)} to ${formatDay(to)}`;
  if (from) return `from ${formatDay(from)}`;
  if (to) return `up to ${formatDay(to)}`;
  return undefined;
}

function accountInformation(detail: AccountInformationDetail, expiresAt: Date): DetailView {
  const rows: Row[] = [
    detail.accounts?.length
      ? {
          label: detail.accounts.length === 1 ? 'Account' : 'Accounts',
          values: detail.accounts.map((a) => formatIban(a.iban)),
          kind: 'iban',
        }
      : { label: 'Accounts', values: ['the accounts you choose in the next step'] },
  ];
  const range = transactionRange(detail);
  if (range) rows.push({ label: 'Transactions', values: [range] });
  rows.push({ label: 'Until', values: [formatDay(expiresAt.toISOString())] });
  if (detail.frequencyPerDay !== undefined) {
    const times = detail.frequencyPerDay === 1 ? 'once' : `${detail.frequencyPerDay} times`;
    rows.push({ label: 'How often', values: [`up to ${times} a day while you are away`] });
  }
  return {
    type: detail.type,
    title: 'See your account information',
    items: detail.permissions.map((p) => PERMISSION_WORDS[p]),
    rows,
  };
}

function paymentInitiation(detail: PaymentInitiationDetail): DetailView {
  const rows: Row[] = [
    { label: 'Amount', values: [`${formatAmount(detail.instructedAmount)} ${detail.instructedAmount.currency}`], kind: 'amount' },
    { label: 'To', values: [detail.creditorName] },
    { label: 'Payee account', values: [formatIban(detail.creditorAccount.iban)], kind: 'iban' },
  ];
  if (detail.remittanceInformation) rows.push({ label: 'Reference', values: [detail.remittanceInformation] });
  rows.push(
    detail.debtorAccount
      ? { label: 'From', values: [formatIban(detail.debtorAccount.iban)], kind: 'iban' }
      : { label: 'From', values: ['the account you choose in the next step'] },
  );
  return { type: detail.type, title: 'Make a payment', items: [], rows };
}

/** Every requested entry in the customer's words; the date shown is the one the consent will carry. */
export function describeDetails(details: AuthorizationDetail[], settings: ConsentSettings): DetailView[] {
  return details.map((detail) =>
    detail.type === 'payment_initiation'
      ? paymentInitiation(detail)
      : accountInformation(detail, consentExpiry([detail], settings)),
  );
}

export interface PaymentSummary {
  amount: string;
  /** ISO 4217 code, shown beside the formatted amount. */
  currency: string;
  payee: string;
  payeeIban: string;
}

/** The payment's amount and payee, repeated where the customer confirms (PSD2 RTS Art. 5 dynamic linking). */
export function paymentSummary(details: AuthorizationDetail[]): PaymentSummary | undefined {
  const payment = details.find((d): d is PaymentInitiationDetail => d.type === 'payment_initiation');
  return payment
    ? {
        amount: formatAmount(payment.instructedAmount),
        currency: payment.instructedAmount.currency,
        payee: payment.creditorName,
        payeeIban: formatIban(payment.creditorAccount.iban),
      }
    : undefined;
}
