// oidc-provider configuration for the FAPI 2.0 Security Profile (final, Feb 2025).
// Each setting that a standard dictates names the clause it comes from.

import { isIP } from 'node:net';
import type { Context } from 'koa';
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { CONSENT_SCOPES, MAX_FREQUENCY_PER_DAY, scopesForKinds } from '../consents/authorization-details.ts';
import type { Consent, ConsentStore } from '../consents/consent-store.ts';
import type { DynamicLinking } from '../consents/dynamic-linking.ts';
import { render } from '../http/views.ts';
import { createOutboundFetch, parseAllowedHosts, urlProblem } from '../security/outbound-fetch.ts';
import { ACR_VALUES } from './acr.ts';
import { jwksCheckingFetch } from './client-jwks-fetch.ts';
import { assertClientJwks } from './client-keys.ts';
import { assertOperatorFieldsKept, checkRegistrationBody } from './client-metadata.ts';
import { applyFapiClientPolicy, FAPI_ALGS, FAPI_AUTH_METHODS, isResourceServerShape } from './client-policy.ts';
import { consentScopesNeedDetails } from './consent-scopes.ts';
import { scaInteractionPolicy } from './interaction-policy.ts';
import { rpInitiatedLogout } from './logout.ts';
import type { Mtls } from './mtls.ts';
import { assertRoles } from './psd2-roles.ts';
import { richAuthorizationRequests } from './rar.ts';
import { registrationPolicies } from './registration-bound.ts';
import type { ResourceServerRegistry } from './resource-servers.ts';

export interface ProviderDependencies {
  config: Config;
  adapter: NonNullable<Configuration['adapter']>;
  jwks: NonNullable<Configuration['jwks']>;
  cookieKeys: string[];
  dpopNonceSecret: Buffer;
  resourceServers: ResourceServerRegistry;
  consents: ConsentStore;
  /** PSD2 RTS Art. 5: a payment consent's tokens are good only while its details match its SCA code. */
  dynamicLinking: DynamicLinking;
  findAccount: NonNullable<Configuration['findAccount']>;
  /** RFC 8705 client certificates (TLS socket or trusted proxy) and the QWAC identity in them. */
  mtls: Mtls;
}

// RFC 8705 section 5: the endpoints a client reaches over the mTLS listener (oidc-provider's routes).
export const MTLS_ALIASED_ROUTES = {
  token_endpoint: '/token',
  pushed_authorization_request_endpoint: '/request',
  introspection_endpoint: '/token/introspection',
  revocation_endpoint: '/token/revocation',
  userinfo_endpoint: '/me',
};

/** RFC 8705 section 5 `mtls_endpoint_aliases`, when an mTLS base URL is configured. */
export function mtlsEndpointAliases(config: Config): Record<string, string> | undefined {
  const base = config.MTLS_BASE_URL;
  if (!base) return undefined;
  return Object.fromEntries(Object.entries(MTLS_ALIASED_ROUTES).map(([name, path]) => [name, `${base}${path}`]));
}

// FAPI 2.0 SP 5.3.2.1: access tokens are short-lived; never beyond an hour whatever is configured.
const ACCESS_TOKEN_CEILING = 3600;
// Seconds of clock skew allowed on JWTs we receive (iat, nbf, exp).
const CLOCK_TOLERANCE = 15;
// How fresh a consent's last_used_at must be kept (it is informational: the dashboard's "last used").
const LAST_USED_PRECISION_MS = 60_000;

type TokenLike = { resourceServer?: { accessTokenTTL?: number } };
type GrantLike = { exp?: number; consentExpiresAt?: Date };

/** Seconds left until an instant, at least 1. */
const secondsUntil = (epochSeconds: number) => Math.max(1, Math.floor(epochSeconds - Date.now() / 1000));

/**
 * PSD2 RTS Art. 36(5): an access is "customer present" when the resource server forwards the
 * customer's address it received from the TPP (FAPI `x-fapi-customer-ip-address`) with its
 * introspection request; any other introspection of a consent's token is an unattended access.
 */
const CUSTOMER_IP_HEADER = 'x-fapi-customer-ip-address';

const customerPresent = (ctx: { get(name: string): string }) => isIP(ctx.get(CUSTOMER_IP_HEADER).trim()) !== 0;

/**
 * Whether the token being asked for acts for a customer: every grant but client_credentials (PAR
 * and the authorization endpoint lead to a customer's code; code and refresh grants carry one).
 */
function actsForCustomer(ctx: KoaContextWithOIDC): boolean {
  return !(
    ctx.oidc.route === 'token' && (ctx.oidc.params as { grant_type?: unknown } | undefined)?.grant_type === 'client_credentials'
  );
}

/**
 * The consent kinds a request may lead to: those the client is registered for
 * (`authorization_details_types`; all when unset), and of those, when the request carries
 * authorization_details, only the kinds it asks for. Resource-server scopes of other kinds are not
 * granted (CONSENT_SCOPES).
 */
function consentKinds(
  ctx: KoaContextWithOIDC,
  client: { authorizationDetailsTypes?: readonly string[] } | undefined,
): readonly string[] {
  let kinds: readonly string[] = client?.authorizationDetailsTypes ?? Object.keys(CONSENT_SCOPES);
  const requested = ctx.oidc?.params?.authorization_details;
  if (typeof requested === 'string') {
    try {
      const types = (JSON.parse(requested) as { type?: unknown }[]).map((detail) => detail?.type);
      kinds = kinds.filter((kind) => types.includes(kind));
    } catch {
      // Malformed details are refused by the RAR check (invalid_authorization_details) already.
    }
  }
  return kinds;
}

/** Tokens whose audience is this resource server (or that carry no audience) are its to see. */
function audienceIncludes(aud: unknown, resource: string): boolean {
  return Array.isArray(aud) ? aud.includes(resource) : aud === resource;
}

export function providerConfiguration(deps: ProviderDependencies, logger?: Logger): Configuration {
  const { config, resourceServers, consents, dynamicLinking, mtls } = deps;
  const aliases = mtlsEndpointAliases(config);
  /** A payment consent still matches the code its SCA produced (RTS Art. 5); other consents need none. */
  const dynamicallyLinked = async (consent: Consent) =>
    consent.type !== 'payment_initiation' ||
    (consent.dynamicLink !== null && (await dynamicLinking.verify(consent.details, consent.dynamicLink)));
  const defaultAlg = config.SIGNING_ALGS[0];
  const algs = [...FAPI_ALGS];
  const accessTokenTtl = (_ctx: unknown, token: TokenLike) =>
    Math.min(token.resourceServer?.accessTokenTTL ?? config.ACCESS_TOKEN_TTL, ACCESS_TOKEN_CEILING);
  const fetchPolicy = {
    allowedHosts: parseAllowedHosts(config.OUTBOUND_FETCH_ALLOWED_HOSTS),
    timeoutMs: config.OUTBOUND_FETCH_TIMEOUT_MS,
    maxBytes: config.OUTBOUND_FETCH_MAX_BYTES,
    allowPrivate: config.OUTBOUND_FETCH_ALLOW_PRIVATE,
  };

  return {
    adapter: deps.adapter,
    jwks: deps.jwks,
    findAccount: deps.findAccount,
    ...(aliases ? { discovery: { mtls_endpoint_aliases: aliases } } : {}),
    cookies: {
      keys: deps.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    // FAPI 2.0 SP 5.3.2.2-3: only the authorization code flow.
    responseTypes: ['code'],
    // RS client_secret_basic exists only for resource servers at introspection/revocation;
    // TPPs are held to the FAPI methods by the client policy, and discovery lists only those.
    clientAuthMethods: [...FAPI_AUTH_METHODS, 'client_secret_basic'],
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'private_key_jwt',
      id_token_signed_response_alg: defaultAlg,
      authorization_signed_response_alg: defaultAlg,
      // RFC 9396 section 10: a TPP may ask for both PSD2 types unless it registered fewer
      // (an account-information-only TPP registers ["account_information"]).
      authorization_details_types: ['account_information', 'payment_initiation'],
      // RFC 9701 responses are signed only when a resource server asks (Accept header).
      introspection_signed_response_alg: defaultAlg,
    },
    enabledJWA: {
      clientAuthSigningAlgValues: algs,
      idTokenSigningAlgValues: algs,
      requestObjectSigningAlgValues: algs,
      userinfoSigningAlgValues: algs,
      introspectionSigningAlgValues: algs,
      authorizationSigningAlgValues: algs,
      dPoPSigningAlgValues: algs,
    },
    extraClientMetadata: {
      properties: ['organisation_name', 'organisation_id'],
      validator(ctx, key, value, metadata) {
        if (value !== undefined && (typeof value !== 'string' || value.length > 200)) {
          throw new errors.InvalidClientMetadata(`${key} must be a string of at most 200 characters`);
        }
        if (key !== 'organisation_name') return; // the policy runs once per client
        // FAPI 2.0 SP 5.4: every client's registered keys, TPP or resource server, whenever loaded.
        assertClientJwks((metadata as { jwks?: unknown }).jwks);
        // OWASP API7: a jwks_uri the server could never fetch is refused when it is registered.
        const jwksUri = (metadata as { jwks_uri?: unknown }).jwks_uri;
        if (typeof jwksUri === 'string') {
          const problem = URL.canParse(jwksUri) ? urlProblem(new URL(jwksUri), fetchPolicy) : 'not a URL';
          if (problem) throw new errors.InvalidClientMetadata(`jwks_uri: ${problem}`);
        }
        const route = (ctx as KoaContextWithOIDC | undefined)?.oidc?.route;
        if (route === 'registration' || route === 'client_update') {
          // RFC 7591/7592 through oidc-provider: strict input, then the FAPI rules.
          const sent = checkRegistrationBody(route, (ctx as KoaContextWithOIDC).oidc.body);
          if (route === 'client_update') {
            assertOperatorFieldsKept(
              sent,
              (ctx as KoaContextWithOIDC).oidc.client?.metadata(),
              metadata as Record<string, unknown>,
            );
          }
          applyFapiClientPolicy(metadata as Record<string, unknown>, sent);
        } else if (!isResourceServerShape(metadata as Record<string, unknown>)) {
          applyFapiClientPolicy(metadata as Record<string, unknown>);
        }
      },
    },
    // OWASP API7: every server-side fetch (a client's jwks_uri) goes through the outbound policy;
    // FAPI 2.0 SP 5.4: what it returns holds only keys a client may register (client-jwks-fetch.ts).
    fetch: jwksCheckingFetch(createOutboundFetch(fetchPolicy), (url, problem) =>
      logger?.warn({ jwks_uri: url, problem }, 'client JWKS refused'),
    ) as never,
    fetchResponseBodyLimits: {
      jwks_uri: config.OUTBOUND_FETCH_MAX_BYTES,
      sector_identifier_uri: config.OUTBOUND_FETCH_MAX_BYTES,
      'client_id metadata document': 5 * 1024,
    },
    // FAPI 2.0 SP 5.3.2.2-2: PKCE with S256 always.
    pkce: { required: () => true },
    allowOmittingSingleRegisteredRedirectUri: false,
    // Confidential server-side clients only: a cross-origin (Origin-bearing) request to PAR, token,
    // introspection, revocation or userinfo is refused once its client is known. This hook is not
    // consulted for preflights or before the client is identified: the CORS headers oidc-provider
    // sets there are removed by cors.ts, so only discovery and the JWKS send any.
    clientBasedCORS: () => false,
    acceptQueryParamAccessTokens: false,
    conformIdTokenClaims: true,
    // FAPI 2.0 SP 5.3.2.1-8 and the conformance suite: iat/nbf up to 10 s ahead are accepted.
    clockTolerance: CLOCK_TOLERANCE,
    // Replaces oidc-provider's default, so its FAPI 2.0 `aud` rule is kept here. oidc-provider
    // checks `iat` only on assertions without `exp`: one "issued" minutes ahead passed. BRIEF:
    // iat more than 60 s in the future is refused; we refuse beyond the clock tolerance, like nbf.
    async assertJwtClientAuthClaimsAndHeader(ctx, claims) {
      if (ctx.oidc.isFapi('2.0') && claims.aud !== ctx.oidc.issuer) {
        throw new errors.InvalidClientAuth('audience (aud) must equal the issuer identifier url');
      }
      if (typeof claims.iat === 'number' && claims.iat > Math.floor(Date.now() / 1000) + CLOCK_TOLERANCE) {
        throw new errors.InvalidClientAuth('client assertion iat is in the future');
      }
    },
    // PSD2 scopes (account information, payment initiation) beside the OpenID ones; resource
    // servers may define more, which clients without a `scope` restriction can request.
    scopes: ['openid', 'offline_access', 'accounts', 'payments'],
    // `accounts` and `payments` only with an authorization_details entry of their kind, refused at
    // PAR and the authorization endpoint alike (consent-scopes.ts).
    extraParams: { scope: consentScopesNeedDetails },
    // Identity claims only: `sub`; the authentication facts (acr, amr, auth_time) when requested.
    claims: { openid: ['sub'], acr: null, amr: null, auth_time: null, iss: null, sid: null },
    subjectTypes: ['public'],
    ttl: {
      AccessToken: accessTokenTtl as never,
      ClientCredentials: accessTokenTtl as never,
      // FAPI 2.0 SP 5.3.2.1-9: authorization codes live at most 60 s.
      AuthorizationCode: 60,
      IdToken: config.ID_TOKEN_TTL,
      // Never beyond the grant, whose lifetime is the consent's validity.
      RefreshToken: ((ctx: { oidc?: { entities?: { Grant?: GrantLike } } } | undefined) => {
        const grantExp = ctx?.oidc?.entities?.Grant?.exp;
        return grantExp ? Math.min(config.REFRESH_TOKEN_TTL, secondsUntil(grantExp)) : config.REFRESH_TOKEN_TTL;
      }) as never,
      // A grant made for a consent lives exactly as long as the consent (BRIEF: the Grant TTL is
      // the hard cap on refresh tokens, so it must not be a silent default).
      Grant: ((_ctx: unknown, grant: GrantLike) =>
        grant.consentExpiresAt ? secondsUntil(grant.consentExpiresAt.getTime() / 1000) : config.GRANT_TTL) as never,
      Session: config.SESSION_TTL,
      Interaction: config.INTERACTION_TTL,
    },
    // FAPI clients get refresh tokens without offline_access / prompt=consent; the consent bounds
    // them. An identity-only sign-in (no authorization_details: no consent the customer could
    // revoke on the dashboard) gets none.
    issueRefreshToken: async (ctx, client) =>
      client.grantTypeAllowed('refresh_token') &&
      Boolean((ctx.oidc.entities.Grant as { rar?: unknown[] } | undefined)?.rar?.length),
    // A consent outlives the customer's browser session at the bank: ending that session (RP-
    // initiated logout) must not silently revoke what the customer approved for a TPP.
    expiresWithSession: async () => false,
    // One Grant per consent: a new authorization request never silently reuses an earlier grant
    // of the session (oidc-provider would accumulate RAR details across requests otherwise).
    async loadExistingGrant(ctx) {
      const grantId = ctx.oidc.result?.consent?.grantId;
      return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
    },
    // Access tokens name their consent; resource servers read its details by introspection.
    async extraTokenClaims(ctx, token) {
      const grantId = (token as { grantId?: string }).grantId;
      if (!grantId) return undefined;
      const consent = await consents.findByGrantId(grantId);
      // PSD2 RTS Art. 34: the certificate presented now (renewed, perhaps with fewer roles) must
      // still allow what the consent is for.
      if (consent) assertRoles(mtls.identity(ctx as unknown as Context | undefined), [consent.type]);
      if (consent && !(await dynamicallyLinked(consent))) {
        // The approved payment changed after the customer authenticated it: no token for it.
        throw new errors.InvalidGrant('the payment no longer matches what the customer authenticated');
      }
      return consent ? { consent_id: consent.id } : undefined;
    },
    // PSD2 customer authentication with one factor (ca) or two (sca); the ID token says which.
    acrValues: ACR_VALUES,
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      // FAPI 2.0 SP 5.3.2.2-1: PAR required; request_uri lifetime 60 s (< 600 s).
      pushedAuthorizationRequests: {
        enabled: true,
        requirePushedAuthorizationRequests: true,
        allowUnregisteredRedirectUris: false,
      },
      // FAPI 2.0 SP 5.3.2.1-4: sender-constrained tokens (DPoP or mTLS).
      dPoP: {
        enabled: true,
        nonceSecret: deps.dpopNonceSecret,
        requireNonce: () => config.DPOP_REQUIRE_NONCE,
        allowReplay: false,
      },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: mtls.getCertificate as never,
        certificateAuthorized: mtls.certificateAuthorized as never,
        certificateSubjectMatches: mtls.certificateSubjectMatches as never,
      },
      fapi: {
        enabled: true,
        // Resource-server clients never take part in FAPI flows.
        profile: ((_ctx: unknown, client?: { grantTypes?: string[]; responseTypes?: string[] }) =>
          client && client.grantTypes?.length === 0 && client.responseTypes?.length === 0 ? undefined : '2.0') as never,
      },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // Only registered resource servers introspect, and only tokens issued for them.
        async allowedPolicy(ctx, client, token) {
          const rs = client.clientId ? await resourceServers.findByClientId(client.clientId) : undefined;
          if (!rs) return false;
          if (!audienceIncludes((token as { aud?: unknown }).aud, rs.resource)) return false;
          // A token of a consent is active only while the consent is authorised and unexpired.
          const extra = (token as { extra?: Record<string, unknown> }).extra;
          const consent = typeof extra?.consent_id === 'string' ? await consents.get(extra.consent_id) : undefined;
          if (typeof extra?.consent_id === 'string') {
            if (consent?.status !== 'authorised' || consent.expiresAt.getTime() <= Date.now()) return false;
            if (!(await dynamicallyLinked(consent))) return false;
            (token as { extra?: Record<string, unknown> }).extra = { ...extra, consent_status: consent.status };
            // "Last used" is shown to the customer to the minute: one write a minute per consent,
            // not one per API call (introspection is the busiest endpoint; docs/performance.md).
            if (!consent.lastUsedAt || Date.now() - consent.lastUsedAt.getTime() >= LAST_USED_PRECISION_MS) {
              await consents.markUsed(consent.id);
            }
          }
          // A suspended or deleted client's tokens are no longer active.
          if (token.clientId === undefined || (await ctx.oidc.provider.Client.find(token.clientId)) === undefined) return false;
          // PSD2 RTS Art. 36(5): each introspection of an account-information access token without
          // the customer present is one unattended access; past frequencyPerDay (4 unless agreed)
          // the token is inactive for the rest of the day (UTC).
          if (consent?.type === 'account_information' && token.kind === 'AccessToken' && !customerPresent(ctx)) {
            return consents.countUnattendedAccess(consent.id, consent.frequencyPerDay ?? MAX_FREQUENCY_PER_DAY);
          }
          return true;
        },
      },
      jwtIntrospection: { enabled: true },
      revocation: {
        enabled: true,
        async allowedPolicy(_ctx, client, token) {
          if (token.clientId === client.clientId) return true;
          const rs = client.clientId ? await resourceServers.findByClientId(client.clientId) : undefined;
          if (rs && audienceIncludes((token as { aud?: unknown }).aud, rs.resource)) return true;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      resourceIndicators: {
        enabled: true,
        async defaultResource(_ctx, _client, oneOf) {
          return oneOf ?? config.DEFAULT_RESOURCE;
        },
        async useGrantedResource() {
          return true;
        },
        async getResourceServerInfo(ctx, resourceIndicator, client) {
          const rs = await resourceServers.findByResource(resourceIndicator);
          if (!rs) throw new errors.InvalidTarget(`resource "${resourceIndicator}" is not a registered resource server`);
          if (rs.access_token_format === 'jwt' && actsForCustomer(ctx)) {
            // A token that acts for a customer is checked against the consent at every use: revoked,
            // consumed or tampered (RTS Art. 5) ends it at once, and unattended access is counted
            // (RTS Art. 36(5)). A self-contained JWT would keep working regardless: such tokens are
            // opaque; JWT resource servers take client_credentials tokens only.
            throw new errors.InvalidTarget(
              `resource "${resourceIndicator}" takes JWT access tokens, which are issued only to client_credentials; a customer's consent needs an opaque-token resource server`,
            );
          }
          return {
            scope: scopesForKinds(rs.scopes, consentKinds(ctx, client)).join(' '),
            audience: rs.resource,
            accessTokenTTL: Math.min(rs.access_token_ttl ?? config.ACCESS_TOKEN_TTL, ACCESS_TOKEN_CEILING),
            accessTokenFormat: rs.access_token_format,
            ...(rs.access_token_format === 'jwt' ? { jwt: { sign: { alg: defaultAlg } } } : {}),
          };
        },
      },
      // FAPI 2.0 Message Signing: JARM and signed request objects (per client).
      jwtResponseModes: { enabled: true },
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      registration: {
        enabled: true,
        initialAccessToken: true,
        issueRegistrationAccessToken: true,
        // OWASP API5 / PSD2 RTS Art. 34: the authorization_details types the bank allowed a TPP when it
        // minted its initial access token bound its registration and every RFC 7592 update after it.
        policies: registrationPolicies((ctx) => mtls.identity(ctx as unknown as Context)),
      },
      registrationManagement: { enabled: true, rotateRegistrationAccessToken: true },
      richAuthorizationRequests: richAuthorizationRequests((ctx) => mtls.identity(ctx as unknown as Context)),
      claimsParameter: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: rpInitiatedLogout(),
    },
    interactions: {
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
      policy: scaInteractionPolicy({ consents, reauthDays: config.SCA_REAUTH_DAYS }),
    },
    async renderError(ctx, out, error) {
      const status = (error as { status?: number }).status ?? 500;
      ctx.type = 'html';
      ctx.body = render('error', {
        title: status >= 500 ? 'Something went wrong' : 'This request cannot be completed',
        message:
          status >= 500
            ? 'The service could not complete your request. Please try again later.'
            : 'The application that sent you here made a request that the bank cannot accept.',
        error: out.error,
        description: status >= 500 ? undefined : out.error_description,
        requestId: (ctx as unknown as Context).state?.requestId,
      });
    },
  } satisfies Configuration as Configuration;
}

export type OidcContext = KoaContextWithOIDC;
