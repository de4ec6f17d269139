// Consent records. The approved authorization_details are sealed (they carry IBANs and names);
// everything a query filters on (client, customer, status, expiry, grant) is plain.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { FieldCipher } from '../security/encryption.ts';
import type { AuthorizationDetail, ConsentType } from './authorization-details.ts';
import type { DynamicLink } from './dynamic-linking.ts';

export type ConsentStatus = 'awaiting_authorisation' | 'authorised' | 'rejected' | 'revoked' | 'expired' | 'consumed';

/** States a consent can still leave; the others are final. */
export const LIVE_STATUSES: ConsentStatus[] = ['awaiting_authorisation', 'authorised'];

export interface Consent {
  id: string;
  clientId: string;
  customerId: string;
  type: ConsentType;
  status: ConsentStatus;
  details: AuthorizationDetail[];
  grantId: string | null;
  frequencyPerDay: number | null;
  createdAt: Date;
  updatedAt: Date;
  expiresAt: Date;
  authorisedAt: Date | null;
  lastScaAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  consumedAt: Date | null;
  /** A payment's authentication code from SCA (PSD2 RTS Art. 5); null for account access. */
  dynamicLink: DynamicLink | null;
}

export interface NewConsent {
  clientId: string;
  customerId: string;
  type: ConsentType;
  details: AuthorizationDetail[];
  expiresAt: Date;
  frequencyPerDay?: number | undefined;
}

export interface ConsentStore {
  create(input: NewConsent): Promise<Consent>;
  get(id: string): Promise<Consent | undefined>;
  /** Only the customer's own consent: another customer's id is "not found" (OWASP API1). */
  getForCustomer(id: string, customerId: string): Promise<Consent | undefined>;
  findByGrantId(grantId: string): Promise<Consent | undefined>;
  listForCustomer(customerId: string): Promise<Consent[]>;
  /** awaiting_authorisation -> authorised, with the final details (chosen accounts) and its grant. */
  authorise(
    id: string,
    change: {
      details: AuthorizationDetail[];
      grantId: string;
      /** When SCA last covered this consent (null: never, so the next request needs it). */
      scaAt: Date | null;
      expiresAt: Date;
      dynamicLink?: DynamicLink | undefined;
    },
  ): Promise<Consent | undefined>;
  /**
   * PSD2 RTS Art. 10: the last SCA through this TPP for the customer's account access, i.e. the
   * latest last_sca_at of their authorised, unexpired account-information consents with it.
   */
  lastAccountSca(customerId: string, clientId: string): Promise<Date | undefined>;
  /** Moves a live consent to a final state; undefined when it was not live (nothing changed). */
  finish(id: string, status: 'rejected' | 'revoked' | 'expired' | 'consumed'): Promise<Consent | undefined>;
  markUsed(id: string): Promise<void>;
  /**
   * PSD2 RTS Art. 36(5): counts one unattended access of the consent today (UTC) if fewer than
   * `perDay` were counted; false (and nothing counted) when the day's allowance is spent.
   */
  countUnattendedAccess(id: string, perDay: number): Promise<boolean>;
  /** Live consents past their expiry, moved to `expired`; returns them (their grants must go too). */
  expireDue(limit: number): Promise<Consent[]>;
  /**
   * GDPR erasure: the approved details (IBANs, names, amounts, payees) of the customer's ended
   * consents are replaced by an empty list; the record (who, when, status) stays. Returns how many.
   */
  eraseDetails(customerId: string): Promise<number>;
}

const date = (v: unknown) => (v ? new Date(v as string) : null);

export function createConsentStore(knex: Knex, cipher: FieldCipher): ConsentStore {
  const aad = (id: string) => `consent:${id}`;
  const toConsent = (row: Record<string, unknown>): Consent => ({
    id: row.id as string,
    clientId: row.client_id as string,
    customerId: row.customer_id as string,
    type: row.type as ConsentType,
    status: row.status as ConsentStatus,
    details: JSON.parse(cipher.decryptText(row.details_encrypted as string, aad(row.id as string))),
    grantId: (row.grant_id as string | null) ?? null,
    frequencyPerDay: (row.frequency_per_day as number | null) ?? null,
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
    expiresAt: new Date(row.expires_at as string),
    authorisedAt: date(row.authorised_at),
    lastScaAt: date(row.last_sca_at),
    lastUsedAt: date(row.last_used_at),
    revokedAt: date(row.revoked_at),
    consumedAt: date(row.consumed_at),
    dynamicLink: row.sca_auth_code
      ? {
          code: row.sca_auth_code as string,
          nonce: row.sca_nonce as string,
          amr: (typeof row.sca_amr === 'string' ? JSON.parse(row.sca_amr) : row.sca_amr) as string[],
        }
      : null,
  });
  const one = async (where: Record<string, string>) => {
    const row = await knex('consents').where(where).first();
    return row ? toConsent(row) : undefined;
  };

  return {
    async create(input) {
      const id = randomUUID();
      const [row] = await knex('consents')
        .insert({
          id,
          client_id: input.clientId,
          customer_id: input.customerId,
          type: input.type,
          status: 'awaiting_authorisation',
          details_encrypted: cipher.encrypt(JSON.stringify(input.details), aad(id)),
          frequency_per_day: input.frequencyPerDay ?? null,
          expires_at: input.expiresAt,
        })
        .returning('*');
      return toConsent(row);
    },
    get: (id) => one({ id }),
    getForCustomer: (id, customerId) => one({ id, customer_id: customerId }),
    findByGrantId: (grantId) => one({ grant_id: grantId }),
    async listForCustomer(customerId) {
      const rows = await knex('consents').where({ customer_id: customerId }).orderBy('created_at', 'desc');
      return rows.map(toConsent);
    },
    async authorise(id, change) {
      const [row] = await knex('consents')
        .where({ id, status: 'awaiting_authorisation' })
        .update({
          status: 'authorised',
          details_encrypted: cipher.encrypt(JSON.stringify(change.details), aad(id)),
          grant_id: change.grantId,
          expires_at: change.expiresAt,
          authorised_at: knex.fn.now(),
          last_sca_at: change.scaAt,
          ...(change.dynamicLink
            ? {
                sca_auth_code: change.dynamicLink.code,
                sca_nonce: change.dynamicLink.nonce,
                sca_amr: JSON.stringify(change.dynamicLink.amr),
              }
            : {}),
          updated_at: knex.fn.now(),
        })
        .returning('*');
      return row ? toConsent(row) : undefined;
    },
    async lastAccountSca(customerId, clientId) {
      const row = await knex('consents')
        .max({ at: 'last_sca_at' })
        .where({ customer_id: customerId, client_id: clientId, type: 'account_information', status: 'authorised' })
        .where('expires_at', '>', knex.fn.now())
        .first();
      return row?.at ? new Date(row.at) : undefined;
    },
    async finish(id, status) {
      const stamp =
        status === 'revoked' ? { revoked_at: knex.fn.now() } : status === 'consumed' ? { consumed_at: knex.fn.now() } : {};
      const [row] = await knex('consents')
        .where({ id })
        .whereIn('status', LIVE_STATUSES)
        .update({ status, updated_at: knex.fn.now(), ...stamp })
        .returning('*');
      return row ? toConsent(row) : undefined;
    },
    async markUsed(id) {
      await knex('consents').where({ id }).update({ last_used_at: knex.fn.now() });
    },
    async countUnattendedAccess(id, perDay) {
      // One statement, so concurrent introspections can never count past the allowance.
      const result = await knex.raw(
        `INSERT INTO consent_access_days (consent_id, day, unattended)
           VALUES (?, (now() AT TIME ZONE 'UTC')::date, 1)
         ON CONFLICT (consent_id, day) DO UPDATE SET unattended = consent_access_days.unattended + 1
           WHERE consent_access_days.unattended < ?
         RETURNING unattended`,
        [id, perDay],
      );
      return (result.rows?.length ?? 0) > 0;
    },
    async expireDue(limit) {
      const rows = await knex('consents')
        .whereIn(
          'id',
          knex('consents').select('id').whereIn('status', LIVE_STATUSES).where('expires_at', '<=', knex.fn.now()).limit(limit),
        )
        .whereIn('status', LIVE_STATUSES)
        .update({ status: 'expired', updated_at: knex.fn.now() })
        .returning('*');
      return rows.map(toConsent);
    },
    async eraseDetails(customerId) {
      const rows: { id: string }[] = await knex('consents')
        .select('id')
        .where({ customer_id: customerId })
        .whereNotIn('status', LIVE_STATUSES);
      for (const { id } of rows) {
        await knex('consents')
          .where({ id })
          .update({ details_encrypted: cipher.encrypt('[]', aad(id)) });
      }
      return rows.length;
    },
  };
}
