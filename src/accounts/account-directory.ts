// Which bank accounts a customer holds. A narrow interface, so a bank can answer it from its
// core banking system instead; the PostgreSQL implementation below is the default.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { normaliseIban } from '../consents/authorization-details.ts';
import type { FieldCipher } from '../security/encryption.ts';
import { sha256Hex } from '../security/secrets.ts';

export interface BankAccount {
  id: string;
  customerId: string;
  iban: string;
  name: string;
  currency: string;
}

export interface AccountDirectory {
  /** The customer's accounts, in a stable order. */
  listAccounts(customerId: string): Promise<BankAccount[]>;
  /** One of the customer's accounts by id, or undefined when it is not theirs. */
  getAccount(customerId: string, accountId: string): Promise<BankAccount | undefined>;
  /** One of the customer's accounts by IBAN, or undefined when it is not theirs. */
  findByIban(customerId: string, iban: string): Promise<BankAccount | undefined>;
}

export interface AccountRegistry extends AccountDirectory {
  addAccount(customerId: string, account: { iban: string; name: string; currency: string }): Promise<BankAccount>;
}

export function createPostgresAccountDirectory(knex: Knex, cipher: FieldCipher): AccountRegistry {
  const aad = (id: string, field: string) => `customer_account:${id}:${field}`;
  const toAccount = (row: Record<string, string>): BankAccount => ({
    id: row.id as string,
    customerId: row.customer_id as string,
    iban: cipher.decryptText(row.iban_encrypted as string, aad(row.id as string, 'iban')),
    name: cipher.decryptText(row.name_encrypted as string, aad(row.id as string, 'name')),
    currency: row.currency as string,
  });
  return {
    async listAccounts(customerId) {
      const rows = await knex('customer_accounts').where({ customer_id: customerId }).orderBy(['created_at', 'id']);
      return rows.map(toAccount);
    },
    async getAccount(customerId, accountId) {
      const row = await knex('customer_accounts').where({ customer_id: customerId, id: accountId }).first();
      return row ? toAccount(row) : undefined;
    },
    async findByIban(customerId, iban) {
      const row = await knex('customer_accounts')
        .where({ customer_id: customerId, iban_hash: sha256Hex(normaliseIban(iban)) })
        .first();
      return row ? toAccount(row) : undefined;
    },
    async addAccount(customerId, account) {
      const id = randomUUID();
      const iban = normaliseIban(account.iban);
      await knex('customer_accounts').insert({
        id,
        customer_id: customerId,
        iban_encrypted: cipher.encrypt(iban, aad(id, 'iban')),
        iban_hash: sha256Hex(iban),
        name_encrypted: cipher.encrypt(account.name, aad(id, 'name')),
        currency: account.currency,
      });
      return { id, customerId, iban, name: account.name, currency: account.currency };
    },
  };
}
