// The consent lifecycle: accept a TPP's request as a whole, authorise it with the accounts the
// customer picked (a new oidc-provider Grant per consent), reject, revoke, consume, expire.
// Revoking a consent revokes its grant and every token of it.
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { AccountDirectory, BankAccount } from '../accounts/account-directory.ts';
import { HttpError } from '../http/errors.ts';
import type { AuditEvent, AuditLog } from '../security/audit.ts';
import {
  type AuthorizationDetail,
  authorizationDetailSchemas,
  type ConsentType,
  normaliseIban,
} from './authorization-details.ts';
import type { Consent, ConsentStore } from './consent-store.ts';
import type { DynamicLink, DynamicLinking } from './dynamic-linking.ts';

/** What oidc-provider's consent prompt says is missing (interactionDetails().prompt.details). */
export interface PromptDetails {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
  rar?: unknown[];
}

export interface ConsentSettings {
  /** Account-information consents without an expirationDateTime last this long. */
  accountConsentDays: number;
  /** A payment consent must be used (its payment executed) within this many seconds. */
  paymentConsentSeconds: number;
  /** A consent accepted but not yet authorised (accounts not picked) lapses after this. */
  pendingSeconds: number;
}

/** When a consent authorised now for these details ends: the request's date, capped by policy. */
export function consentExpiry(details: AuthorizationDetail[], settings: ConsentSettings, now = Date.now()): Date {
  const first = details[0];
  if (first?.type === 'payment_initiation') return new Date(now + settings.paymentConsentSeconds * 1000);
  const ceiling = now + settings.accountConsentDays * 86_400_000;
  const requested =
    first?.type === 'account_information' && first.expirationDateTime ? Date.parse(first.expirationDateTime) : ceiling;
  return new Date(Math.min(requested, ceiling));
}

/** A consent action the customer cannot take (a foreign account, nothing chosen): shown on the page. */
export class ConsentProblem extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_request', description);
  }
}

/** Request id and erasable personal data of the HTTP request behind an action, for the audit log. */
export type AuditContext = Pick<AuditEvent, 'requestId' | 'personal'>;

export interface ConsentService {
  readonly settings: ConsentSettings;
  /** The requested authorization_details, validated again and typed. */
  parseRequested(rar: unknown[] | undefined): AuthorizationDetail[];
  /** The customer accepted the request as a whole: a consent awaiting the choice of accounts. */
  accept(input: { clientId: string; customerId: string; details: AuthorizationDetail[] }): Promise<Consent>;
  /** Accounts the customer may pick for this consent, and which are fixed by the request. */
  accountChoice(consent: Consent): Promise<{ accounts: BankAccount[]; fixed: string[]; pickOne: boolean }>;
  /** Completes the consent with the chosen accounts; creates its Grant; returns the grant id. */
  authorise(input: {
    provider: Provider;
    consentId: string;
    customerId: string;
    accountIds: string[];
    prompt: PromptDetails;
    /** When SCA last covered this consent: now, or the earlier one a repeat access relies on. */
    scaAt: Date | null;
    /** A payment's authentication code from the SCA of this request (PSD2 RTS Art. 5); required for payments. */
    dynamicLink?: DynamicLink | undefined;
    context?: AuditContext;
  }): Promise<{ consent: Consent; grantId: string }>;
  reject(consentId: string, customerId: string, context?: AuditContext): Promise<void>;
  /** The customer (or an operator) revokes: the consent, its grant and every token end together. */
  revoke(provider: Provider, consentId: string, customerId: string, context?: AuditContext): Promise<Consent | undefined>;
  /** A resource server reports the payment executed: the consent is used up and its tokens end. */
  consume(provider: Provider, consentId: string): Promise<Consent | undefined>;
  /** Expires due consents and revokes their grants (janitor). */
  expireDue(provider: Provider, limit: number): Promise<number>;
}

const TOKEN_MODELS = ['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest'];

/** Deletes a grant and every token issued under it, as oidc-provider's own revocation does. */
export async function revokeGrant(provider: Provider, grantId: string): Promise<void> {
  const models = provider as unknown as Record<string, { adapter?: { revokeByGrantId(id: string): Promise<void> } }>;
  await Promise.all(TOKEN_MODELS.map((model) => models[model]?.adapter?.revokeByGrantId(grantId)));
  const grant = await provider.Grant.find(grantId);
  await grant?.destroy();
}

export function createConsentService(deps: {
  consents: ConsentStore;
  accounts: AccountDirectory;
  settings: ConsentSettings;
  logger: Logger;
  audit: AuditLog;
  dynamicLinking: DynamicLinking;
}): ConsentService {
  const { consents, accounts, settings, audit, dynamicLinking } = deps;
  const record = (type: string, consent: Consent, actor: AuditEvent['actor'], context?: AuditContext) =>
    audit.record({
      type,
      outcome: 'success',
      actor,
      clientId: consent.clientId,
      customerId: consent.customerId,
      ...context,
      details: { consent_id: consent.id, consent_type: consent.type, grant_id: consent.grantId ?? undefined },
    });

  const typeOf = (details: AuthorizationDetail[]): ConsentType => {
    const types = new Set(details.map((d) => d.type));
    if (types.size !== 1) throw new ConsentProblem('one consent covers one type of access');
    return details[0]?.type as ConsentType;
  };

  /** Fills the chosen accounts into the requested details: what the consent approves. */
  const approvedDetails = (consent: Consent, chosen: BankAccount[]): AuthorizationDetail[] =>
    consent.details.map((detail) => {
      if (detail.type === 'account_information') {
        return { ...detail, accounts: chosen.map((a) => ({ iban: a.iban })) };
      }
      return { ...detail, debtorAccount: { iban: (chosen[0] as BankAccount).iban } };
    });

  const service: ConsentService = {
    settings,
    parseRequested(rar) {
      if (!rar?.length) throw new ConsentProblem('the request carries no authorization_details');
      return rar.map((raw) => {
        const type = (raw as { type?: string }).type as ConsentType;
        const schema = authorizationDetailSchemas[type];
        if (!schema) throw new ConsentProblem(`unsupported authorization_details type "${type}"`);
        return schema.parse(raw) as AuthorizationDetail;
      });
    },

    async accept({ clientId, customerId, details }) {
      const type = typeOf(details);
      const first = details[0];
      return consents.create({
        clientId,
        customerId,
        type,
        details,
        // Until the accounts are picked the consent waits no longer than an interaction may take.
        expiresAt: new Date(Math.min(consentExpiry(details, settings).getTime(), Date.now() + settings.pendingSeconds * 1000)),
        frequencyPerDay: first?.type === 'account_information' ? first.frequencyPerDay : undefined,
      });
    },

    async accountChoice(consent) {
      const own = await accounts.listAccounts(consent.customerId);
      const fixedIbans = consent.details.flatMap((d) =>
        d.type === 'account_information' ? (d.accounts ?? []).map((a) => a.iban) : d.debtorAccount ? [d.debtorAccount.iban] : [],
      );
      const byIban = new Map(own.map((a) => [normaliseIban(a.iban), a]));
      const fixed = fixedIbans.map((iban) => {
        const account = byIban.get(normaliseIban(iban));
        if (!account) throw new ConsentProblem('the request names an account you do not hold');
        return account.id;
      });
      return { accounts: own, fixed, pickOne: consent.type === 'payment_initiation' };
    },

    async authorise({ provider, consentId, customerId, accountIds, prompt, scaAt, dynamicLink, context }) {
      const consent = await consents.getForCustomer(consentId, customerId);
      if (consent?.status !== 'awaiting_authorisation') throw new ConsentProblem('this consent can no longer be authorised');
      if (consent.expiresAt.getTime() <= Date.now()) throw new ConsentProblem('this consent has expired');
      const expiresAt = consentExpiry(consent.details, settings);
      const choice = await service.accountChoice(consent);
      const ids = [...new Set(accountIds)];
      if (choice.fixed.length && (ids.length !== choice.fixed.length || !choice.fixed.every((id) => ids.includes(id)))) {
        throw new ConsentProblem('the request is for specific accounts: confirm exactly those');
      }
      if (ids.length === 0) throw new ConsentProblem('choose at least one account');
      if (choice.pickOne && ids.length !== 1) throw new ConsentProblem('choose the one account to pay from');
      const chosen = ids.map((id) => choice.accounts.find((a) => a.id === id));
      if (chosen.some((a) => a === undefined)) throw new ConsentProblem('you can only choose your own accounts');
      const details = approvedDetails(consent, chosen as BankAccount[]);
      // RTS Art. 5: a payment is approved only with the code of the SCA that showed this payment.
      if (consent.type === 'payment_initiation' && !(dynamicLink && (await dynamicLinking.verify(details, dynamicLink)))) {
        throw new ConsentProblem('this payment was not confirmed with your second factor: start again from the app');
      }

      const grant = new provider.Grant({ accountId: customerId, clientId: consent.clientId });
      if (prompt.missingOIDCScope?.length) grant.addOIDCScope(prompt.missingOIDCScope.join(' '));
      if (prompt.missingOIDCClaims?.length) grant.addOIDCClaims(prompt.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(prompt.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      for (const detail of details) grant.addRar(detail as unknown as Parameters<typeof grant.addRar>[0]);
      // The Grant's TTL caps every refresh token of it: the consent's validity, nothing longer.
      (grant as unknown as { consentExpiresAt: Date }).consentExpiresAt = expiresAt;
      const grantId = await grant.save();
      const authorised = await consents.authorise(consentId, {
        details,
        grantId,
        scaAt,
        expiresAt,
        dynamicLink: consent.type === 'payment_initiation' ? dynamicLink : undefined,
      });
      if (!authorised) {
        await grant.destroy();
        throw new ConsentProblem('this consent can no longer be authorised');
      }
      await record('consent.granted', authorised, { type: 'customer', id: customerId }, context);
      return { consent: authorised, grantId };
    },

    async reject(consentId, customerId, context) {
      const consent = await consents.getForCustomer(consentId, customerId);
      const rejected = consent ? await consents.finish(consent.id, 'rejected') : undefined;
      if (rejected) await record('consent.denied', rejected, { type: 'customer', id: customerId }, context);
    },

    async revoke(provider, consentId, customerId, context) {
      const consent = await consents.getForCustomer(consentId, customerId);
      if (!consent) return undefined;
      const revoked = await consents.finish(consent.id, 'revoked');
      if (consent.grantId) await revokeGrant(provider, consent.grantId);
      if (revoked) await record('consent.revoked', revoked, { type: 'customer', id: customerId }, context);
      return revoked ?? consent;
    },

    async consume(provider, consentId) {
      const consent = await consents.get(consentId);
      if (consent?.type !== 'payment_initiation' || consent.status !== 'authorised') return undefined;
      const consumed = await consents.finish(consent.id, 'consumed');
      if (consumed?.grantId) await revokeGrant(provider, consumed.grantId);
      if (consumed) await record('consent.consumed', consumed, { type: 'resource_server' });
      return consumed;
    },

    async expireDue(provider, limit) {
      const expired = await consents.expireDue(limit);
      for (const consent of expired) {
        if (consent.grantId) await revokeGrant(provider, consent.grantId);
        await record('consent.expired', consent, { type: 'system' });
      }
      if (expired.length) deps.logger.info({ count: expired.length }, 'consents expired');
      return expired.length;
    },
  };
  return service;
}
