// WebAuthn security keys and passkeys (@simplewebauthn/server) as a second factor: the possession
// element of SCA (PSD2 RTS Art. 4, 7), for the issuer as relying party (webauthn-relying-party.ts).
// Each showing of the factor's page stores a new nonce for the attempt and offers a challenge
// derived from it and, for a payment, from the payment's canonical details (webauthn-challenge.ts,
// RTS Art. 5). The answer takes that nonce (single use, a few minutes) and is checked against the
// challenge derived again from what the server holds and against the customer's stored public
// key; its signature counter must grow.
import { generateAuthenticationOptions, verifyAuthenticationResponse } from '@simplewebauthn/server';
import type { AuditLog } from '../../security/audit.ts';
import type { FactorContext, FactorPurpose, SecondFactor, VerifiedFactor } from './types.ts';
import { deriveChallenge, newNonce } from './webauthn-challenge.ts';
import { startRegistration, type WebAuthnRegistration } from './webauthn-registration.ts';
import { CEREMONY_TIMEOUT_MS, CHALLENGE_SECONDS, type RelyingParty } from './webauthn-relying-party.ts';
import { parseAssertion } from './webauthn-responses.ts';
import type { StoredCredential, WebAuthnStore } from './webauthn-store.ts';

/**
 * RFC 8176 methods of an accepted assertion.
 * - `hwk` (proof of possession of a hardware-secured key) for a device-bound credential: a security
 *   key or a platform authenticator whose private key never leaves it. A backup-eligible credential
 *   (WebAuthn L3 BE flag: a synced passkey) is copied to the customer's other devices through the
 *   platform's keychain; it still answers only on devices the customer controls (possession), but
 *   no single piece of hardware holds the key, so it is `swk`, software-secured.
 * - `user`: RFC 8176 defines it as a "user presence test" and cites WebAuthn's test of user
 *   presence: the UP flag, which every accepted assertion carries (the library refuses one without
 *   it). It is therefore listed for every assertion. User verification (a PIN or a biometric on the
 *   authenticator) has no RFC 8176 value that does not name the modality (`pin`, `fpt`, `face`),
 *   which the authenticator does not disclose; it is kept in the audit event (`user_verified`)
 *   instead of being claimed under a value that means something else.
 */
export function assertionAmr(info: { backupEligible: boolean }): string[] {
  return [info.backupEligible ? 'swk' : 'hwk', 'user'];
}

/** A credential held after a recovery sign-in answers the dashboard only (PSD2 RTS Art. 4, 7). */
const usableFor = (credential: StoredCredential, purpose: FactorPurpose) => purpose === 'dashboard' || !credential.heldUntil;

export interface WebAuthn extends SecondFactor, WebAuthnRegistration {
  /** The customer's credentials (for the dashboard and tests). */
  credentials(customerId: string): Promise<StoredCredential[]>;
}

export function createWebAuthn(deps: { store: WebAuthnStore; audit: AuditLog; rp: RelyingParty }): WebAuthn {
  const { store, audit, rp } = deps;

  const counterRegression = (customerId: string, credential: StoredCredential, received: number, context: FactorContext) =>
    audit.record({
      type: 'customer.webauthn_counter_regression',
      outcome: 'failure',
      actor: { type: 'system' },
      customerId,
      ...context.request,
      // WebAuthn L3 6.1.1: a counter that does not grow may mean the authenticator was cloned.
      details: { factor_id: credential.factorId, stored_count: credential.signCount, received_count: received },
    });

  return {
    kind: 'webauthn',
    label: 'Security key or passkey',
    hint: 'Touch your security key, or confirm with your fingerprint, face or screen lock.',
    amr: ['hwk', 'swk', 'user'],
    possession: true,
    async isEnrolled(customerId, purpose = 'authorization') {
      return (await store.credentials(customerId)).some((c) => usableFor(c, purpose));
    },
    credentials: (customerId) => store.credentials(customerId),

    async prompt(customerId, context) {
      const nonce = newNonce();
      await store.putChallenge(context.attempt, { customerId, ceremony: 'authentication', nonce }, CHALLENGE_SECONDS);
      const credentials = (await store.credentials(customerId)).filter((c) => usableFor(c, context.purpose));
      const options = await generateAuthenticationOptions({
        rpID: rp.id,
        challenge: Buffer.from(deriveChallenge(nonce, context.transaction), 'base64url'),
        allowCredentials: credentials.map((c) => ({ id: c.credentialId, transports: c.transports })),
        userVerification: 'preferred',
        timeout: CEREMONY_TIMEOUT_MS,
      });
      return { webauthn: { ceremony: 'get', options: JSON.stringify(options) } };
    },

    async verify(customerId, form, context): Promise<VerifiedFactor | undefined> {
      // Taken before anything else: a malformed or wrong answer uses the challenge up too.
      const pending = await store.takeChallenge(context.attempt, customerId, 'authentication');
      const response = parseAssertion(form.credential);
      if (!pending || !response) return undefined;
      const credential = await store.credential(customerId, response.id);
      if (!credential || !usableFor(credential, context.purpose)) return undefined;
      let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>['authenticationInfo'];
      try {
        const result = await verifyAuthenticationResponse({
          response,
          // Derived again from the payment the server holds for this attempt, never from the answer.
          expectedChallenge: deriveChallenge(pending.nonce, context.transaction),
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          // Counter 0 turns the library's own counter check off: ours below runs after the
          // signature is verified, atomically in the database, and audits a regression.
          credential: {
            id: credential.credentialId,
            publicKey: credential.publicKey,
            counter: 0,
            transports: credential.transports,
          },
          // userVerification 'preferred': a key without a PIN or biometric still answers.
          requireUserVerification: false,
        });
        if (!result.verified) return undefined;
        info = result.authenticationInfo;
      } catch {
        return undefined;
      }
      if (!(await store.claimCounter(credential.factorId, info.newCounter))) {
        await counterRegression(customerId, credential, info.newCounter, context);
        return undefined;
      }
      return {
        kind: 'webauthn',
        factorId: credential.factorId,
        amr: assertionAmr({ backupEligible: info.credentialDeviceType === 'multiDevice' }),
        nonce: pending.nonce,
        details: { factor_id: credential.factorId, user_verified: info.userVerified, sign_count: info.newCounter },
        ...(credential.heldUntil ? { held: true } : {}),
      };
    },

    ...startRegistration({ store, rp }),
  };
}
