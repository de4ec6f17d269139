// Storage of WebAuthn: credentials (the public key and signature counter behind a `webauthn`
// factor) and the challenges waiting for an answer. A credential is written with its factor in
// one transaction, already confirmed (a verified registration is its own first answer); removing
// the factor removes it. Challenges are taken once, atomically, whatever the answer turns out to
// be, and only while they are fresh.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { holdFrom } from './factor-store.ts';

export type Ceremony = 'registration' | 'authentication';

export interface StoredCredential {
  factorId: string;
  customerId: string;
  /** base64url */
  credentialId: string;
  /** COSE_Key bytes. */
  publicKey: Uint8Array<ArrayBuffer>;
  signCount: number;
  transports: string[];
  backupEligible: boolean;
  /** While set, its factor is held after a recovery sign-in: not the possession element for a TPP. */
  heldUntil: Date | null;
}

export interface NewCredential {
  credentialId: string;
  publicKey: Uint8Array<ArrayBuffer>;
  signCount: number;
  transports: string[];
  aaguid: string;
  backupEligible: boolean;
}

export interface PendingChallenge {
  customerId: string;
  ceremony: Ceremony;
  nonce: string;
}

export interface WebAuthnStore {
  /** The customer's credentials of confirmed factors, oldest first. */
  credentials(customerId: string): Promise<StoredCredential[]>;
  /** One of the customer's credentials by its id; another customer's is "not found". */
  credential(customerId: string, credentialId: string): Promise<StoredCredential | undefined>;
  /**
   * A confirmed factor named `label` with its credential, held for `holdSeconds` when given (added
   * after a recovery sign-in); undefined when the credential id is already registered.
   */
  add(customerId: string, label: string, credential: NewCredential, holdSeconds?: number): Promise<string | undefined>;
  /**
   * Records an assertion's counter, atomically: false when the stored counter is not below it
   * (WebAuthn L3 6.1.1: a counter that does not grow may mean a cloned authenticator). Two
   * zeroes pass: authenticators without a counter (most synced passkeys) always send 0.
   */
  claimCounter(factorId: string, signCount: number): Promise<boolean>;
  /** The customer's WebAuthn user handle (user.id), made at first use. */
  userHandle(customerId: string): Promise<Uint8Array<ArrayBuffer>>;
  /** Stores the challenge nonce of an attempt, replacing an earlier one of the same attempt. */
  putChallenge(attempt: string, challenge: PendingChallenge, ttlSeconds: number): Promise<void>;
  /** Takes the attempt's challenge (single use); undefined when none, expired or another customer's. */
  takeChallenge(attempt: string, customerId: string, ceremony: Ceremony): Promise<PendingChallenge | undefined>;
  /** Drops expired challenges (janitor); returns how many. */
  deleteExpired(limit: number): Promise<number>;
}

const toCredential = (row: Record<string, unknown>): StoredCredential => ({
  factorId: row.factor_id as string,
  customerId: row.customer_id as string,
  credentialId: row.credential_id as string,
  publicKey: new Uint8Array(Buffer.from(row.public_key as string, 'base64url')),
  signCount: Number(row.sign_count),
  transports: (typeof row.transports === 'string' ? JSON.parse(row.transports) : row.transports) as string[],
  backupEligible: Boolean(row.backup_eligible),
  heldUntil: row.held_until_active ? new Date(row.held_until_active as string) : null,
});

export function createWebAuthnStore(knex: Knex): WebAuthnStore {
  const confirmed = (customerId: string) =>
    knex('webauthn_credentials as w')
      .join('customer_factors as f', 'f.id', 'w.factor_id')
      .select('w.*', knex.raw('CASE WHEN f.held_until > now() THEN f.held_until END AS held_until_active'))
      .where({ 'w.customer_id': customerId, 'f.customer_id': customerId, 'f.kind': 'webauthn' })
      .whereNotNull('f.confirmed_at');

  return {
    async credentials(customerId) {
      const rows = await confirmed(customerId).orderBy(['f.created_at', 'f.id']);
      return rows.map(toCredential);
    },
    async credential(customerId, credentialId) {
      const row = await confirmed(customerId).where({ 'w.credential_id': credentialId }).first();
      return row ? toCredential(row) : undefined;
    },
    async add(customerId, label, credential, holdSeconds) {
      const id = randomUUID();
      return knex.transaction(async (trx) => {
        const taken = await trx('webauthn_credentials').where({ credential_id: credential.credentialId }).first('factor_id');
        if (taken) return undefined;
        await trx('customer_factors').insert({
          id,
          customer_id: customerId,
          kind: 'webauthn',
          label,
          confirmed_at: trx.fn.now(),
          held_until: holdFrom(trx, holdSeconds),
        });
        await trx('webauthn_credentials').insert({
          factor_id: id,
          customer_id: customerId,
          credential_id: credential.credentialId,
          public_key: Buffer.from(credential.publicKey).toString('base64url'),
          sign_count: credential.signCount,
          transports: JSON.stringify(credential.transports),
          aaguid: credential.aaguid,
          backup_eligible: credential.backupEligible,
        });
        return id;
      });
    },
    async claimCounter(factorId, signCount) {
      const claimed = await knex('webauthn_credentials')
        .where({ factor_id: factorId })
        .where((q) =>
          q.where('sign_count', '<', signCount).orWhere((z) => z.where('sign_count', 0).andWhereRaw('? = 0', [signCount])),
        )
        .update({ sign_count: signCount })
        .returning('factor_id');
      if (claimed.length === 1) await knex('customer_factors').where({ id: factorId }).update({ last_used_at: knex.fn.now() });
      return claimed.length === 1;
    },
    async userHandle(customerId) {
      const fresh = randomBytes(32).toString('base64url');
      // Set once: a concurrent first registration keeps whichever handle was written first.
      await knex('customers').where({ id: customerId }).whereNull('webauthn_user_handle').update({ webauthn_user_handle: fresh });
      const row = await knex('customers').where({ id: customerId }).first('webauthn_user_handle');
      return new Uint8Array(Buffer.from(row?.webauthn_user_handle ?? fresh, 'base64url'));
    },
    async putChallenge(attempt, challenge, ttlSeconds) {
      await knex('webauthn_challenges')
        .insert({
          attempt,
          customer_id: challenge.customerId,
          ceremony: challenge.ceremony,
          nonce: challenge.nonce,
          created_at: knex.fn.now(),
          expires_at: knex.raw('now() + make_interval(secs => ?::double precision)', [ttlSeconds]),
        })
        .onConflict('attempt')
        .merge();
    },
    async takeChallenge(attempt, customerId, ceremony) {
      // Deleted whoever asks: a wrong customer or ceremony burns it too, and nothing answers twice.
      // Freshness on the database clock, like every other expiry.
      const result = await knex.raw(
        'DELETE FROM webauthn_challenges WHERE attempt = ? RETURNING customer_id, ceremony, nonce, expires_at > now() AS fresh',
        [attempt],
      );
      const row = (result.rows as Record<string, unknown>[])[0];
      if (!row?.fresh || row.customer_id !== customerId || row.ceremony !== ceremony) return undefined;
      return { customerId, ceremony, nonce: row.nonce as string };
    },
    async deleteExpired(limit) {
      const expired = knex('webauthn_challenges').select('attempt').where('expires_at', '<=', knex.fn.now()).limit(limit);
      const deleted = await knex('webauthn_challenges').whereIn('attempt', expired).delete().returning('attempt');
      return deleted.length;
    },
  };
}
