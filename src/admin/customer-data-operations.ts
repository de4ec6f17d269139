// GDPR requests in the admin API (scope `users:write`): export everything stored about a
// customer, or erase (pseudonymise) them. Each records its own audit event (customer.exported,
// customer.erased) with the admin key as the actor. src/accounts/customer-data.ts says what is in
// the export and what erasure deletes, redacts and keeps.
import { z } from 'zod';
import { customerDataFor } from '../accounts/customer-data.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import type { Services } from '../services.ts';
import { adminActor, existingCustomer } from './actors.ts';
import type { Operation } from './router.ts';
import { auditEventOutput } from './schemas.ts';

const timestamp = z.string().nullable();

export const customerExportOutput = z.object({
  format: z.string(),
  exported_at: z.string(),
  customer: z.object({
    id: z.string(),
    username: z.string(),
    status: z.string(),
    created_at: timestamp,
    updated_at: timestamp,
    erased_at: timestamp,
    failed_attempts: z.number().int(),
    locked_until: timestamp,
    last_failed_at: timestamp,
  }),
  accounts: z.array(z.object({ id: z.string(), iban: z.string(), name: z.string(), currency: z.string() })),
  consents: z.array(z.record(z.string(), z.unknown())).describe('with the approved authorization_details'),
  factors: z
    .array(
      z.object({
        id: z.string(),
        kind: z.string(),
        label: z.string(),
        created_at: timestamp,
        confirmed_at: timestamp,
        last_used_at: timestamp,
      }),
    )
    .describe('second factors, never their secrets'),
  recovery_codes: z.object({ total: z.number().int(), unused: z.number().int() }),
  sessions: z.array(z.record(z.string(), z.unknown())).describe('dashboard sessions'),
  audit_events: z.array(auditEventOutput),
});

export const customerErasureOutput = z.object({
  customer_id: z.string(),
  consents_revoked: z.number().int(),
  grants_revoked: z.number().int(),
  tokens_revoked: z.number().int(),
  sessions_ended: z.number().int(),
  consents_redacted: z.number().int().describe('ended consents whose approved details were erased'),
  rows_deleted: z.record(z.string(), z.number().int()).describe('per table'),
  audit_rows_erased: z.number().int().describe('audit rows whose personal data became NULL (the chain stays intact)'),
});

export function customerDataOperations(services: Services, holder: ProviderHolder): Operation[] {
  const data = customerDataFor(services);
  const by = adminActor;
  const customer = (id: string) => existingCustomer(services, id);

  return [
    {
      method: 'get',
      path: '/admin/customers/:id/export',
      scope: 'users:write',
      selfAudited: true,
      summary: 'Everything stored about a customer, as JSON (GDPR Art. 15/20; audited as customer.exported)',
      output: customerExportOutput,
      status: 200,
      async handle(ctx) {
        return data.export(await customer(ctx.params.id as string), by(ctx));
      },
    },
    {
      method: 'post',
      path: '/admin/customers/:id/erase',
      scope: 'users:write',
      selfAudited: true,
      summary:
        'Pseudonymise a customer (GDPR Art. 17): revoke everything, delete their data, keep the audit chain (audited as customer.erased)',
      output: customerErasureOutput,
      status: 200,
      async handle(ctx) {
        return data.erase(holder.current, await customer(ctx.params.id as string), by(ctx));
      },
    },
  ];
}
