// zod schemas for every admin API body and response. The same schemas validate requests, check
// responses in tests and generate /admin/openapi.json. Inputs are strict: an unknown field is an
// error, never silently dropped (OWASP API3: no mass assignment).
import { z } from 'zod';
import { AUTHORIZATION_DETAIL_TYPES } from '../consents/authorization-details.ts';
import { alg, clientMetadataShape, exclusiveJwks, exclusiveJwksIssue, jwks } from '../oidc/client-metadata.ts';
import { ADMIN_SCOPES } from './admin-keys.ts';

export const trustTier = z.enum(['standard', 'partner', 'internal']);

export const clientCreateInput = z
  .strictObject({
    ...clientMetadataShape,
    trust_tier: trustTier.optional(),
    qwac_certificate: z
      .string()
      .max(16_000)
      .optional()
      .describe(
        "tls_client_auth only: the TPP's eIDAS QWAC (PEM). Its organizationIdentifier, subject and PSD2 roles are checked against the metadata and fill what is missing; the PEM itself is not stored.",
      ),
  })
  .refine(exclusiveJwks, exclusiveJwksIssue);

export const clientOutput = z.object({
  client_id: z.string(),
  status: z.enum(['active', 'suspended']),
  trust_tier: trustTier,
  dynamically_registered: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  metadata: z.record(z.string(), z.unknown()),
});

export const resourceServerInput = z.strictObject({
  resource: z.url().refine((v) => !v.includes('#'), 'a resource indicator has no fragment (RFC 8707)'),
  name: z.string().min(1).max(200),
  scopes: z
    .array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/, 'not a valid scope token'))
    .min(1)
    .max(100),
  access_token_format: z.enum(['opaque', 'jwt']).default('opaque'),
  access_token_ttl: z.number().int().min(30).max(3600).optional(),
  auth_method: z.enum(['client_secret_basic', 'private_key_jwt']).default('client_secret_basic'),
  jwks: jwks.optional(),
  introspection_signed_response_alg: alg.optional(),
});

export const resourceServerOutput = z.object({
  id: z.string(),
  resource: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  access_token_format: z.enum(['opaque', 'jwt']),
  access_token_ttl: z.number().nullable(),
  client_id: z.string(),
  created_at: z.string(),
  client_secret: z.string().optional().describe('shown once, at creation; stored only as SHA-256'),
});

export const adminKeyInput = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", at most 64'),
  scopes: z.array(z.enum(ADMIN_SCOPES)).min(1),
});

export const adminKeyOutput = z.object({
  id: z.string(),
  name: z.string(),
  scopes: z.array(z.string()),
  created_at: z.string(),
  last_used_at: z.string().nullable(),
  revoked_at: z.string().nullable(),
  key: z.string().optional().describe('shown once, at creation'),
});

// OWASP API5 / PSD2 RTS Art. 34: the operator decides what a self-registering TPP may ask for
// (oidc/registration-bound.ts); a token that bounds nothing is never minted.
const registrableTypes = z
  .array(z.enum(AUTHORIZATION_DETAIL_TYPES, { error: `must be one of ${AUTHORIZATION_DETAIL_TYPES.join(', ')}` }))
  .min(1)
  .max(AUTHORIZATION_DETAIL_TYPES.length)
  .refine((types) => new Set(types).size === types.length, 'must not repeat a type');

export const initialAccessTokenInput = z.strictObject({
  ttl: z
    .number()
    .int()
    .min(60)
    .max(30 * 24 * 3600)
    .default(24 * 3600),
  authorization_details_types: registrableTypes.describe(
    'the authorization_details types the TPP may register (RFC 9396 section 10) at /reg and keep through RFC 7592 updates; omitted at registration, the client gets exactly these',
  ),
});

export const initialAccessTokenOutput = z.object({
  initial_access_token: z.string(),
  expires_in: z.number(),
  authorization_details_types: z.array(z.string()),
});

export const keyRotateInput = z.strictObject({
  publish_delay: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 3600)
    .optional(),
});

export const signingKeyOutput = z.object({
  kid: z.string(),
  alg: z.string(),
  state: z.enum(['next', 'active', 'retired', 'expired']),
  created_at: z.string(),
  activates_at: z.string(),
  retires_at: z.string().nullable(),
});

export const userCreateInput = z.strictObject({
  username: z.string().trim().min(1).max(100),
  password: z.string().min(8).max(256),
});

export const userOutput = z.object({
  id: z.string(),
  username: z.string(),
  status: z.string(),
  created_at: z.string(),
});

export const factorHoldReleaseOutput = z.object({
  id: z.string(),
  username: z.string(),
  /** The factors that were held and now count for SCA; empty when none was held. */
  factors_released: z.array(z.string()),
});

export const errorOutput = z.object({
  error: z.string(),
  error_description: z.string(),
  request_id: z.string().optional(),
});

export const auditQuery = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  type: z.string().max(100).optional(),
  customer_id: z.string().max(100).optional(),
  client_id: z.string().max(200).optional(),
  after_id: z.coerce.number().int().min(0).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const auditEventOutput = z.object({
  id: z.number(),
  occurred_at: z.string(),
  event_type: z.string(),
  outcome: z.enum(['success', 'failure', 'info']),
  actor_type: z.string(),
  actor_id: z.string().nullable(),
  client_id: z.string().nullable(),
  customer_id: z.string().nullable(),
  request_id: z.string().nullable(),
  personal: z.record(z.string(), z.string()).nullable().describe('IP, user agent, typed username; erasable'),
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});
