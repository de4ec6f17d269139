// Development only (DEMO_DATA): a demo resource server, a demo TPP and a demo customer, so a
// newcomer can try the server at once. Their credentials are generated on first start, never
// committed, kept in DATA_DIR/demo-credentials.json (mode 0600) and printed at every start.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { generate, generateSecret } from 'otplib';
import { groupSecret, TOTP_DIGITS, TOTP_PERIOD } from './accounts/factors/totp.ts';
import { type ProviderHolder, validateClientMetadata } from './oidc/provider.ts';
import type { Services } from './services.ts';

export const DEMO = {
  clientId: 'demo-tpp',
  resource: 'https://api.demo-bank.example/open-banking',
  username: 'demo',
  accounts: [
    { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' },
    { iban: 'DE02120300000000202051', name: 'Savings account', currency: 'EUR' },
  ],
};

/** The demo TPP's own page (src/demo-tpp) receives the authorization responses. */
export const demoRedirectUri = (issuer: string) => `${issuer}/demo/callback`;

export interface DemoCredentials {
  client_id: string;
  client_private_jwk: Record<string, unknown>;
  redirect_uri: string;
  resource: string;
  resource_server_client_id: string;
  resource_server_client_secret: string;
  customer_username: string;
  customer_password: string;
  /** The demo customer's authenticator seed (base32): payments and new connections need its codes. */
  customer_totp_secret?: string;
}

/** The demo customer's second factor: an authenticator app whose seed is printed (development only). */
async function enrolDemoTotp(services: Services, customerId: string): Promise<string> {
  const { factors } = services.authentication;
  const secret = generateSecret({ length: 20 });
  const factor = await factors.createPending(customerId, 'totp', 'Demo authenticator', secret);
  await factors.confirm(customerId, factor.id);
  return secret;
}

/** The demo customer's current code, for the demo page (a newcomer need not install an app). */
export const demoTotpCode = (secret: string): Promise<string> => generate({ secret, period: TOTP_PERIOD, digits: TOTP_DIGITS });

async function create(services: Services, holder: ProviderHolder): Promise<DemoCredentials> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = 'demo-tpp-key-1';
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  const metadata = {
    client_id: DEMO.clientId,
    client_name: 'Demo Fintech',
    organisation_name: 'Demo Fintech Ltd',
    redirect_uris: [demoRedirectUri(services.config.ISSUER)],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types: ['code'],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    dpop_bound_access_tokens: true,
    jwks: { keys: [publicJwk] },
    scope: 'openid offline_access accounts payments',
    // RFC 9396 section 10: a client may only ask for the types it registered (oidc-provider: none by default).
    authorization_details_types: ['account_information', 'payment_initiation'],
  };
  await validateClientMetadata(holder.current, metadata);
  const existingRs = await services.resourceServers.findByResource(DEMO.resource);
  if (existingRs) await services.resourceServers.remove(existingRs.id);
  const { resourceServer, clientSecret } = await services.resourceServers.create({
    resource: DEMO.resource,
    name: 'Demo Bank Open Banking API',
    scopes: ['accounts', 'payments'],
    access_token_format: 'opaque',
    auth: { method: 'client_secret_basic' },
  });
  await services.clients.remove(DEMO.clientId);
  await services.clients.create(metadata, { trustTier: 'standard' });
  const password = `demo-${randomBytes(4).toString('hex')}`;
  const existing = await services.customers.findByUsername(DEMO.username);
  let totpSecret: string | undefined;
  if (!existing) {
    const customer = await services.customers.create(DEMO.username, password);
    for (const account of DEMO.accounts) await services.accounts.addAccount(customer.id, account);
    totpSecret = await enrolDemoTotp(services, customer.id);
  }
  return {
    client_id: DEMO.clientId,
    client_private_jwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    redirect_uri: demoRedirectUri(services.config.ISSUER),
    resource: DEMO.resource,
    resource_server_client_id: resourceServer.client_id,
    resource_server_client_secret: clientSecret as string,
    customer_username: DEMO.username,
    customer_password: existing ? '(set before; unchanged)' : password,
    ...(totpSecret ? { customer_totp_secret: totpSecret } : {}),
  };
}

/** Data folders from before second factors: the demo customer gets its authenticator now. */
async function ensureDemoTotp(services: Services, credentials: DemoCredentials): Promise<boolean> {
  if (credentials.customer_totp_secret) return false;
  const customer = await services.customers.findByUsername(DEMO.username);
  if (!customer || (await services.authentication.factors.list(customer.id, 'totp')).length) return false;
  credentials.customer_totp_secret = await enrolDemoTotp(services, customer.id);
  return true;
}

export async function seedDemo(services: Services, holder: ProviderHolder): Promise<DemoCredentials> {
  const path = join(services.config.DATA_DIR, 'demo-credentials.json');
  let credentials: DemoCredentials | undefined;
  if (existsSync(path) && (await services.clients.get(DEMO.clientId))) {
    credentials = JSON.parse(readFileSync(path, 'utf8')) as DemoCredentials;
    if (await ensureDemoTotp(services, credentials)) {
      writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
    }
  } else {
    credentials = await create(services, holder);
    writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  }
  const { issuer } = holder.current;
  process.stdout.write(
    [
      '',
      '  Portcullis demo data (development only)',
      `  issuer              ${issuer}`,
      `  discovery           ${issuer}/.well-known/openid-configuration`,
      `  demo TPP            client_id=${credentials.client_id}  (private_key_jwt, ES256, DPoP)`,
      `  demo resource       ${credentials.resource}`,
      `  resource server     client_id=${credentials.resource_server_client_id}  secret=${credentials.resource_server_client_secret}`,
      `  demo customer       username=${credentials.customer_username}  password=${credentials.customer_password}`,
      ...(credentials.customer_totp_secret
        ? [
            `  authenticator key   ${groupSecret(credentials.customer_totp_secret)}  (TOTP, 6 digits, 30 s; codes also shown on ${issuer}/demo)`,
          ]
        : []),
      `  all of it, with the TPP's private key: ${path}`,
      '',
    ].join('\n'),
  );
  return credentials;
}
