// Incident response from the command line, through the same service as the admin API:
// `clients revoke-all`, `customers revoke-all`, `customers end-sessions`. Each records its own
// detailed audit event (incident.*), with the operator's login as the actor.
import { findTppClient } from '../../admin/clients-service.ts';
import { incidentResponseFor } from '../../incidents/incident-response.ts';
import type { CommandGroup, CommandSpec } from '../command.ts';
import { customerIdByUsername, operatorIncidentActor } from '../operator.ts';
import { customersErase, customersExport } from './customer-data.ts';

const JWT_NOTE = 'JWT access tokens are not stored: they stop at their expiry (ACCESS_TOKEN_TTL at most).';

export const clientsRevokeAll: CommandSpec = {
  name: 'clients revoke-all',
  summary: 'Revoke every consent, grant and stored token of a client (suspend it too to stop new ones).',
  usage: 'CLIENT_ID [--json]',
  details: [JWT_NOTE],
  positionals: ['CLIENT_ID'],
  selfAudited: true,
  async run(args, ctx, out) {
    const services = await ctx.services();
    const client = await findTppClient(services, args.positionals[0] as string);
    const result = await incidentResponseFor(services).revokeClient(
      (await ctx.provider()).current,
      client.client_id,
      operatorIncidentActor(),
    );
    out.emit(result, [
      `Client ${result.client_id}: ${result.consents_revoked} consent(s) revoked, ${result.grants_revoked} grant(s) and ${result.tokens_revoked} token(s) revoked.`,
    ]);
  },
};

const revokeAll: CommandSpec = {
  name: 'customers revoke-all',
  summary: 'Revoke every consent, grant and stored token of a customer and end all their sessions.',
  usage: '--username USERNAME [--json]',
  details: [JWT_NOTE],
  options: { username: { type: 'string', help: "USERNAME the customer's login name" } },
  selfAudited: true,
  async run(args, ctx, out) {
    const services = await ctx.services();
    const id = await customerIdByUsername(services, args.required('username'));
    const result = await incidentResponseFor(services).revokeCustomer(
      (await ctx.provider()).current,
      id,
      operatorIncidentActor(),
    );
    out.emit(result, [
      `Customer ${id}: ${result.consents_revoked} consent(s) revoked, ${result.grants_revoked} grant(s) and ${result.tokens_revoked} token(s) revoked,`,
      `${result.sessions_ended} sign-in session(s) and ${result.portal_sessions_ended} dashboard session(s) ended.`,
    ]);
  },
};

const endSessions: CommandSpec = {
  name: 'customers end-sessions',
  summary: 'End every session of a customer: sign-in sessions, logins in progress and dashboard sessions.',
  usage: '--username USERNAME [--json]',
  details: ['Consents and tokens stay valid; use `customers revoke-all` to end those too.'],
  options: { username: { type: 'string', help: "USERNAME the customer's login name" } },
  selfAudited: true,
  async run(args, ctx, out) {
    const services = await ctx.services();
    const id = await customerIdByUsername(services, args.required('username'));
    const result = await incidentResponseFor(services).endCustomerSessions(id, operatorIncidentActor());
    out.emit(result, [
      `Customer ${id}: ${result.sessions_ended} sign-in session(s) and ${result.portal_sessions_ended} dashboard session(s) ended.`,
    ]);
  },
};

export const customers: CommandGroup = {
  name: 'customers',
  summary: 'A customer: revoke everything they granted, end their sessions, export or erase their data',
  commands: [revokeAll, endSessions, customersExport, customersErase],
};
