// One-time recovery codes: ten random codes shown once, stored as SHA-256 (high-entropy secrets
// that are only compared), each consumed atomically. They restore access to the dashboard when
// the phone is lost; they are not a possession element, so they never complete SCA for a TPP.
import { randomBytes, randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { sha256Hex } from '../../security/secrets.ts';
import type { FormFields, SecondFactor } from './types.ts';

export const RECOVERY_CODE_COUNT = 10;
// Crockford-style alphabet without look-alikes (no i, l, o, u); 10 characters = 50 bits each.
const ALPHABET = 'abcdefghjkmnpqrstvwxyz0123456789';
const LENGTH = 10;

export interface RecoveryCodes extends SecondFactor {
  /** Replaces every earlier code with ten new ones, returned once (never stored in clear). */
  generate(customerId: string): Promise<string[]>;
  remaining(customerId: string): Promise<number>;
  /** Every code of the customer ends (the last possession factor was removed). */
  clear(customerId: string): Promise<void>;
}

/** "abcde-fghjk" -> "abcdefghjk": spaces, dashes and case do not matter when typed. */
const normalise = (value: unknown) => (typeof value === 'string' ? value.replace(/[\s-]/g, '').toLowerCase() : '');

function newCode(): string {
  const bytes = randomBytes(LENGTH);
  const chars = [...bytes].map((b) => ALPHABET[b % ALPHABET.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}

export function createRecoveryCodes(knex: Knex): RecoveryCodes {
  const unused = (customerId: string) => knex('customer_recovery_codes').where({ customer_id: customerId }).whereNull('used_at');
  const remaining = async (customerId: string) => {
    const [row] = await unused(customerId).count({ n: '*' });
    return Number(row?.n ?? 0);
  };
  return {
    kind: 'recovery',
    label: 'Recovery code',
    hint: 'One of the codes you saved when you set up your authenticator app.',
    amr: ['rec'],
    possession: false,
    async isEnrolled(customerId) {
      return (await remaining(customerId)) > 0;
    },
    async verify(customerId, form: FormFields) {
      const code = normalise(form.code);
      if (code.length !== LENGTH) return undefined;
      const used = await unused(customerId)
        .where({ code_hash: sha256Hex(code) })
        .update({ used_at: knex.fn.now() });
      return used === 1 ? { kind: 'recovery', amr: ['rec'] } : undefined;
    },
    async generate(customerId) {
      const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newCode);
      await knex.transaction(async (trx) => {
        await trx('customer_recovery_codes').where({ customer_id: customerId }).delete();
        await trx('customer_recovery_codes').insert(
          codes.map((code) => ({ id: randomUUID(), customer_id: customerId, code_hash: sha256Hex(normalise(code)) })),
        );
      });
      return codes;
    },
    remaining,
    async clear(customerId) {
      await knex('customer_recovery_codes').where({ customer_id: customerId }).delete();
    },
  };
}
