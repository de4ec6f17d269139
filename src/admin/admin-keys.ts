// Admin API keys: 256 bits of entropy, shown once, stored as SHA-256, compared in constant time.
// Format `pcak_<id>_<secret>`: the id finds the row, the secret's digest is compared.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { constantTimeEqual, sha256Hex } from '../security/secrets.ts';

export const ADMIN_SCOPES = [
  'clients:read',
  'clients:write',
  'resource-servers:write',
  'users:write',
  'keys:read',
  'keys:rotate',
  'audit:read',
  'admin-keys:write',
  'metrics:read',
  'incident:write',
] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export interface AdminKey {
  id: string;
  name: string;
  scopes: AdminScope[];
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

const KEY_FORMAT = /^pcak_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

const toRecord = (row: Record<string, unknown>): AdminKey => ({
  id: row.id as string,
  name: row.name as string,
  scopes: row.scopes as AdminScope[],
  created_at: new Date(row.created_at as string).toISOString(),
  last_used_at: row.last_used_at ? new Date(row.last_used_at as string).toISOString() : null,
  revoked_at: row.revoked_at ? new Date(row.revoked_at as string).toISOString() : null,
});

export interface AdminKeyStore {
  create(name: string, scopes: AdminScope[]): Promise<{ key: string; record: AdminKey }>;
  list(): Promise<AdminKey[]>;
  /** Revokes by name or id; false when no active key matched. */
  revoke(nameOrId: string): Promise<boolean>;
  /** The active key a presented secret belongs to, or undefined. */
  authenticate(presented: string): Promise<AdminKey | undefined>;
}

export function createAdminKeyStore(knex: Knex): AdminKeyStore {
  return {
    async create(name, scopes) {
      const id = randomBytes(8).toString('hex');
      const key = `pcak_${id}_${randomBytes(32).toString('base64url')}`;
      const [row] = await knex('admin_keys')
        .insert({ id, name, key_hash: sha256Hex(key), scopes: [...new Set(scopes)] })
        .returning('*');
      return { key, record: toRecord(row) };
    },
    async list() {
      return (await knex('admin_keys').orderBy('created_at')).map(toRecord);
    },
    async revoke(nameOrId) {
      const count = await knex('admin_keys')
        .where((q) => q.where('name', nameOrId).orWhere('id', nameOrId))
        .whereNull('revoked_at')
        .update({ revoked_at: knex.fn.now() });
      return count > 0;
    },
    async authenticate(presented) {
      const match = KEY_FORMAT.exec(presented);
      // Hash even when the format is wrong, so timing does not tell well-formed keys apart.
      const digest = sha256Hex(presented);
      if (!match) return undefined;
      const row = await knex('admin_keys').where({ id: match[1] }).whereNull('revoked_at').first();
      if (!row || !constantTimeEqual(row.key_hash, digest)) return undefined;
      await knex('admin_keys').where({ id: row.id }).update({ last_used_at: knex.fn.now() });
      return toRecord(row);
    },
  };
}
