// FAPI 2.0 rules for TPP client metadata, applied wherever a client comes to exist: the admin
// API, RFC 7591 registration, and every load by oidc-provider (extraClientMetadata.validator).
import { errors } from 'oidc-provider';

// FAPI 2.0 SP 5.3.2.1-3: private_key_jwt or mTLS client authentication only.
export const FAPI_AUTH_METHODS = ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'] as const;
export const FAPI_GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
// FAPI 2.0 SP 5.4.1: PS256, ES256 and EdDSA only.
export const FAPI_ALGS = ['PS256', 'ES256', 'EdDSA'] as const;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/** FAPI 2.0 SP 5.3.2.2 / RFC 9700 2.1: exact, pre-registered, https (http only to loopback). */
export function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return `redirect_uri "${uri}" is not an absolute URL`;
  }
  if (url.hash || uri.includes('#')) return `redirect_uri "${uri}" must not contain a fragment`;
  if (url.username || url.password) return `redirect_uri "${uri}" must not contain credentials`;
  if (uri.includes('*')) return `redirect_uri "${uri}" must not contain wildcards`;
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname)) return undefined;
  if (url.protocol === 'http:') return `redirect_uri "${uri}" must use https (http is allowed only for loopback)`;
  return `redirect_uri "${uri}" must use https`;
}

/** A resource-server client: never obtains tokens, authenticates only at introspection/revocation. */
export function isResourceServerShape(metadata: Record<string, unknown>): boolean {
  const grants = metadata.grant_types;
  const responses = metadata.response_types;
  return Array.isArray(grants) && grants.length === 0 && Array.isArray(responses) && responses.length === 0;
}

/**
 * Checks and completes TPP metadata in place. Throws InvalidClientMetadata / InvalidRedirectUri
 * with a description a registrant can act on.
 */
export function applyFapiClientPolicy(
  metadata: Record<string, unknown>,
  /** What the registrant actually sent (oidc-provider fills RFC defaults such as dpop_bound_access_tokens=false). */
  sent: Record<string, unknown> = metadata,
): void {
  const method = (metadata.token_endpoint_auth_method as string | undefined) ?? 'private_key_jwt';
  if (!(FAPI_AUTH_METHODS as readonly string[]).includes(method)) {
    throw new errors.InvalidClientMetadata(
      `token_endpoint_auth_method "${method}" is not allowed for FAPI clients; use one of ${FAPI_AUTH_METHODS.join(', ')}`,
    );
  }
  if ('client_secret' in metadata && metadata.client_secret !== undefined) {
    throw new errors.InvalidClientMetadata('client secrets are not allowed for FAPI clients');
  }
  for (const grant of (metadata.grant_types as string[] | undefined) ?? []) {
    if (!(FAPI_GRANT_TYPES as readonly string[]).includes(grant)) {
      throw new errors.InvalidClientMetadata(`grant_type "${grant}" is not allowed; use ${FAPI_GRANT_TYPES.join(', ')}`);
    }
  }
  for (const type of (metadata.response_types as string[] | undefined) ?? []) {
    if (type !== 'code') throw new errors.InvalidClientMetadata(`response_type "${type}" is not allowed; only "code"`);
  }
  for (const uri of (metadata.redirect_uris as string[] | undefined) ?? []) {
    const problem = redirectUriProblem(uri);
    if (problem) throw new errors.InvalidRedirectUri(problem);
  }
  if (
    (method === 'private_key_jwt' || method === 'self_signed_tls_client_auth') &&
    metadata.jwks === undefined &&
    metadata.jwks_uri === undefined
  ) {
    throw new errors.InvalidClientMetadata(`${method} requires jwks or jwks_uri`);
  }
  // FAPI 2.0 SP 5.3.2.1-4: sender-constrained tokens only. mTLS-bound clients present their
  // certificate; every other client is DPoP-bound, so a token request without a proof fails.
  if (metadata.tls_client_certificate_bound_access_tokens !== true) {
    if (sent.dpop_bound_access_tokens === false) {
      throw new errors.InvalidClientMetadata(
        'sender-constrained tokens are required: set dpop_bound_access_tokens or tls_client_certificate_bound_access_tokens',
      );
    }
    metadata.dpop_bound_access_tokens = true;
  }
  // PAR is required for every client (FAPI 2.0 SP 5.3.2.2-1).
  metadata.require_pushed_authorization_requests = true;
}
