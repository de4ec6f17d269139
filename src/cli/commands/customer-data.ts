// `portcullis customers export|erase USERNAME`: GDPR requests (access and portability, erasure).
// Both record their own audit event (customer.exported, customer.erased) with the operator's login.
import { customerDataFor } from '../../accounts/customer-data.ts';
import { type CommandSpec, UsageError } from '../command.ts';
import { customerIdByUsername, operatorIncidentActor } from '../operator.ts';

export const customersExport: CommandSpec = {
  name: 'customers export',
  summary: 'Write everything stored about a customer as JSON (GDPR Art. 15 and 20).',
  usage: 'USERNAME',
  details: [
    'Profile (never the password hash), bank accounts, consents with their approved details, second',
    'factors (never their secrets), dashboard sessions and the audit events about the customer.',
    'The output is JSON whatever --json says; it holds personal data: hand it over securely.',
  ],
  positionals: ['USERNAME'],
  selfAudited: true,
  async run(args, ctx) {
    const services = await ctx.services();
    const id = await customerIdByUsername(services, args.positionals[0] as string);
    const data = await customerDataFor(services).export(id, operatorIncidentActor());
    process.stdout.write(`${JSON.stringify(data, null, 2)}\n`);
  },
};

export const customersErase: CommandSpec = {
  name: 'customers erase',
  summary: 'Pseudonymise a customer (GDPR Art. 17): revoke everything, delete their data, keep the audit chain.',
  usage: 'USERNAME --yes [--json]',
  details: [
    'Revokes every consent, grant and token and ends every session; deletes second factors, recovery',
    'codes, bank accounts and sessions; keeps ended consents without their details; the customer row',
    'keeps its random id only (placeholder username, disabled); audit rows keep their chain and lose',
    'their erasable personal data (IP, user agent, typed username). Irreversible.',
  ],
  options: { yes: { type: 'boolean', help: 'confirm the erasure (it cannot be undone)' } },
  positionals: ['USERNAME'],
  selfAudited: true,
  async run(args, ctx, out) {
    if (!args.flag('yes')) throw new UsageError('erasing a customer cannot be undone: add --yes to confirm');
    const services = await ctx.services();
    const id = await customerIdByUsername(services, args.positionals[0] as string);
    const report = await customerDataFor(services).erase((await ctx.provider()).current, id, operatorIncidentActor());
    const deleted = Object.values(report.rows_deleted).reduce((a, b) => a + b, 0);
    out.emit(report, [
      `Customer ${id} erased: ${report.consents_revoked} consent(s) and ${report.grants_revoked} grant(s) revoked,`,
      `${report.tokens_revoked} token(s) ended, ${deleted} row(s) deleted, ${report.audit_rows_erased} audit row(s) without personal data now.`,
    ]);
  },
};
