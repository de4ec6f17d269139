// The RFC 7591 client metadata a FAPI TPP may register, as zod schemas. Used by the admin API
// and by RFC 7591/7592 registration, so both accept exactly the same fields (OWASP API3).
import { errors } from 'oidc-provider';
import { z } from 'zod';
import { AUTHORIZATION_DETAIL_TYPES } from '../consents/authorization-details.ts';
import { hasUncleanText } from '../http/clean-text.ts';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../http/json-depth.ts';
import { describeIssues, onlyRedirectUriIssues } from '../http/zod-issues.ts';
import { clientKeyProblem, describeKey } from './client-keys.ts';
import { FAPI_ALGS, FAPI_AUTH_METHODS, FAPI_GRANT_TYPES, redirectUriProblem } from './client-policy.ts';

export const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https URL' });
export const alg = z.enum(FAPI_ALGS, { error: `must be one of ${FAPI_ALGS.join(', ')}` });
// Registered JWKS hold strong public keys only (FAPI 2.0 SP 5.4; client-keys.ts): a private member
// would be stored in plain metadata, a 1024-bit RSA key would pass for client authentication.
export const jwk = z.record(z.string(), z.unknown()).superRefine((key, ctx) => {
  const problem = clientKeyProblem(key);
  if (problem) ctx.addIssue({ code: 'custom', message: `${describeKey(key)} ${problem}` });
});

// OWASP API4: a client's JWKS is stored with it and parsed on every authentication. A few signing
// keys with their x5c chains (eIDAS certificates, ~3 KB each) fit; a megabyte of keys does not.
export const MAX_JWKS_BYTES = 32 * 1024;
export const jwks = z
  .strictObject({ keys: z.array(jwk).min(1).max(10) })
  .refine((set) => Buffer.byteLength(JSON.stringify(set)) <= MAX_JWKS_BYTES, `must not exceed ${MAX_JWKS_BYTES} bytes`);

export const redirectUri = z.string().superRefine((value, ctx) => {
  const problem = redirectUriProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** RFC 7591 client metadata a bank operator may set for a FAPI TPP. */
export const clientMetadataShape = {
  client_name: z.string().min(1).max(200),
  organisation_name: z.string().min(1).max(200).optional(),
  organisation_id: z.string().min(1).max(200).optional(),
  redirect_uris: z.array(redirectUri).min(1).max(20),
  post_logout_redirect_uris: z.array(redirectUri).max(20).optional(),
  grant_types: z
    .array(z.enum(FAPI_GRANT_TYPES, { error: `must be one of ${FAPI_GRANT_TYPES.join(', ')}` }))
    .min(1)
    .optional(),
  response_types: z.array(z.literal('code', { error: 'only "code" is supported' })).optional(),
  token_endpoint_auth_method: z
    .enum(FAPI_AUTH_METHODS, { error: `must be one of ${FAPI_AUTH_METHODS.join(', ')} (FAPI 2.0)` })
    .optional(),
  token_endpoint_auth_signing_alg: alg.optional(),
  jwks: jwks.optional(),
  jwks_uri: httpsUrl.optional(),
  scope: z.string().max(1000).optional(),
  dpop_bound_access_tokens: z.boolean().optional(),
  tls_client_certificate_bound_access_tokens: z.boolean().optional(),
  tls_client_auth_subject_dn: z.string().max(1000).optional(),
  tls_client_auth_san_dns: z.string().max(255).optional(),
  tls_client_auth_san_uri: z.string().max(1000).optional(),
  tls_client_auth_san_ip: z.string().max(64).optional(),
  tls_client_auth_san_email: z.string().max(255).optional(),
  id_token_signed_response_alg: alg.optional(),
  authorization_signed_response_alg: alg.optional(),
  request_object_signing_alg: alg.optional(),
  require_signed_request_object: z.boolean().optional(),
  logo_uri: httpsUrl.optional(),
  client_uri: httpsUrl.optional(),
  policy_uri: httpsUrl.optional(),
  tos_uri: httpsUrl.optional(),
  contacts: z.array(z.email()).max(10).optional(),
  // RFC 9396 section 10: the authorization_details types this client may request (an
  // account-information TPP registers only account_information and cannot ask for payments).
  authorization_details_types: z
    .array(z.enum(AUTHORIZATION_DETAIL_TYPES, { error: `must be one of ${AUTHORIZATION_DETAIL_TYPES.join(', ')}` }))
    .max(AUTHORIZATION_DETAIL_TYPES.length)
    .optional(),
};

export const exclusiveJwks = (m: { jwks?: unknown; jwks_uri?: unknown }) => !(m.jwks && m.jwks_uri);
export const exclusiveJwksIssue = { message: 'jwks and jwks_uri are mutually exclusive', path: ['jwks'] };

// organisation_name and organisation_id are the bank's verified record of who the TPP is (the
// consent page shows them): set by operators through the admin API or read from a QWAC, never
// self-asserted at RFC 7591 registration, and unchangeable through RFC 7592.
export const OPERATOR_FIELDS = ['organisation_name', 'organisation_id'] as const;
const { organisation_name: _name, organisation_id: _id, ...selfAsserted } = clientMetadataShape;

// RFC 7591 makes client_name optional; the consent page then names the client by its id.
const registrationShape = { ...selfAsserted, client_name: clientMetadataShape.client_name.optional() };
export const clientRegistrationInput = z.strictObject(registrationShape).refine(exclusiveJwks, exclusiveJwksIssue);

/**
 * RFC 7592 section 2.2: an update repeats the client_id and may echo what the server returned
 * at registration; read-only fields (registration_access_token, client_id_issued_at, ...) are
 * refused by oidc-provider itself.
 */

export const clientUpdateInput = z
  .strictObject({
    ...registrationShape,
    // Echoed as the server returned them; a change is refused (assertOperatorFieldsKept).
    organisation_name: clientMetadataShape.organisation_name,
    organisation_id: clientMetadataShape.organisation_id,
    client_id: z.string(),
    require_pushed_authorization_requests: z.literal(true).optional(),
    application_type: z.literal('web').optional(),
    subject_type: z.literal('public').optional(),
    require_auth_time: z.boolean().optional(),
    introspection_signed_response_alg: alg.optional(),
  })
  .refine(exclusiveJwks, exclusiveJwksIssue);

/**
 * RFC 7591/7592 registration through oidc-provider: the body as sent is checked strictly, so an
 * unknown field is an error rather than silently dropped. Returns the parsed body.
 */
export function checkRegistrationBody(route: string | undefined, body: unknown): Record<string, unknown> {
  if (jsonTooDeep(body)) throw new errors.InvalidClientMetadata(`client metadata nests deeper than ${MAX_JSON_DEPTH} levels`);
  // oidc-provider decodes bodies leniently: invalid UTF-8 arrives as U+FFFD. Neither that, a NUL nor
  // a lone surrogate belongs in metadata that is stored and shown to customers.
  if (hasUncleanText(body)) {
    throw new errors.InvalidClientMetadata('client metadata must be valid UTF-8 text without NUL characters');
  }
  const schema = route === 'client_update' ? clientUpdateInput : clientRegistrationInput;
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const description = describeIssues(result.error.issues);
  if (onlyRedirectUriIssues(result.error.issues)) throw new errors.InvalidRedirectUri(description);
  throw new errors.InvalidClientMetadata(description);
}

/**
 * RFC 7592: the operator-set fields may be echoed, never changed or added by the client; and an
 * update that leaves them out keeps them (RFC 7592 replaces the whole registration, but these are
 * the bank's record of who the TPP is, not the client's to drop). Copies them into `next`.
 */
export function assertOperatorFieldsKept(
  sent: Record<string, unknown>,
  current: Record<string, unknown> | undefined,
  next: Record<string, unknown>,
): void {
  for (const field of OPERATOR_FIELDS) {
    if (field in sent && sent[field] !== current?.[field]) {
      throw new errors.InvalidClientMetadata(`${field} is set by the bank and cannot be changed by the client`);
    }
    if (current?.[field] !== undefined) next[field] = current[field];
  }
}
