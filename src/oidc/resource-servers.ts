// The resource-server registry: which APIs tokens may be issued for (RFC 8707 `resource`), in
// which format (opaque tokens are introspectable and revocable; JWTs are not), and which client
// record each resource server authenticates with at introspection and revocation.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { CacheBus } from '../db/cache-bus.ts';
import { basicCredentials } from '../security/basic-credentials.ts';
import { randomSecret, sha256Hex } from '../security/secrets.ts';
import type { ClientStore } from './clients.ts';

export type AccessTokenFormat = 'opaque' | 'jwt';

export interface ResourceServer {
  id: string;
  resource: string;
  name: string;
  scopes: string[];
  access_token_format: AccessTokenFormat;
  access_token_ttl: number | null;
  client_id: string;
  created_at: string;
}

export interface NewResourceServer {
  resource: string;
  name: string;
  scopes: string[];
  access_token_format: AccessTokenFormat;
  access_token_ttl?: number | undefined;
  /** How the resource server authenticates: a server-generated secret, or private_key_jwt with its JWKS. */
  auth: { method: 'client_secret_basic' } | { method: 'private_key_jwt'; jwks: { keys: Record<string, unknown>[] } };
  /** Ask for RFC 9701 signed introspection responses (alg of the JWT). */
  introspection_signed_response_alg?: string | undefined;
}

export interface ResourceServerRegistry {
  /** Returns the record and, for secret auth, the secret: shown once, stored only as SHA-256. */
  create(input: NewResourceServer): Promise<{ resourceServer: ResourceServer; clientSecret?: string }>;
  findByResource(resource: string): Promise<ResourceServer | undefined>;
  findByClientId(clientId: string): Promise<ResourceServer | undefined>;
  list(): Promise<ResourceServer[]>;
  remove(id: string): Promise<boolean>;
}

/**
 * Resource servers send their secret with HTTP Basic; the stored client_secret is its SHA-256.
 * Replacing the presented secret by its digest before oidc-provider reads the header lets the
 * provider's own constant-time comparison work on digests, so the plain secret is never stored.
 */
export function hashBasicSecret(authorization: string): string | undefined {
  // Malformed credentials are left as sent: oidc-provider refuses them in its own words.
  const credentials = basicCredentials(authorization);
  if (!credentials) return undefined;
  const id = encodeURIComponent(credentials.clientId);
  return `Basic ${Buffer.from(`${id}:${sha256Hex(credentials.secret)}`).toString('base64')}`;
}

const toRecord = (row: Record<string, unknown>): ResourceServer => ({
  ...(row as unknown as ResourceServer),
  created_at: new Date(row.created_at as string).toISOString(),
});

export function createResourceServerRegistry(
  knex: Knex,
  clients: ClientStore,
  cacheTtlMs: number,
  bus?: CacheBus,
): ResourceServerRegistry {
  const cache = new Map<string, { value: ResourceServer | undefined; until: number }>();
  // Lookups are cached like clients; a change empties the cache in every process (cache-bus.ts).
  bus?.subscribe(
    'resource_servers',
    () => cache.clear(),
    () => cache.clear(),
  );
  const cached = async (key: string, load: () => Promise<ResourceServer | undefined>) => {
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.value;
    const value = await load();
    if (cacheTtlMs > 0) {
      if (cache.size > 10_000) cache.clear();
      cache.set(key, { value, until: Date.now() + cacheTtlMs });
    }
    return value;
  };
  const one = async (where: Record<string, string>) => {
    const row = await knex('resource_servers').where(where).first();
    return row ? toRecord(row) : undefined;
  };

  return {
    async create(input) {
      const id = randomUUID();
      const clientId = `rs_${randomSecret('', 12)}`;
      const clientSecret = input.auth.method === 'client_secret_basic' ? randomSecret('rss_') : undefined;
      const metadata: Record<string, unknown> & { client_id: string } = {
        client_id: clientId,
        client_name: input.name,
        // Resource servers never obtain tokens (oidc-provider FAQ: resource-server-only clients).
        grant_types: [],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: input.auth.method,
        ...(clientSecret ? { client_secret: sha256Hex(clientSecret) } : {}),
        ...(input.auth.method === 'private_key_jwt' ? { jwks: input.auth.jwks } : {}),
        ...(input.introspection_signed_response_alg
          ? { introspection_signed_response_alg: input.introspection_signed_response_alg }
          : {}),
      };
      const row = await knex.transaction(async (trx) => {
        await clients.create(metadata, { kind: 'resource_server', trustTier: 'internal' }, trx);
        const [inserted] = await trx('resource_servers')
          .insert({
            id,
            resource: input.resource,
            name: input.name,
            scopes: input.scopes,
            access_token_format: input.access_token_format,
            access_token_ttl: input.access_token_ttl ?? null,
            client_id: clientId,
          })
          .returning('*');
        await bus?.publish('resource_servers', id, trx);
        return inserted;
      });
      cache.clear();
      return { resourceServer: toRecord(row), ...(clientSecret ? { clientSecret } : {}) };
    },
    findByResource: (resource) => cached(`r:${resource}`, () => one({ resource })),
    findByClientId: (clientId) => cached(`c:${clientId}`, () => one({ client_id: clientId })),
    async list() {
      return (await knex('resource_servers').orderBy('created_at')).map(toRecord);
    },
    async remove(id) {
      const row = await knex('resource_servers').where({ id }).first();
      if (!row) return false;
      await clients.remove(row.client_id); // cascades to the registry row
      cache.clear();
      await bus?.publish('resource_servers', id);
      return true;
    },
  };
}
