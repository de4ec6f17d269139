// Who an admin operation acts as, and the customer it names: shared by the operations that record
// their own audit events (incident response, GDPR requests).
import type { Context } from 'koa';
import { NotFound } from '../http/errors.ts';
import type { IncidentActor } from '../incidents/incident-response.ts';
import { requestContext } from '../security/audit.ts';
import type { Services } from '../services.ts';
import type { AdminState } from './auth.ts';

/** The admin key behind the request, with the request's context, as the audit actor. */
export const adminActor = (ctx: Context): IncidentActor => ({
  actor: { type: 'admin', id: (ctx.state as AdminState).adminKey.name },
  context: requestContext(ctx),
});

/** The customer id from the path, when such a customer exists (404 otherwise). */
export async function existingCustomer(services: Services, id: string): Promise<string> {
  if (!(await services.customers.findById(id))) throw new NotFound(`no customer ${id}`);
  return id;
}
