// The WebAuthn challenge of an attempt, derived rather than random (PSD2 RTS Art. 5 dynamic
// linking). For a payment it is the SHA-256 of the payment's canonical details (amount, currency,
// payee IBAN and name, as src/consents/dynamic-linking.ts writes them) and a server nonce kept
// with the pending attempt; the authenticator signs it inside clientDataJSON, so its signature
// covers this amount to this payee. At verification the server derives the challenge again from
// the payment it holds for the attempt and the stored nonce: an assertion made for another
// payment, another attempt or an older challenge never matches. Without a payment (an account
// request, the dashboard, an enrolment) the same formula runs with no payment: nonce alone.
import { createHash, randomBytes } from 'node:crypto';

// A version tag: a change of formula can never match a challenge of the old one.
const TAG = 'portcullis-webauthn-challenge-v1';
// 128 bits: as unguessable as the random challenges WebAuthn L3 13.4.3 asks for (at least 16 bytes).
const NONCE_BYTES = 16;

export const newNonce = (): string => randomBytes(NONCE_BYTES).toString('base64url');

/** SHA-256 of the canonical payment text, base64url: what the challenge commits to. */
export const paymentHash = (canonicalPayment: string): string =>
  createHash('sha256').update(canonicalPayment, 'utf8').digest('base64url');

/**
 * The challenge (base64url of 32 bytes) for a nonce and, for a payment, its canonical details.
 * JSON keeps the parts apart: no payment text and nonce can be shifted into one another.
 */
export function deriveChallenge(nonce: string, canonicalPayment?: string): string {
  const payment = canonicalPayment === undefined ? null : paymentHash(canonicalPayment);
  return createHash('sha256')
    .update(JSON.stringify([TAG, payment, nonce]), 'utf8')
    .digest('base64url');
}
