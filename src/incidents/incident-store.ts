// The queries behind incident response: everything a client or a customer holds, found by the
// ids inside oidc-provider's payloads (`clientId`, `accountId`) as well as through consents, and
// ended in bulk. Grants themselves are revoked through oidc-provider (incident-response.ts).
import type { Knex } from 'knex';
import { LIVE_STATUSES } from '../consents/consent-store.ts';

/** oidc-provider models that are credentials a client can present, or steps towards one. */
export const TOKEN_MODELS = [
  'AccessToken',
  'RefreshToken',
  'AuthorizationCode',
  'ClientCredentials',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PushedAuthorizationRequest',
];

export interface RevokedConsent {
  id: string;
  clientId: string;
  customerId: string;
  type: string;
  grantId: string | null;
}

export type Owner = { clientId: string } | { customerId: string };

export interface IncidentStore {
  /** Moves every live consent of the owner to `revoked`; returns them (their grants must go too). */
  revokeLiveConsents(owner: Owner): Promise<RevokedConsent[]>;
  /** Grants of the owner known to oidc-provider: Grant rows and the grants its tokens belong to. */
  grantIds(owner: Owner): Promise<string[]>;
  /** How many token rows the owner holds now (for the report). */
  countTokens(owner: Owner): Promise<number>;
  /** Deletes the owner's token rows that belong to no grant (client credentials, pending PARs). */
  deleteGrantlessTokens(owner: Owner): Promise<number>;
  /** Ends the customer's oidc-provider sessions and interactions in flight; returns the sessions ended. */
  endProviderSessions(customerId: string): Promise<{ sessions: number; interactions: number }>;
  /** Revokes the customer's dashboard sessions; returns how many were live. */
  endPortalSessions(customerId: string): Promise<number>;
}

/** Rows a statement changed. knex-pglite answers a DELETE with the raw result, not a count. */
const affected = (result: unknown): number =>
  typeof result === 'number' ? result : Number((result as { rowCount?: number } | undefined)?.rowCount ?? 0);

/** Rows whose payload names the owner: oidc-provider's `clientId` or `accountId` member. */
const payloadOf = (q: Knex.QueryBuilder, owner: Owner) =>
  'clientId' in owner
    ? q.whereRaw("payload->>'clientId' = ?", [owner.clientId])
    : q.whereRaw("payload->>'accountId' = ?", [owner.customerId]);

export function createIncidentStore(knex: Knex): IncidentStore {
  return {
    async revokeLiveConsents(owner) {
      const rows = await knex('consents')
        .where('clientId' in owner ? { client_id: owner.clientId } : { customer_id: owner.customerId })
        .whereIn('status', LIVE_STATUSES)
        .update({ status: 'revoked', revoked_at: knex.fn.now(), updated_at: knex.fn.now() })
        .returning(['id', 'client_id', 'customer_id', 'type', 'grant_id']);
      return rows.map((r: Record<string, string | null>) => ({
        id: r.id as string,
        clientId: r.client_id as string,
        customerId: r.customer_id as string,
        type: r.type as string,
        grantId: r.grant_id ?? null,
      }));
    },

    async grantIds(owner) {
      const grants: { id: string }[] = await payloadOf(knex('oidc_payloads').select('id').where('model', 'Grant'), owner);
      const fromTokens: { grant_id: string }[] = await payloadOf(
        knex('oidc_payloads').distinct('grant_id').whereIn('model', TOKEN_MODELS).whereNotNull('grant_id'),
        owner,
      );
      return [...new Set([...grants.map((r) => r.id), ...fromTokens.map((r) => r.grant_id)])];
    },

    async countTokens(owner) {
      const row = await payloadOf(knex('oidc_payloads').count({ n: '*' }).whereIn('model', TOKEN_MODELS), owner).first();
      return Number(row?.n ?? 0);
    },

    async deleteGrantlessTokens(owner) {
      return affected(
        await payloadOf(knex('oidc_payloads').whereIn('model', TOKEN_MODELS).whereNull('grant_id'), owner).delete(),
      );
    },

    async endProviderSessions(customerId) {
      const sessions = affected(
        await knex('oidc_payloads').where('model', 'Session').whereRaw("payload->>'accountId' = ?", [customerId]).delete(),
      );
      // A login or consent in flight would otherwise finish and sign the customer in again.
      const interactions = affected(
        await knex('oidc_payloads')
          .where('model', 'Interaction')
          .where((w) =>
            w
              .whereRaw("payload->'session'->>'accountId' = ?", [customerId])
              .orWhereRaw("payload->'result'->'login'->>'accountId' = ?", [customerId]),
          )
          .delete(),
      );
      return { sessions, interactions };
    },

    async endPortalSessions(customerId) {
      return affected(
        await knex('portal_sessions')
          .where({ customer_id: customerId })
          .whereNull('revoked_at')
          .where('expires_at', '>', knex.fn.now())
          .update({ revoked_at: knex.fn.now() }),
      );
    },
  };
}
