// Enrolled second factors (TOTP devices, later WebAuthn credentials). Secret material is sealed
// with the field cipher, its AAD bound to the factor id, so a seed copied to another row does not
// decrypt. A factor counts only once confirmed (its first valid answer). A factor confirmed in a
// dashboard session opened with a recovery code is held for a while: it signs in to the dashboard
// but is not the possession element of SCA for a TPP until its hold ends (PSD2 RTS Art. 4, 7).
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { FieldCipher } from '../../security/encryption.ts';

export type FactorKind = 'totp' | 'webauthn';

export interface EnrolledFactor {
  id: string;
  customerId: string;
  kind: FactorKind;
  label: string;
  createdAt: Date;
  confirmedAt: Date | null;
  lastUsedAt: Date | null;
  lastUsedStep: number | null;
  /** When the factor starts to count for TPP requests and payments; null when it already does (database clock). */
  heldUntil: Date | null;
}

export interface FactorStore {
  /** The customer's confirmed factors, oldest first (optionally of one kind). */
  list(customerId: string, kind?: FactorKind): Promise<EnrolledFactor[]>;
  /** One of the customer's factors, confirmed or not; another customer's is "not found". */
  get(customerId: string, id: string): Promise<EnrolledFactor | undefined>;
  /** A factor awaiting confirmation; an earlier unconfirmed one of the same kind is dropped. */
  createPending(customerId: string, kind: FactorKind, label: string, secret: string): Promise<EnrolledFactor>;
  /**
   * Marks a pending factor confirmed, held for `holdSeconds` when given (enrolled after a recovery
   * sign-in); false when it is not (or no longer) pending.
   */
  confirm(customerId: string, id: string, holdSeconds?: number): Promise<boolean>;
  remove(customerId: string, id: string): Promise<boolean>;
  /** Ends the hold of every held factor of the customer (an operator's decision); their ids. */
  releaseHolds(customerId: string): Promise<string[]>;
  /** The sealed secret, opened. */
  secret(id: string): Promise<string>;
  /**
   * Records a use at a TOTP time step, atomically: false when that step (or a later one) was
   * already used, so two requests racing with one code cannot both pass.
   */
  claimStep(id: string, step: number): Promise<boolean>;
  touch(id: string): Promise<void>;
}

const aad = (id: string) => `customer_factor:${id}`;
const date = (v: unknown) => (v ? new Date(v as string) : null);

const toFactor = (row: Record<string, unknown>): EnrolledFactor => ({
  id: row.id as string,
  customerId: row.customer_id as string,
  kind: row.kind as FactorKind,
  label: row.label as string,
  createdAt: new Date(row.created_at as string),
  confirmedAt: date(row.confirmed_at),
  lastUsedAt: date(row.last_used_at),
  lastUsedStep: row.last_used_step === null || row.last_used_step === undefined ? null : Number(row.last_used_step),
  heldUntil: date(row.held_until_active),
});

/** Every column, and the hold only while it lasts: judged on the database clock, like every expiry. */
export const factorColumns = (knex: Knex, table = 'customer_factors') => [
  `${table}.*`,
  knex.raw(`CASE WHEN ${table}.held_until > now() THEN ${table}.held_until END AS held_until_active`),
];

/** `held_until` of a factor confirmed now: now plus the hold, or null without one. */
export const holdFrom = (knex: Knex, holdSeconds: number | undefined) =>
  holdSeconds ? knex.raw('now() + make_interval(secs => ?::double precision)', [holdSeconds]) : null;

export function createFactorStore(knex: Knex, cipher: FieldCipher): FactorStore {
  return {
    async list(customerId, kind) {
      const rows = await knex('customer_factors')
        .select(factorColumns(knex))
        .where({ customer_id: customerId, ...(kind ? { kind } : {}) })
        .whereNotNull('confirmed_at')
        .orderBy(['created_at', 'id']);
      return rows.map(toFactor);
    },
    async get(customerId, id) {
      const row = await knex('customer_factors').select(factorColumns(knex)).where({ id, customer_id: customerId }).first();
      return row ? toFactor(row) : undefined;
    },
    async createPending(customerId, kind, label, secret) {
      const id = randomUUID();
      return knex.transaction(async (trx) => {
        await trx('customer_factors').where({ customer_id: customerId, kind }).whereNull('confirmed_at').delete();
        const [row] = await trx('customer_factors')
          .insert({ id, customer_id: customerId, kind, label, secret_encrypted: cipher.encrypt(secret, aad(id)) })
          .returning('*');
        return toFactor(row);
      });
    },
    async confirm(customerId, id, holdSeconds) {
      // Confirmed and held in one statement: the factor never counts for a payment in between.
      const changed = await knex('customer_factors')
        .where({ id, customer_id: customerId })
        .whereNull('confirmed_at')
        .update({ confirmed_at: knex.fn.now(), held_until: holdFrom(knex, holdSeconds) });
      return changed === 1;
    },
    async remove(customerId, id) {
      // Rows returned, not the count: knex-pglite does not report affected rows for a delete.
      const removed = await knex('customer_factors').where({ id, customer_id: customerId }).delete().returning('id');
      return removed.length === 1;
    },
    async releaseHolds(customerId) {
      const released = await knex('customer_factors')
        .where({ customer_id: customerId })
        .where('held_until', '>', knex.fn.now())
        .update({ held_until: knex.fn.now() })
        .returning('id');
      return released.map((row: { id: string }) => row.id).sort();
    },
    async secret(id) {
      const row = await knex('customer_factors').select('secret_encrypted').where({ id }).first();
      if (!row?.secret_encrypted) throw new Error(`factor ${id} has no secret`);
      return cipher.decryptText(row.secret_encrypted, aad(id));
    },
    async claimStep(id, step) {
      const changed = await knex('customer_factors')
        .where({ id })
        .where((q) => q.whereNull('last_used_step').orWhere('last_used_step', '<', step))
        .update({ last_used_step: step, last_used_at: knex.fn.now() });
      return changed === 1;
    },
    async touch(id) {
      await knex('customer_factors').where({ id }).update({ last_used_at: knex.fn.now() });
    },
  };
}
