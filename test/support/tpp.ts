// A real TPP and a real resource server, driven with oauth4webapi against a TestServer.
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import * as oauth from 'oauth4webapi';
import type { TestServer } from './server.ts';

export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export async function discover(issuer: string): Promise<oauth.AuthorizationServer> {
  const response = await oauth.discoveryRequest(new URL(issuer), { ...insecure, algorithm: 'oidc' });
  return oauth.processDiscoveryResponse(new URL(issuer), response);
}

export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  kid: string;
}

export async function keyPair(
  alg: 'ES256' | 'PS256' | 'EdDSA' | 'RS256' = 'ES256',
  kid = `k-${Math.random().toString(36).slice(2)}`,
): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    extractable: true,
    ...(alg === 'EdDSA' ? { crv: 'Ed25519' } : {}),
  });
  return { privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }, kid };
}

export interface Tpp {
  clientId: string;
  key: KeyPair;
  client: oauth.Client;
  auth: oauth.ClientAuth;
  metadata: Record<string, unknown>;
}

export const REDIRECT_URI = 'https://tpp.example/callback';

/** Registers a TPP through the admin API (private_key_jwt, DPoP-bound). */
export async function registerTpp(server: TestServer, overrides: Record<string, unknown> = {}): Promise<Tpp> {
  const key = await keyPair('ES256');
  const response = await server.admin('POST', '/admin/clients', {
    client_name: 'Test Fintech',
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: { keys: [key.publicJwk] },
    ...overrides,
  });
  if (response.status !== 201) throw new Error(`client registration failed: ${response.status} ${await response.text()}`);
  const metadata = (await response.json()) as { client_id: string; metadata: Record<string, unknown> };
  const client: oauth.Client = { client_id: metadata.client_id, token_endpoint_auth_signing_alg: 'ES256' };
  return {
    clientId: metadata.client_id,
    key,
    client,
    auth: oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }),
    metadata: metadata.metadata,
  };
}

export interface ResourceServer {
  id: string;
  resource: string;
  clientId: string;
  clientSecret: string;
  client: oauth.Client;
  auth: oauth.ClientAuth;
}

export async function registerResourceServer(
  server: TestServer,
  overrides: Record<string, unknown> = {},
): Promise<ResourceServer> {
  const resource = `https://rs-${Math.random().toString(36).slice(2)}.bank.example/api`;
  const response = await server.admin('POST', '/admin/resource-servers', {
    resource,
    name: 'Accounts API',
    scopes: ['accounts', 'payments'],
    ...overrides,
  });
  if (response.status !== 201)
    throw new Error(`resource server registration failed: ${response.status} ${await response.text()}`);
  const body = (await response.json()) as { id: string; resource: string; client_id: string; client_secret: string };
  return {
    id: body.id,
    resource: body.resource,
    clientId: body.client_id,
    clientSecret: body.client_secret,
    client: { client_id: body.client_id },
    auth: oauth.ClientSecretBasic(body.client_secret),
  };
}

/** client_credentials with private_key_jwt and DPoP, retrying once on a DPoP nonce challenge. */
export async function clientCredentials(
  as: oauth.AuthorizationServer,
  tpp: Tpp,
  params: Record<string, string>,
  dpopKey?: CryptoKeyPair,
): Promise<oauth.TokenEndpointResponse> {
  const DPoP = dpopKey ? oauth.DPoP(tpp.client, dpopKey) : undefined;
  const request = () =>
    oauth.clientCredentialsGrantRequest(as, tpp.client, tpp.auth, new URLSearchParams(params), {
      ...insecure,
      ...(DPoP ? { DPoP } : {}),
    });
  let response = await request();
  try {
    return await oauth.processClientCredentialsResponse(as, tpp.client, response);
  } catch (err) {
    if (!oauth.isDPoPNonceError(err)) throw err;
    response = await request();
    return oauth.processClientCredentialsResponse(as, tpp.client, response);
  }
}

export async function introspect(
  as: oauth.AuthorizationServer,
  rs: ResourceServer,
  token: string,
): Promise<oauth.IntrospectionResponse> {
  const response = await oauth.introspectionRequest(as, rs.client, rs.auth, token, insecure);
  return oauth.processIntrospectionResponse(as, rs.client, response);
}

export const dpopKeyPair = async (): Promise<CryptoKeyPair> =>
  (await generateKeyPair('ES256', { extractable: false })) as CryptoKeyPair;
