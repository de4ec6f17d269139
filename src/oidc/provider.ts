// Builds the oidc-provider instance and keeps it current: when the signing keys change (a
// rotation on any instance, or a scheduled activation), a new Provider is built with the new
// key set and swapped in; requests already running finish on the old one. No restart needed.

import Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { routePath } from '../http/route-path.ts';
import { observeProvider } from '../observability/provider-events.ts';
import type { AuditLog } from '../security/audit.ts';
import { proxyTrust } from '../security/trusted-proxies.ts';
import { recordProviderEvents } from './audit-events.ts';
import { FAPI_AUTH_METHODS } from './client-policy.ts';
import { type ProviderDependencies, providerConfiguration } from './configuration.ts';
import { corsForPublicMetadataOnly } from './cors.ts';
import { withInputLimits } from './input-limits.ts';
import type { SigningKeyStore } from './keys.ts';
import { scriptFreeFormPosts } from './logout.ts';
import { hashBasicSecret } from './resource-servers.ts';
import type { TppCertificateStore } from './tpp-certificates.ts';

type StaticDependencies = Omit<ProviderDependencies, 'jwks'> & { certificates: TppCertificateStore };

const ROUTES = {
  introspection: '/token/introspection',
  revocation: '/token/revocation',
};

const CERTIFICATE_ROUTES = new Set(['pushed_authorization_request', 'token']);

function build(deps: StaticDependencies & ProviderDependencies, logger: Logger, audit: AuditLog): Provider {
  const { resourceServers, mtls, certificates } = deps;
  const provider = new Provider(deps.config.ISSUER, withInputLimits(providerConfiguration(deps, logger)));
  // X-Forwarded-Proto/Host reach this point only from TRUSTED_PROXIES (security/trusted-proxies.ts).
  provider.proxy = proxyTrust(deps.config).enabled;

  recordProviderEvents(provider, logger, audit);
  observeProvider(provider, logger);

  provider.use(scriptFreeFormPosts);
  // Only discovery and the JWKS send CORS headers (cors.ts).
  provider.use(corsForPublicMetadataOnly);
  provider.use(async (ctx, next) => {
    // Resource servers authenticate with a secret stored as SHA-256 (see hashBasicSecret).
    // At every spelling of the path the provider's router serves (`/Token/Introspection/`).
    const path = routePath(ctx.path);
    if (path === ROUTES.introspection || path === ROUTES.revocation) {
      const hashed = hashBasicSecret(ctx.get('authorization'));
      if (hashed) ctx.req.headers.authorization = hashed;
    }
    await next();

    const route = ctx.oidc?.route;
    const client = ctx.oidc?.client;
    if (client?.clientAuthMethod === 'tls_client_auth' && CERTIFICATE_ROUTES.has(route)) {
      const body = ctx.body as { error?: string } | undefined;
      if (body?.error === 'invalid_client') {
        // The client only learns invalid_client; the operator learns why.
        const organisation = client.metadata().organisation_id;
        const problem = mtls.problem(ctx, typeof organisation === 'string' ? organisation : undefined);
        logger.warn({ clientId: client.clientId, route, problem }, 'tls_client_auth certificate refused');
      } else if (route === 'pushed_authorization_request' && ctx.status === 201) {
        // The consent page names the TPP from the certificate it presented with this request.
        const cert = mtls.getCertificate(ctx);
        const identity = mtls.identity(ctx);
        if (cert && identity) await certificates.record(client.clientId, cert, identity);
      }
    }
    if (route === 'discovery' && ctx.body && typeof ctx.body === 'object') {
      // FAPI 2.0 SP 5.3.2.1-3: advertise only the FAPI client authentication methods.
      (ctx.body as Record<string, unknown>).token_endpoint_auth_methods_supported = [...FAPI_AUTH_METHODS];
    }
    if (route === 'introspection' && ctx.oidc.client && ctx.status === 200) {
      // RFC 7662 section 4: only protected resources may introspect.
      if (!(await resourceServers.findByClientId(ctx.oidc.client.clientId))) {
        ctx.status = 400;
        ctx.type = 'application/json';
        ctx.body = { error: 'unauthorized_client', error_description: 'only registered resource servers may introspect tokens' };
      }
    }
  });
  return provider;
}

export interface ProviderHolder {
  readonly current: Provider;
  /** Reloads the keys now; rebuilds the provider when they changed. */
  refresh(): Promise<boolean>;
  stop(): void;
}

export async function createProviderHolder(
  deps: StaticDependencies,
  keys: SigningKeyStore,
  logger: Logger,
  audit: AuditLog,
): Promise<ProviderHolder> {
  const algs = deps.config.SIGNING_ALGS;
  let loaded = await keys.load(algs);
  let current = build({ ...deps, jwks: loaded.jwks }, logger, audit);

  const refresh = async () => {
    const next = await keys.load(algs);
    if (next.fingerprint === loaded.fingerprint) return false;
    current = build({ ...deps, jwks: next.jwks }, logger, audit);
    loaded = next;
    logger.info({ keys: next.fingerprint }, 'signing keys changed; provider reloaded');
    return true;
  };

  const interval = setInterval(() => {
    refresh().catch((err) => logger.error({ err }, 'signing key refresh failed'));
  }, deps.config.KEY_REFRESH_SECONDS * 1000);
  interval.unref();

  return {
    get current() {
      return current;
    },
    refresh,
    stop: () => clearInterval(interval),
  };
}

export function retireAfterSeconds(config: Config): number {
  // Anything a key signed (ID tokens, JWT access tokens, JARM, introspection JWTs) must keep
  // verifying for its lifetime after the key stops signing, plus clock skew.
  return Math.max(config.ACCESS_TOKEN_TTL, config.ID_TOKEN_TTL) + 60;
}

/** oidc-provider's own validation of client metadata (and the FAPI client policy it runs). */
export async function validateClientMetadata(provider: Provider, metadata: Record<string, unknown>): Promise<void> {
  await provider.Client.validate(metadata as unknown as Parameters<Provider['Client']['validate']>[0]);
}
