// Who a command acts as, and the customer it names: one definition for every command that writes
// an audit event or looks a customer up by username.
import { userInfo } from 'node:os';
import type { IncidentActor } from '../incidents/incident-response.ts';
import type { Services } from '../services.ts';
import { CommandFailed } from './command.ts';

/** The operator behind a command: their login on this machine, as an admin actor. */
export const operatorActor = () => ({ type: 'admin' as const, id: `cli:${userInfo().username}` });

/** The operator as the actor of an incident-response or GDPR action (no request context). */
export const operatorIncidentActor = (): IncidentActor => ({ actor: operatorActor() });

/** The id of the customer a command names by username; a missing one ends the command (exit 1). */
export async function customerIdByUsername(services: Services, username: string): Promise<string> {
  const customer = await services.customers.findByUsername(username);
  if (!customer) throw new CommandFailed(`no customer "${username}"`);
  return customer.id;
}
