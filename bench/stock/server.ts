// Stock oidc-provider for comparison: the same library with its in-memory adapter (memory-store.ts), configured
// like Portcullis where the scenarios meet (ES256 everywhere, private_key_jwt, DPoP, FAPI 2.0
// profile for the TPP, client_credentials, introspection, resource indicators with opaque and JWT
// access tokens, refresh-token rotation), and nothing else: no database, no consents, no audit.
// One process (an in-memory store cannot be shared between workers). Configuration comes as a
// JSON file (argv[2]); POST /bench/refresh-tokens mints refresh tokens for the refresh scenario.
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import Provider, { type ClientMetadata } from 'oidc-provider';
import { unboundedMemoryAdapter } from './memory-store.ts';

export interface StockSetup {
  issuer: string;
  port: number;
  signingJwk: JWK;
  tpp: { clientId: string; jwks: { keys: JWK[] }; redirectUri: string };
  rsSecret: { clientId: string; secret: string };
  rsKey: { clientId: string; jwks: { keys: JWK[] } };
  resources: { opaque: string[]; jwt: string };
}

const setup = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as StockSetup;
const algs = ['ES256'] as const;
const resourceServer = (clientId: string, extra: Partial<ClientMetadata>): ClientMetadata => ({
  client_id: clientId,
  grant_types: [],
  response_types: [],
  redirect_uris: [],
  ...extra,
});

const provider = new Provider(setup.issuer, {
  adapter: unboundedMemoryAdapter() as never,
  clients: [
    {
      client_id: setup.tpp.clientId,
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      redirect_uris: [setup.tpp.redirectUri],
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      dpop_bound_access_tokens: true,
      id_token_signed_response_alg: 'ES256',
      jwks: setup.tpp.jwks,
    } as ClientMetadata,
    resourceServer(setup.rsSecret.clientId, {
      token_endpoint_auth_method: 'client_secret_basic',
      client_secret: setup.rsSecret.secret,
    }),
    resourceServer(setup.rsKey.clientId, {
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: 'ES256',
      jwks: setup.rsKey.jwks,
    }),
  ],
  jwks: { keys: [{ ...setup.signingJwk, alg: 'ES256', use: 'sig', kid: 'stock-es256' }] },
  clientAuthMethods: ['private_key_jwt', 'client_secret_basic'],
  clientDefaults: { id_token_signed_response_alg: 'ES256', token_endpoint_auth_method: 'private_key_jwt' },
  enabledJWA: {
    clientAuthSigningAlgValues: [...algs],
    idTokenSigningAlgValues: [...algs],
    requestObjectSigningAlgValues: [...algs],
    userinfoSigningAlgValues: [...algs],
    introspectionSigningAlgValues: [...algs],
    authorizationSigningAlgValues: [...algs],
    dPoPSigningAlgValues: [...algs],
  },
  scopes: ['openid', 'offline_access', 'accounts', 'payments'],
  rotateRefreshToken: true,
  issueRefreshToken: async () => true,
  pkce: { required: () => true },
  features: {
    // Its development login and consent pages stand in for the bank's in the full-flow scenario.
    devInteractions: { enabled: true },
    dPoP: { enabled: true },
    fapi: {
      enabled: true,
      profile: ((_ctx: unknown, client?: { grantTypes?: string[] }) =>
        client && client.grantTypes?.length === 0 ? undefined : '2.0') as never,
    },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (_ctx, _client, oneOf) => oneOf ?? setup.resources.opaque[0],
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resource) => ({
        scope: 'accounts payments',
        audience: resource,
        accessTokenTTL: 300,
        ...(resource === setup.resources.jwt
          ? { accessTokenFormat: 'jwt' as const, jwt: { sign: { alg: 'ES256' } } }
          : { accessTokenFormat: 'opaque' as const }),
      }),
    },
  },
});
provider.proxy = true;

// The bench's mint: refresh tokens of real grants, as a completed code flow leaves them.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'POST' || ctx.path !== '/bench/refresh-tokens') return next();
  const count = Math.min(Number(ctx.query.count ?? 1), 500_000);
  const client = await provider.Client.find(setup.tpp.clientId);
  const tokens: string[] = [];
  for (let i = 0; i < count; i++) {
    const grant = new provider.Grant({ accountId: `customer-${i % 100}`, clientId: setup.tpp.clientId });
    grant.addOIDCScope('openid offline_access');
    grant.addResourceScope(setup.resources.opaque[0] as string, 'accounts');
    const grantId = await grant.save();
    const token = new provider.RefreshToken({
      accountId: `customer-${i % 100}`,
      client,
      grantId,
      gty: 'authorization_code',
      scope: 'openid offline_access accounts',
      resource: setup.resources.opaque[0],
      iiat: Math.floor(Date.now() / 1000),
    } as never);
    tokens.push(await token.save());
  }
  ctx.body = { tokens };
});

provider.listen(setup.port, '127.0.0.1', () => {
  process.stdout.write('stock oidc-provider listening\n');
});
process.once('SIGTERM', () => process.exit(0));
