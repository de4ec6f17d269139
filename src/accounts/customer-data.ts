// GDPR requests for one customer (Art. 15 access, Art. 20 portability, Art. 17 erasure), from the
// CLI (`portcullis customers export|erase`) and the admin API.
// - export: everything stored about the customer as JSON: the profile (never the password hash),
//   bank accounts, consents with their approved details, second factors (never their secrets),
//   dashboard sessions and the audit events about them, personal data included.
// - erase: pseudonymisation, not deletion of the record. Every consent, grant, token and session
//   ends first (incident response, so the TPPs' tokens stop at once); the rows that only make sense
//   while the customer can sign in (factors, recovery codes, accounts, sessions, logins in
//   progress: every table whose rows go with the customer) are deleted; ended consents keep who,
//   when and status but lose their details; the customer row keeps its id, gets a placeholder
//   username, a random password hash and `disabled`. Audit rows stay, so the chain still verifies:
//   their erasable `personal` column (IP, user agent, typed username) becomes NULL, and the chained
//   content names the customer only by the random customer id, which now points at no person.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type Provider from 'oidc-provider';
import type { ConsentStore } from '../consents/consent-store.ts';
import { type IncidentActor, type IncidentResponse, incidentResponseFor } from '../incidents/incident-response.ts';
import type { AuditLog, AuditRow } from '../security/audit.ts';
import type { Services } from '../services.ts';
import type { AccountDirectory } from './account-directory.ts';
import type { CustomerStore } from './customers.ts';
import type { PasswordHasher } from './passwords.ts';

export const EXPORT_FORMAT = 'portcullis.customer-export.v1';
// Tables whose rows belong to the customer and go when the customer is erased are found by their
// ON DELETE CASCADE reference to customers; these stay, pseudonymised instead.
const KEPT_TABLES = new Set(['consents', 'customers']);
const MAX_AUDIT_ROWS = 100_000;

/** Rows a statement changed. knex-pglite answers a DELETE or UPDATE with the raw result, not a count. */
const affected = (result: unknown): number =>
  typeof result === 'number' ? result : Number((result as { rowCount?: number } | undefined)?.rowCount ?? 0);

const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);

export interface CustomerExport {
  format: string;
  exported_at: string;
  customer: Record<string, unknown>;
  accounts: { id: string; iban: string; name: string; currency: string }[];
  consents: Record<string, unknown>[];
  factors: Record<string, unknown>[];
  recovery_codes: { total: number; unused: number };
  sessions: Record<string, unknown>[];
  audit_events: AuditRow[];
}

export interface ErasureReport {
  customer_id: string;
  consents_revoked: number;
  grants_revoked: number;
  tokens_revoked: number;
  sessions_ended: number;
  consents_redacted: number;
  rows_deleted: Record<string, number>;
  audit_rows_erased: number;
}

export interface CustomerData {
  export(customerId: string, by: IncidentActor): Promise<CustomerExport>;
  erase(provider: Provider, customerId: string, by: IncidentActor): Promise<ErasureReport>;
}

export interface CustomerDataDeps {
  knex: Knex;
  customers: CustomerStore;
  accounts: AccountDirectory;
  consents: ConsentStore;
  passwords: PasswordHasher;
  audit: AuditLog;
  incidents: IncidentResponse;
}

/** Audit rows about the customer: as subject, as actor, or a sign-in typed with their username. */
const auditAbout = (q: Knex.QueryBuilder, customerId: string, username: string) =>
  q.where((w) =>
    w
      .where('customer_id', customerId)
      .orWhere('actor_id', customerId)
      .orWhereRaw("lower(btrim(personal->>'username')) = ?", [username]),
  );

export function createCustomerData(deps: CustomerDataDeps): CustomerData {
  const { knex, audit } = deps;

  /** Tables that reference customers ON DELETE CASCADE (factors, accounts, sessions, ...). */
  const ownedTables = async (): Promise<{ table: string; column: string }[]> => {
    const result = await knex.raw(`
      SELECT c.conrelid::regclass::text AS "table", a.attname AS "column"
      FROM pg_constraint c
      JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
      WHERE c.contype = 'f' AND c.confrelid = 'customers'::regclass AND c.confdeltype = 'c'
      ORDER BY 1`);
    return (result.rows as { table: string; column: string }[]).filter((r) => !KEPT_TABLES.has(r.table));
  };

  const mustFind = async (customerId: string) => {
    const row = await knex('customers').where({ id: customerId }).first();
    if (!row) throw new Error(`no customer ${customerId}`);
    return row;
  };

  return {
    async export(customerId, by) {
      const row = await mustFind(customerId);
      const [accounts, consents, factors, codes, sessions, events] = await Promise.all([
        deps.accounts.listAccounts(customerId),
        deps.consents.listForCustomer(customerId),
        knex('customer_factors')
          .select('id', 'kind', 'label', 'created_at', 'confirmed_at', 'last_used_at')
          .where({ customer_id: customerId })
          .orderBy('created_at'),
        knex('customer_recovery_codes').select('used_at').where({ customer_id: customerId }),
        knex('portal_sessions')
          .select('created_at', 'last_seen_at', 'expires_at', 'revoked_at', 'amr')
          .where({ customer_id: customerId })
          .orderBy('created_at'),
        auditAbout(knex('audit_events').select('*'), customerId, row.username as string)
          .orderBy('id')
          .limit(MAX_AUDIT_ROWS),
      ]);
      const result: CustomerExport = {
        format: EXPORT_FORMAT,
        exported_at: new Date().toISOString(),
        customer: {
          id: row.id,
          username: row.username,
          status: row.status,
          created_at: iso(row.created_at),
          updated_at: iso(row.updated_at),
          erased_at: iso(row.erased_at),
          failed_attempts: row.failed_attempts,
          locked_until: iso(row.locked_until),
          last_failed_at: iso(row.last_failed_at),
        },
        accounts: accounts.map((a) => ({ id: a.id, iban: a.iban, name: a.name, currency: a.currency })),
        consents: consents.map((c) => ({
          id: c.id,
          client_id: c.clientId,
          type: c.type,
          status: c.status,
          authorization_details: c.details,
          frequency_per_day: c.frequencyPerDay,
          created_at: iso(c.createdAt),
          expires_at: iso(c.expiresAt),
          authorised_at: iso(c.authorisedAt),
          last_sca_at: iso(c.lastScaAt),
          last_used_at: iso(c.lastUsedAt),
          revoked_at: iso(c.revokedAt),
          consumed_at: iso(c.consumedAt),
        })),
        factors: factors.map((f: Record<string, unknown>) => ({
          id: f.id,
          kind: f.kind,
          label: f.label,
          created_at: iso(f.created_at),
          confirmed_at: iso(f.confirmed_at),
          last_used_at: iso(f.last_used_at),
        })),
        recovery_codes: { total: codes.length, unused: codes.filter((c: { used_at: unknown }) => !c.used_at).length },
        sessions: sessions.map((s: Record<string, unknown>) => ({
          created_at: iso(s.created_at),
          last_seen_at: iso(s.last_seen_at),
          expires_at: iso(s.expires_at),
          revoked_at: iso(s.revoked_at),
          amr: s.amr,
        })),
        audit_events: events.map((e: Record<string, unknown>) => ({
          ...(e as unknown as AuditRow),
          id: Number(e.id),
          occurred_at: new Date(e.occurred_at as string).toISOString(),
        })),
      };
      await audit.record({
        type: 'customer.exported',
        outcome: 'success',
        actor: by.actor,
        customerId,
        ...by.context,
        details: {
          accounts: result.accounts.length,
          consents: result.consents.length,
          factors: result.factors.length,
          audit_events: result.audit_events.length,
        },
      });
      return result;
    },

    async erase(provider, customerId, by) {
      const row = await mustFind(customerId);
      const username = row.username as string;
      // First everything the TPPs hold, through oidc-provider, so their tokens stop at once.
      const revoked = await deps.incidents.revokeCustomer(provider, customerId, by);
      const tables = await ownedTables();
      const placeholderHash = await deps.passwords.hash(randomBytes(32).toString('base64url'));
      const { rowsDeleted, auditRowsErased } = await knex.transaction(async (trx) => {
        const deleted: Record<string, number> = {};
        for (const { table, column } of tables) deleted[table] = affected(await trx(table).where(column, customerId).delete());
        // What oidc-provider still keeps naming the account (consumed codes, expired grants).
        deleted.oidc_payloads = affected(
          await trx('oidc_payloads')
            .where((w) =>
              w
                .whereRaw("payload->>'accountId' = ?", [customerId])
                .orWhereRaw("payload->'session'->>'accountId' = ?", [customerId]),
            )
            .delete(),
        );
        await trx('customers')
          .where({ id: customerId })
          .update({
            username: `erased-${customerId}`,
            password_hash: placeholderHash,
            status: 'disabled',
            failed_attempts: 0,
            locked_until: null,
            last_failed_at: null,
            // The WebAuthn user handle is kept on the person's authenticators: it must not lead back here.
            webauthn_user_handle: null,
            erased_at: trx.fn.now(),
            updated_at: trx.fn.now(),
          });
        // The trigger lets exactly this change through: personal -> NULL, nothing else.
        const erased = affected(
          await auditAbout(trx('audit_events').whereNotNull('personal'), customerId, username).update({ personal: null }),
        );
        return { rowsDeleted: deleted, auditRowsErased: erased };
      });
      const redacted = await deps.consents.eraseDetails(customerId);
      const report: ErasureReport = {
        customer_id: customerId,
        consents_revoked: revoked.consents_revoked,
        grants_revoked: revoked.grants_revoked,
        tokens_revoked: revoked.tokens_revoked,
        sessions_ended: revoked.sessions_ended + revoked.portal_sessions_ended,
        consents_redacted: redacted,
        rows_deleted: rowsDeleted,
        audit_rows_erased: auditRowsErased,
      };
      await audit.record({
        type: 'customer.erased',
        outcome: 'success',
        actor: by.actor,
        customerId,
        ...by.context,
        details: { ...report },
      });
      return report;
    },
  };
}

/** GDPR requests against a running server's or command's services. */
export const customerDataFor = (services: Services): CustomerData =>
  createCustomerData({
    knex: services.db.knex,
    customers: services.customers,
    accounts: services.accounts,
    consents: services.consents,
    passwords: services.passwords,
    audit: services.audit,
    incidents: incidentResponseFor(services),
  });
