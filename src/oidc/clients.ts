// TPP clients and resource-server clients, in the `clients` table.
// oidc-provider looks a client up on every request (adapter.find('Client')): lookups are cached
// for CLIENT_CACHE_TTL_MS and the cache entry is dropped at once on any change made here, in this
// process and, through the cache bus (PostgreSQL LISTEN/NOTIFY), in every other one.
import type { Knex } from 'knex';
import type { CacheBus } from '../db/cache-bus.ts';

export type ClientStatus = 'active' | 'suspended';
export type ClientKind = 'tpp' | 'resource_server';
export type TrustTier = 'standard' | 'partner' | 'internal';

export type ClientMetadata = Record<string, unknown> & { client_id: string };

export interface ClientRecord {
  client_id: string;
  metadata: ClientMetadata;
  status: ClientStatus;
  kind: ClientKind;
  trust_tier: TrustTier;
  dynamically_registered: boolean;
  created_at: string;
  updated_at: string;
}

export interface ClientStore {
  /** What the provider sees: metadata of an active client, or undefined (suspended = unknown). */
  findForProvider(clientId: string): Promise<ClientMetadata | undefined>;
  /** RFC 7591/7592 registration writes through the provider. */
  saveDynamic(clientId: string, metadata: Record<string, unknown>): Promise<void>;
  deleteDynamic(clientId: string): Promise<void>;
  get(clientId: string, trx?: Knex.Transaction): Promise<ClientRecord | undefined>;
  list(filter?: { kind?: ClientKind; status?: ClientStatus }): Promise<ClientRecord[]>;
  create(
    metadata: ClientMetadata,
    options?: { kind?: ClientKind; trustTier?: TrustTier },
    trx?: Knex.Transaction,
  ): Promise<ClientRecord>;
  update(clientId: string, changes: { metadata?: ClientMetadata; trustTier?: TrustTier }): Promise<ClientRecord | undefined>;
  setStatus(clientId: string, status: ClientStatus): Promise<ClientRecord | undefined>;
  remove(clientId: string): Promise<boolean>;
  invalidate(clientId?: string): void;
}

interface CacheEntry {
  value: ClientMetadata | undefined;
  until: number;
}

const columns = ['client_id', 'metadata', 'status', 'kind', 'trust_tier', 'dynamically_registered', 'created_at', 'updated_at'];

function toRecord(row: Record<string, unknown> | undefined): ClientRecord | undefined {
  if (!row) return undefined;
  return {
    ...(row as unknown as ClientRecord),
    created_at: new Date(row.created_at as string).toISOString(),
    updated_at: new Date(row.updated_at as string).toISOString(),
  };
}

export function createClientStore(knex: Knex, cacheTtlMs: number, bus?: CacheBus): ClientStore {
  const cache = new Map<string, CacheEntry>();
  const invalidate = (clientId?: string) => (clientId ? cache.delete(clientId) : cache.clear());
  bus?.subscribe('client', invalidate, () => invalidate());
  /** Drops the entry here now, and in every process once the change commits. */
  const changed = async (clientId: string, trx?: Knex.Transaction) => {
    invalidate(clientId);
    await bus?.publish('client', clientId, trx);
  };

  const get = async (clientId: string, trx?: Knex.Transaction) =>
    toRecord(await (trx ?? knex)('clients').select(columns).where({ client_id: clientId }).first());

  return {
    async findForProvider(clientId) {
      const hit = cache.get(clientId);
      if (hit && hit.until > Date.now()) return hit.value;
      const row = await knex('clients').select('metadata').where({ client_id: clientId, status: 'active' }).first();
      const value = row ? { ...(row.metadata as ClientMetadata), client_id: clientId } : undefined;
      if (cacheTtlMs > 0) {
        if (cache.size > 10_000) cache.clear(); // unknown ids must not grow memory without bound
        cache.set(clientId, { value, until: Date.now() + cacheTtlMs });
      }
      return value;
    },

    async saveDynamic(clientId, metadata) {
      await knex('clients')
        .insert({ client_id: clientId, metadata: JSON.stringify(metadata), dynamically_registered: true })
        .onConflict('client_id')
        .merge({ metadata: JSON.stringify(metadata), updated_at: knex.fn.now() });
      await changed(clientId);
    },

    async deleteDynamic(clientId) {
      await knex('clients').where({ client_id: clientId }).delete();
      await changed(clientId);
    },

    get,

    async list(filter = {}) {
      const rows = await knex('clients')
        .select(columns)
        .where((q) => {
          if (filter.kind) q.where('kind', filter.kind);
          if (filter.status) q.where('status', filter.status);
        })
        .orderBy('created_at', 'asc');
      return rows.map((r) => toRecord(r) as ClientRecord);
    },

    async create(metadata, options = {}, trx) {
      const [row] = await (trx ?? knex)('clients')
        .insert({
          client_id: metadata.client_id,
          metadata: JSON.stringify(metadata),
          kind: options.kind ?? 'tpp',
          trust_tier: options.trustTier ?? 'standard',
        })
        .returning(columns);
      await changed(metadata.client_id, trx);
      return toRecord(row) as ClientRecord;
    },

    async update(clientId, changes) {
      const patch: Record<string, unknown> = { updated_at: knex.fn.now() };
      if (changes.metadata) patch.metadata = JSON.stringify(changes.metadata);
      if (changes.trustTier) patch.trust_tier = changes.trustTier;
      const [row] = await knex('clients').where({ client_id: clientId }).update(patch).returning(columns);
      await changed(clientId);
      return toRecord(row);
    },

    async setStatus(clientId, status) {
      const [row] = await knex('clients')
        .where({ client_id: clientId })
        .update({ status, updated_at: knex.fn.now() })
        .returning(columns);
      await changed(clientId);
      return toRecord(row);
    },

    async remove(clientId) {
      const count = await knex('clients').where({ client_id: clientId }).delete();
      await changed(clientId);
      return count > 0;
    },

    invalidate,
  };
}
