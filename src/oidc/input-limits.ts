// Size and text limits on what a client may push (OWASP API4), added to oidc-provider's
// configuration: a cap on request objects at PAR, on `state` and `nonce`, and well-formed text in
// every authorization parameter. oidc-provider's own body cap (56 KiB) bounds the rest.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { hasUncleanText, isCleanText } from '../http/clean-text.ts';

// A FAPI request object (claims, RAR details, a few accounts) is 1-4 KB signed; 16 KiB leaves room
// for large authorization_details and still keeps one stored PAR small.
export const MAX_REQUEST_OBJECT_BYTES = 16 * 1024;
// BRIEF: `state` over 1000 characters must be echoed unmodified; 4096 keeps the authorization
// response URL (which carries it back) well under the 8 KiB many proxies allow.
export const MAX_STATE_LENGTH = 4096;
// BRIEF: a 64-character nonce is accepted and never truncated; it ends up in the ID token.
export const MAX_NONCE_LENGTH = 4096;

type ExtraParamValidator = (ctx: KoaContextWithOIDC, value: string | undefined, client: unknown) => void;
type RequestObjectAssertion = NonNullable<
  NonNullable<NonNullable<Configuration['features']>['requestObjects']>['assertJwtClaimsAndHeader']
>;

const lengthCap =
  (name: string, max: number): ExtraParamValidator =>
  (_ctx, value) => {
    if (typeof value === 'string' && value.length > max) {
      throw new errors.InvalidRequest(`${name} must not exceed ${max} characters`);
    }
  };

/**
 * Form bodies are decoded leniently (an invalid UTF-8 sequence becomes U+FFFD): such a parameter
 * would be stored and echoed mangled, and a NUL would travel on into the redirect back to the
 * client. Both are refused. oidc-provider runs every extraParams validator on each authorization
 * and PAR request, so this one, registered under `state`, sees every parameter once (after a
 * request object's have been merged in).
 */
const textParams: ExtraParamValidator = (ctx, value) => {
  for (const [name, param] of Object.entries(ctx.oidc.params ?? {})) {
    const values = Array.isArray(param) ? param : [param];
    if (values.some((v) => typeof v === 'string' && !isCleanText(v))) {
      throw new errors.InvalidRequest(`${name} is not valid UTF-8 text`);
    }
  }
  lengthCap('state', MAX_STATE_LENGTH)(ctx, value, undefined);
};

/** oidc-provider's default check (FAPI 2.0: exp, aud and nbf present, exp - nbf <= 60 min), kept. */
const fapiRequestObjectClaims: RequestObjectAssertion = async (ctx, claims) => {
  if (!ctx.oidc.isFapi('1.0 Final', '2.0')) return;
  for (const claim of ['exp', 'aud', 'nbf']) {
    if (claims[claim] === undefined) throw new errors.InvalidRequestObject(`Request Object is missing the '${claim}' claim`);
  }
  const lifetime = (claims.exp as number) - (claims.nbf as number);
  if (Math.sign(lifetime) !== 1 || lifetime > 3600) {
    throw new errors.InvalidRequestObject("Request Object 'exp' claim too far from 'nbf' claim");
  }
};

type ClaimsParameterAssertion = NonNullable<
  NonNullable<NonNullable<Configuration['features']>['claimsParameter']>['assertClaimsParameter']
>;

/**
 * The claims parameter is JSON inside a parameter: its text passes textParams whole, and a
 * `"\ud800"` or `"\u0000"` escape in it would only surface once the parsed claims are stored with
 * the code, after the customer has signed in. Refused here, beside oidc-provider's default check
 * (each requested claim is null or an object), kept.
 */
const claimsParameterChecks: ClaimsParameterAssertion = (_ctx, claims) => {
  if (hasUncleanText(claims)) throw new errors.InvalidRequest('claims must be Unicode text without NUL characters');
  for (const container of ['userinfo', 'id_token'] as const) {
    const members = claims[container];
    if (members === undefined) continue;
    for (const value of Object.values(members)) {
      if (value !== null && (typeof value !== 'object' || Array.isArray(value))) {
        throw new errors.InvalidRequest(`claims.${container} members must be null or objects`);
      }
    }
  }
};

/** The configuration with these limits added (the provider's other settings untouched). */
export function withInputLimits(configuration: Configuration): Configuration {
  const requestObjects = configuration.features?.requestObjects;
  const assertClaims = requestObjects?.assertJwtClaimsAndHeader ?? fapiRequestObjectClaims;
  const extraParams = configuration.extraParams;
  return {
    ...configuration,
    extraParams: {
      ...(Array.isArray(extraParams) ? Object.fromEntries(extraParams.map((p) => [p, undefined])) : extraParams),
      state: textParams,
      nonce: lengthCap('nonce', MAX_NONCE_LENGTH),
    } as never,
    features: {
      ...configuration.features,
      claimsParameter: { ...configuration.features?.claimsParameter, assertClaimsParameter: claimsParameterChecks },
      requestObjects: {
        ...requestObjects,
        // Runs while the raw request object is still in `params.request`, before its signature is checked.
        async assertJwtClaimsAndHeader(ctx, claims, header, client) {
          const raw = ctx.oidc.params?.request;
          if (typeof raw === 'string' && Buffer.byteLength(raw) > MAX_REQUEST_OBJECT_BYTES) {
            throw new errors.InvalidRequestObject(`the request object exceeds ${MAX_REQUEST_OBJECT_BYTES} bytes`);
          }
          await assertClaims(ctx, claims, header, client);
        },
      },
    },
  };
}
