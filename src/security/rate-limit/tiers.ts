// A client's trust tier (set by admins: standard, partner, internal), cached like client lookups
// (CLIENT_CACHE_TTL_MS). An unknown or suspended client has no tier: its requests are anonymous.
import type { ClientStore, TrustTier } from '../../oidc/clients.ts';

const MAX_ENTRIES = 10_000;

export type TierLookup = (clientId: string) => Promise<TrustTier | undefined>;

export function createTierLookup(clients: Pick<ClientStore, 'get'>, ttlMs: number): TierLookup {
  const cache = new Map<string, { tier: TrustTier | undefined; until: number }>();
  return async (clientId) => {
    const hit = cache.get(clientId);
    if (hit && hit.until > Date.now()) return hit.tier;
    const record = await clients.get(clientId);
    const tier = record?.status === 'active' ? record.trust_tier : undefined;
    if (ttlMs > 0) {
      if (cache.size >= MAX_ENTRIES) cache.clear(); // invented ids must not grow memory without bound
      cache.set(clientId, { tier, until: Date.now() + ttlMs });
    }
    return tier;
  };
}
