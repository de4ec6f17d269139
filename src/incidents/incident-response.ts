// Incident response: end everything a compromised client or customer holds, in one audited
// action, from the admin API or the CLI.
// - A client: its live consents are revoked, every grant it holds (through a consent or not) is
//   revoked through oidc-provider with every token of it, and its grantless tokens (client
//   credentials, pushed requests not yet used) are deleted.
// - A customer: the same for everything the customer granted, then every session ends.
// JWT access tokens are not stored and cannot be recalled: they stop at their expiry (at most
// ACCESS_TOKEN_TTL); resource servers that must stop at once use opaque tokens and introspection.
import type Provider from 'oidc-provider';
import { type AuditContext, revokeGrant } from '../consents/consent-service.ts';
import type { AuditEvent, AuditLog } from '../security/audit.ts';
import type { Services } from '../services.ts';
import { createIncidentStore, type IncidentStore, type Owner, type RevokedConsent } from './incident-store.ts';

/** Who acts (an admin key, the CLI's operator) and, over HTTP, the request behind it. */
export interface IncidentActor {
  actor: AuditEvent['actor'];
  context?: AuditContext | undefined;
}

export interface ClientRevocation {
  client_id: string;
  consents_revoked: number;
  grants_revoked: number;
  tokens_revoked: number;
}

export interface SessionsEnded {
  customer_id: string;
  sessions_ended: number;
  portal_sessions_ended: number;
}

export interface CustomerRevocation extends SessionsEnded {
  consents_revoked: number;
  grants_revoked: number;
  tokens_revoked: number;
}

export interface IncidentResponse {
  revokeClient(provider: Provider, clientId: string, by: IncidentActor): Promise<ClientRevocation>;
  revokeCustomer(provider: Provider, customerId: string, by: IncidentActor): Promise<CustomerRevocation>;
  endCustomerSessions(customerId: string, by: IncidentActor): Promise<SessionsEnded>;
}

// The audit row lists the consents it ended, up to this many (the count is always exact).
const LISTED_CONSENTS = 100;

export function createIncidentResponse(deps: { store: IncidentStore; audit: AuditLog }): IncidentResponse {
  const { store, audit } = deps;

  const recordConsents = (consents: RevokedConsent[], by: IncidentActor) =>
    Promise.all(
      consents.map((consent) =>
        audit.record({
          type: 'consent.revoked',
          outcome: 'success',
          actor: by.actor,
          clientId: consent.clientId,
          customerId: consent.customerId,
          ...by.context,
          details: { consent_id: consent.id, consent_type: consent.type, grant_id: consent.grantId ?? undefined, incident: true },
        }),
      ),
    );

  /** Revokes the owner's consents, grants and tokens; returns the counts. */
  const revokeEverything = async (provider: Provider, owner: Owner, by: IncidentActor) => {
    const tokens = await store.countTokens(owner);
    const consents = await store.revokeLiveConsents(owner);
    const grantIds = new Set([...consents.flatMap((c) => (c.grantId ? [c.grantId] : [])), ...(await store.grantIds(owner))]);
    for (const grantId of grantIds) await revokeGrant(provider, grantId);
    await store.deleteGrantlessTokens(owner);
    await recordConsents(consents, by);
    return {
      consents,
      counts: { consents_revoked: consents.length, grants_revoked: grantIds.size, tokens_revoked: tokens },
    };
  };

  const endSessions = async (customerId: string) => {
    const { sessions } = await store.endProviderSessions(customerId);
    const portal = await store.endPortalSessions(customerId);
    return { customer_id: customerId, sessions_ended: sessions, portal_sessions_ended: portal };
  };

  const consentIds = (consents: RevokedConsent[]) => consents.slice(0, LISTED_CONSENTS).map((c) => c.id);

  return {
    async revokeClient(provider, clientId, by) {
      const { consents, counts } = await revokeEverything(provider, { clientId }, by);
      await audit.record({
        type: 'incident.client_revoked',
        outcome: 'success',
        actor: by.actor,
        clientId,
        ...by.context,
        details: { ...counts, consent_ids: consentIds(consents) },
      });
      return { client_id: clientId, ...counts };
    },

    async revokeCustomer(provider, customerId, by) {
      const { consents, counts } = await revokeEverything(provider, { customerId }, by);
      const ended = await endSessions(customerId);
      await audit.record({
        type: 'incident.customer_revoked',
        outcome: 'success',
        actor: by.actor,
        customerId,
        ...by.context,
        details: {
          ...counts,
          sessions_ended: ended.sessions_ended,
          portal_sessions_ended: ended.portal_sessions_ended,
          consent_ids: consentIds(consents),
        },
      });
      return { ...ended, ...counts };
    },

    async endCustomerSessions(customerId, by) {
      const ended = await endSessions(customerId);
      await audit.record({
        type: 'incident.customer_sessions_ended',
        outcome: 'success',
        actor: by.actor,
        customerId,
        ...by.context,
        details: { sessions_ended: ended.sessions_ended, portal_sessions_ended: ended.portal_sessions_ended },
      });
      return ended;
    },
  };
}

/** The incident response of a running server or command, on its database and audit log. */
export const incidentResponseFor = (services: Pick<Services, 'db' | 'audit'>): IncidentResponse =>
  createIncidentResponse({ store: createIncidentStore(services.db.knex), audit: services.audit });
