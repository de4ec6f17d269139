// What the browser sends back from navigator.credentials (static/webauthn.js puts it, as JSON, in
// the form's `credential` field): parsed with zod before anything reads it. Every binary value is
// base64url; sizes are capped far above what authenticators produce and far below the form limit.
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';

const b64url = (max: number) =>
  z
    .string()
    .max(max)
    .regex(/^[A-Za-z0-9_-]*$/);
// WebAuthn L3 5.1: a credential id is at most 1023 bytes (1364 base64url characters).
const credentialId = b64url(1364).min(16);
// Transports the browser may report (WebAuthn L3 5.8.4); unknown ones are dropped, not refused.
const TRANSPORTS = new Set(['ble', 'cable', 'hybrid', 'internal', 'nfc', 'smart-card', 'usb']);

const common = {
  id: credentialId,
  rawId: credentialId,
  type: z.literal('public-key'),
  clientExtensionResults: z.record(z.string(), z.unknown()).default({}),
  authenticatorAttachment: z.enum(['platform', 'cross-platform']).optional(),
};

const assertion = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    authenticatorData: b64url(4096),
    signature: b64url(2048),
    userHandle: b64url(128).optional(),
  }),
});

const attestation = z.object({
  ...common,
  response: z.object({
    clientDataJSON: b64url(4096),
    attestationObject: b64url(12_000),
    transports: z
      .array(z.string().max(20))
      .max(10)
      .optional()
      .transform((list) => list?.filter((t) => TRANSPORTS.has(t))),
  }),
});

function parse<T>(schema: z.ZodType<T>, value: unknown): T | undefined {
  if (typeof value !== 'string' || value.length === 0) return undefined;
  try {
    const result = schema.safeParse(JSON.parse(value));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/** The assertion in a submitted form field; undefined when absent or malformed. */
export const parseAssertion = (value: unknown): AuthenticationResponseJSON | undefined =>
  parse(assertion, value) as AuthenticationResponseJSON | undefined;

/** The new credential in a submitted form field; undefined when absent or malformed. */
export const parseAttestation = (value: unknown): RegistrationResponseJSON | undefined =>
  parse(attestation, value) as RegistrationResponseJSON | undefined;
