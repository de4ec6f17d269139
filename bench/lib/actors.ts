// Who takes part in the bench on Portcullis: a TPP (private_key_jwt ES256, DPoP), three resource
// servers (opaque tokens with a SHA-256-hashed secret, opaque tokens with private_key_jwt, JWT
// access tokens), and customers holding one account and an authenticator app each, all sharing
// one argon2id hash so setting up thousands of them costs one hash.
import { randomBytes, randomUUID } from 'node:crypto';
import { generateSecret } from 'otplib';
import type { Customer, FlowClient } from './flow.ts';
import { admin, type Portcullis } from './portcullis.ts';
import { newKey, type SigningKey } from './sign.ts';

export interface ResourceServerActor {
  clientId: string;
  resource: string;
  secret?: string;
  key?: SigningKey;
}

export interface World {
  tpp: { clientId: string; key: SigningKey };
  dpopKey: SigningKey;
  /** Opaque tokens; authenticates with client_secret_basic (secret stored as SHA-256). */
  rsSecret: ResourceServerActor;
  /** Opaque tokens; authenticates with private_key_jwt. */
  rsKey: ResourceServerActor;
  /** JWT access tokens (ES256). */
  rsJwt: ResourceServerActor;
  customers: Customer[];
  flowClient: FlowClient;
}

export const REDIRECT_URI = 'https://tpp.bench/callback';

export async function registerResourceServer(
  server: Portcullis,
  resource: string,
  format: 'opaque' | 'jwt',
  key?: SigningKey,
): Promise<ResourceServerActor> {
  const created = await admin<{ client_id: string; client_secret?: string }>(server, 'POST', '/admin/resource-servers', {
    resource,
    name: `Bench API ${new URL(resource).pathname}`,
    scopes: ['accounts', 'payments'],
    access_token_format: format,
    ...(key ? { auth_method: 'private_key_jwt', jwks: { keys: [key.publicJwk] } } : {}),
  });
  return {
    clientId: created.client_id,
    resource,
    ...(created.client_secret ? { secret: created.client_secret } : {}),
    ...(key ? { key } : {}),
  };
}

/**
 * Customers with one account and a confirmed authenticator app (TOTP) each; the first is created
 * normally, the rest copy its password hash.
 */
export async function createCustomers(server: Portcullis, count: number): Promise<Customer[]> {
  const { services, db } = server;
  const password = `bench-${randomBytes(6).toString('hex')}`;
  const totpSecret = generateSecret({ length: 20 });
  const prefix = `bench-${randomBytes(3).toString('hex')}`;
  const first = await services.customers.create(`${prefix}-0`, password);
  const { password_hash: hash } = await db.knex('customers').select('password_hash').where({ id: first.id }).first();
  const rows = Array.from({ length: count - 1 }, (_, i) => ({
    id: randomUUID(),
    username: `${prefix}-${i + 1}`,
    password_hash: hash,
  }));
  for (let i = 0; i < rows.length; i += 500) await db.knex('customers').insert(rows.slice(i, i + 500));
  const ids = [first.id, ...rows.map((r) => r.id)];
  const { factors } = services.authentication;
  for (let i = 0; i < ids.length; i += 50) {
    await Promise.all(
      ids.slice(i, i + 50).map(async (id, j) => {
        const iban = BENCH_IBANS[(i + j) % BENCH_IBANS.length] as string;
        await services.accounts.addAccount(id, { iban, name: 'Current account', currency: 'EUR' });
        const factor = await factors.createPending(id, 'totp', 'Bench phone', totpSecret);
        await factors.confirm(id, factor.id);
      }),
    );
  }
  return ids.map((_, i) => ({ username: `${prefix}-${i}`, password, totpSecret }));
}

// Valid IBANs (mod-97) for the accounts customers hold.
const BENCH_IBANS = ['DE89370400440532013000', 'DE02120300000000202051', 'GB82WEST12345698765432', 'FR1420041010050500013M02606'];

export async function setupWorld(server: Portcullis, customerCount: number): Promise<World> {
  const tppKey = await newKey('bench-tpp-1');
  const client = await admin<{ client_id: string }>(server, 'POST', '/admin/clients', {
    client_name: 'Bench Fintech',
    // A large TPP: its per-client limits are the partner tier's.
    trust_tier: 'partner',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    dpop_bound_access_tokens: true,
    authorization_details_types: ['account_information', 'payment_initiation'],
    jwks: { keys: [tppKey.publicJwk] },
  });
  const rsSecret = await registerResourceServer(server, 'https://api.bench/accounts', 'opaque');
  const rsKey = await registerResourceServer(server, 'https://api.bench/payments', 'opaque', await newKey('bench-rs-1'));
  const rsJwt = await registerResourceServer(server, 'https://api.bench/jwt', 'jwt');
  const customers = await createCustomers(server, customerCount);
  return {
    tpp: { clientId: client.client_id, key: tppKey },
    dpopKey: await newKey('bench-dpop'),
    rsSecret,
    rsKey,
    rsJwt,
    customers,
    flowClient: {
      clientId: client.client_id,
      redirectUri: REDIRECT_URI,
      resource: rsSecret.resource,
      scope: 'openid accounts',
      authorizationDetails: [{ type: 'account_information', permissions: ['balances', 'transactions'] }],
    },
  };
}
