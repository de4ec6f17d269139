// Bank customers (PSUs) and their passwords.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { PasswordHasher } from './passwords.ts';

export type CustomerStatus = 'active' | 'locked' | 'disabled';

export interface Customer {
  id: string;
  username: string;
  status: CustomerStatus;
  created_at: string;
}

const toCustomer = (row: Record<string, unknown>): Customer => ({
  id: row.id as string,
  username: row.username as string,
  status: row.status as CustomerStatus,
  created_at: new Date(row.created_at as string).toISOString(),
});

/** Usernames compare case-insensitively and without surrounding spaces. */
export const normaliseUsername = (username: string) => username.trim().toLowerCase();

export interface CustomerStore {
  create(username: string, password: string): Promise<Customer>;
  findById(id: string): Promise<Customer | undefined>;
  findByUsername(username: string): Promise<Customer | undefined>;
  list(): Promise<Customer[]>;
  /**
   * The customer by username (whatever its status) and whether the password matches; undefined
   * for an unknown username, after a dummy verification that costs the same (no enumeration).
   */
  checkPassword(username: string, password: string): Promise<{ customer: Customer; passwordOk: boolean } | undefined>;
}

export function createCustomerStore(knex: Knex, passwords: PasswordHasher): CustomerStore {
  return {
    async create(username, password) {
      const [row] = await knex('customers')
        .insert({ id: randomUUID(), username: normaliseUsername(username), password_hash: await passwords.hash(password) })
        .returning('*');
      return toCustomer(row);
    },
    async findById(id) {
      const row = await knex('customers').where({ id }).first();
      return row ? toCustomer(row) : undefined;
    },
    async findByUsername(username) {
      const row = await knex('customers')
        .where({ username: normaliseUsername(username) })
        .first();
      return row ? toCustomer(row) : undefined;
    },
    async list() {
      return (await knex('customers').orderBy('created_at')).map(toCustomer);
    },
    async checkPassword(username, password) {
      const row = await knex('customers')
        .where({ username: normaliseUsername(username) })
        .first();
      if (!row) return passwords.verifyDummy(password).then(() => undefined);
      return { customer: toCustomer(row), passwordOk: await passwords.verify(row.password_hash, password) };
    },
  };
}
