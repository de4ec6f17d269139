// Field-level encryption of oidc-provider payloads (BRIEF "Data protection"): the fields that
// carry RFC 9396 authorization_details (payee and payer IBANs, creditor names, amounts) are
// sealed with the server's FieldCipher (AES-256-GCM, key id in every value, so rows sealed under
// a retired key still open while it is listed in ENCRYPTION_KEYS_PREVIOUS). Everything else stays
// plain JSONB, so the queries on `accountId`, `clientId`, `grantId`, `uid`, `session` and
// `result` keep working, and a payload without such a field (a client_credentials token, a
// Session, a ReplayDetection claim) costs one map lookup and is stored as it came.
//
// A sealed field holds the cipher's `v1.<kid>.<iv>.<ciphertext>` string in place of its value.
// None of these fields is a string starting with `v1.` in plain form (`rar`, `params` and
// `prompt` are arrays or objects, `request` is a JWT), so rows written before sealing still read.
import { assertStorable } from '../db/text-guard.ts';
import type { FieldCipher } from '../security/encryption.ts';

type Payload = Record<string, unknown>;

/** The payload fields holding personal data, per model (oidc-provider 9.13 IN_PAYLOAD). */
export const SEALED_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  // The approved authorization_details, copied to the grant and every artefact issued from it.
  ['Grant', ['rar']],
  ['AuthorizationCode', ['rar']],
  ['AccessToken', ['rar']],
  ['RefreshToken', ['rar']],
  ['ClientCredentials', ['rar']],
  // The pushed request object: an unsigned (or signed) JWT is base64url, readable by anyone.
  ['PushedAuthorizationRequest', ['request']],
  // The authorization request's parameters and the consent prompt's details (`rar`).
  ['Interaction', ['params', 'prompt']],
  ['DeviceCode', ['params', 'rar']],
  ['BackchannelAuthenticationRequest', ['params', 'rar']],
]);

const SEALED_PREFIX = 'v1.';

export interface PayloadSealer {
  /** The payload to store: `payload` itself when it has no field to seal. */
  seal(model: string, id: string, payload: Payload): Payload;
  /** The payload as oidc-provider saved it: `stored` itself when nothing in it is sealed. */
  open(model: string, id: string, stored: Payload): Payload;
}

export function createPayloadSealer(cipher: FieldCipher): PayloadSealer {
  // Binds a value to its model, field and grant (the row itself when it has none): a sealed
  // `rar` copied into another grant's token does not open. The grant rather than the row id,
  // because a token's details are its grant's (and copies of a token row stay readable).
  const aad = (model: string, id: string, field: string, payload: Payload) =>
    `oidc_payloads:${model}:${field}:${typeof payload.grantId === 'string' ? `grant:${payload.grantId}` : `id:${id}`}`;

  return {
    seal(model, id, payload) {
      const fields = SEALED_FIELDS.get(model);
      if (!fields) return payload;
      let sealed: Payload | undefined;
      for (const field of fields) {
        const value = payload[field];
        if (value === undefined) continue;
        const plaintext = JSON.stringify(value);
        // What PostgreSQL would refuse in plain JSONB is refused sealed too: the same 400.
        assertStorable([plaintext]);
        sealed ??= { ...payload };
        sealed[field] = cipher.encrypt(plaintext, aad(model, id, field, payload));
      }
      return sealed ?? payload;
    },
    open(model, id, stored) {
      const fields = SEALED_FIELDS.get(model);
      if (!fields) return stored;
      let opened: Payload | undefined;
      for (const field of fields) {
        const value = stored[field];
        if (typeof value !== 'string' || !value.startsWith(SEALED_PREFIX)) continue;
        opened ??= { ...stored };
        opened[field] = JSON.parse(cipher.decryptText(value, aad(model, id, field, stored)));
      }
      return opened ?? stored;
    },
  };
}
