// Registering a security key or passkey from the dashboard (the customer has just signed in: the
// route checks that). Attestation 'none': the bank trusts the customer's choice of authenticator,
// as it trusts the choice of authenticator app, and keeps no attestation certificate; resident
// keys and user verification are preferred, never required, so plain security keys work too.
// Credentials the customer already has are excluded, so one authenticator is registered once.
import { generateRegistrationOptions, verifyRegistrationResponse } from '@simplewebauthn/server';
import { deriveChallenge, newNonce } from './webauthn-challenge.ts';
import { CEREMONY_TIMEOUT_MS, CHALLENGE_SECONDS, type RelyingParty } from './webauthn-relying-party.ts';
import { parseAttestation } from './webauthn-responses.ts';
import type { WebAuthnStore } from './webauthn-store.ts';

// COSE algorithms offered, most preferred first: EdDSA, ES256, RS256 (Windows Hello keys are RSA).
// Fixed rather than the library default, which changes with the runtime (ML-DSA where supported).
const ALGORITHMS = [-8, -7, -257];
const NAME_MAX = 60;

export interface WebAuthnRegistration {
  /** Options (JSON) for navigator.credentials.create, with a challenge bound to `attempt`. */
  registrationOptions(customer: { id: string; username: string }, attempt: string): Promise<string>;
  /**
   * Verifies the browser's new credential against the attempt's challenge (taken: single use) and
   * stores it as a confirmed factor named `name`, held for `holdSeconds` when given (added after a
   * recovery sign-in); undefined when anything is wrong.
   */
  register(
    customerId: string,
    attempt: string,
    answer: unknown,
    name: string,
    holdSeconds?: number,
  ): Promise<{ factorId: string; label: string } | undefined>;
}

/** The customer's name for the credential: one line of printable text, or a default. */
export function credentialName(typed: string, backupEligible: boolean): string {
  const name = typed
    .replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, NAME_MAX)
    .trim();
  return name || (backupEligible ? 'Passkey' : 'Security key');
}

export function startRegistration(deps: { store: WebAuthnStore; rp: RelyingParty }): WebAuthnRegistration {
  const { store, rp } = deps;
  return {
    async registrationOptions(customer, attempt) {
      const nonce = newNonce();
      await store.putChallenge(attempt, { customerId: customer.id, ceremony: 'registration', nonce }, CHALLENGE_SECONDS);
      const existing = await store.credentials(customer.id);
      const options = await generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userID: await store.userHandle(customer.id),
        userName: customer.username,
        userDisplayName: customer.username,
        challenge: Buffer.from(deriveChallenge(nonce), 'base64url'),
        timeout: CEREMONY_TIMEOUT_MS,
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        supportedAlgorithmIDs: ALGORITHMS,
      });
      return JSON.stringify(options);
    },

    async register(customerId, attempt, answer, name, holdSeconds) {
      const pending = await store.takeChallenge(attempt, customerId, 'registration');
      const response = parseAttestation(answer);
      if (!pending || !response) return undefined;
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({
          response,
          expectedChallenge: deriveChallenge(pending.nonce),
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: false,
          supportedAlgorithmIDs: ALGORITHMS,
        });
      } catch {
        return undefined;
      }
      if (!verified.verified) return undefined;
      const { credential, aaguid, credentialDeviceType } = verified.registrationInfo;
      const backupEligible = credentialDeviceType === 'multiDevice';
      const label = credentialName(name, backupEligible);
      const factorId = await store.add(
        customerId,
        label,
        {
          credentialId: credential.id,
          publicKey: credential.publicKey,
          signCount: credential.counter,
          transports: credential.transports ?? response.response.transports ?? [],
          aaguid,
          backupEligible,
        },
        holdSeconds,
      );
      return factorId ? { factorId, label } : undefined;
    },
  };
}
