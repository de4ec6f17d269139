// Incident response in the admin API (scope `incident:write`): revoke everything of a client or
// of a customer, end a customer's sessions. Each call records one detailed audit event (counts,
// consents ended) itself, with the admin key as the actor, instead of the router's generic row.
import { z } from 'zod';
import { incidentResponseFor } from '../incidents/incident-response.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import type { Services } from '../services.ts';
import { adminActor, existingCustomer } from './actors.ts';
import { findTppClient } from './clients-service.ts';
import type { Operation } from './router.ts';

const counts = {
  consents_revoked: z.number().int().describe('live consents moved to revoked'),
  grants_revoked: z.number().int().describe('oidc-provider grants revoked, with every token of each'),
  tokens_revoked: z.number().int().describe('stored tokens and pending requests ended (JWT access tokens run to their expiry)'),
};
const sessions = {
  customer_id: z.string(),
  sessions_ended: z.number().int().describe('sign-in sessions at the authorization server'),
  portal_sessions_ended: z.number().int().describe('sessions of the customer dashboard'),
};
export const clientRevocationOutput = z.object({ client_id: z.string(), ...counts });
export const customerRevocationOutput = z.object({ ...sessions, ...counts });
export const sessionsEndedOutput = z.object(sessions);

export function incidentOperations(services: Services, holder: ProviderHolder): Operation[] {
  const incidents = incidentResponseFor(services);
  const by = adminActor;
  const customer = (id: string) => existingCustomer(services, id);

  return [
    {
      method: 'post',
      path: '/admin/clients/:id/revoke-all',
      scope: 'incident:write',
      selfAudited: true,
      summary:
        'Revoke every consent, grant and stored token of a client (audited as incident.client_revoked). Suspend it too to stop new ones',
      output: clientRevocationOutput,
      status: 200,
      async handle(ctx) {
        const client = await findTppClient(services, ctx.params.id as string);
        return incidents.revokeClient(holder.current, client.client_id, by(ctx));
      },
    },
    {
      method: 'post',
      path: '/admin/customers/:id/revoke-all',
      scope: 'incident:write',
      selfAudited: true,
      summary:
        'Revoke every consent, grant and stored token of a customer and end all their sessions (audited as incident.customer_revoked)',
      output: customerRevocationOutput,
      status: 200,
      async handle(ctx) {
        return incidents.revokeCustomer(holder.current, await customer(ctx.params.id as string), by(ctx));
      },
    },
    {
      method: 'post',
      path: '/admin/customers/:id/end-sessions',
      scope: 'incident:write',
      selfAudited: true,
      summary:
        'End every session of a customer: sign-in sessions, logins in progress, dashboard sessions (audited as incident.customer_sessions_ended)',
      output: sessionsEndedOutput,
      status: 200,
      async handle(ctx) {
        return incidents.endCustomerSessions(await customer(ctx.params.id as string), by(ctx));
      },
    },
  ];
}
