// PSD2 RTS Art. 5 dynamic linking. When a customer authenticates a payment, the server makes an
// authentication code: an HMAC (key shared by all instances, never in the database in clear) over
// the canonical payment details the customer saw beside the code field (amount, currency, payee
// IBAN, payee name), the factors used and a nonce. The code is stored with the consent; at token
// issuance and at introspection it is recomputed from the consent's stored details and compared
// in constant time, so any change to amount, currency or payee after SCA voids the consent's
// code and every token of it.
import { createHmac, randomBytes } from 'node:crypto';
import { constantTimeEqual } from '../security/secrets.ts';
import { type AuthorizationDetail, normaliseIban, type PaymentInitiationDetail } from './authorization-details.ts';

/** What a payment's authentication code was made for. */
export interface DynamicLink {
  code: string;
  nonce: string;
  /** RFC 8176 methods of the authentication, e.g. ["otp", "pwd"]. */
  amr: string[];
}

export interface DynamicLinking {
  /** The canonical text of the payment in these details; undefined when they hold none. */
  canonical(details: readonly AuthorizationDetail[] | readonly unknown[]): string | undefined;
  /**
   * A code for a payment just authenticated with these methods; the nonce is fresh unless the
   * factor's own (the server nonce a WebAuthn challenge was derived from) is given.
   */
  link(details: readonly AuthorizationDetail[], amr: string[], nonce?: string): Promise<DynamicLink | undefined>;
  /** The details still match the code made at SCA (constant-time comparison). */
  verify(details: readonly AuthorizationDetail[], link: DynamicLink): Promise<boolean>;
}

const isPayment = (d: unknown): d is PaymentInitiationDetail =>
  typeof d === 'object' && d !== null && (d as { type?: unknown }).type === 'payment_initiation';

export function createDynamicLinking(key: () => Promise<Buffer>): DynamicLinking {
  let loaded: Promise<Buffer> | undefined;
  const hmac = async (text: string) => {
    loaded ??= key().catch((err: unknown) => {
      loaded = undefined;
      throw err;
    });
    return createHmac('sha256', await loaded)
      .update(text)
      .digest('base64url');
  };

  const canonical: DynamicLinking['canonical'] = (details) => {
    const payment = (details as readonly unknown[]).find(isPayment);
    if (!payment) return undefined;
    // A fixed order and a version tag: the same payment always yields the same text.
    return JSON.stringify([
      'portcullis-dynamic-link-v1',
      payment.instructedAmount?.amount,
      payment.instructedAmount?.currency,
      normaliseIban(String(payment.creditorAccount?.iban ?? '')),
      payment.creditorName,
    ]);
  };
  const codeFor = (payment: string, amr: string[], nonce: string) => hmac(JSON.stringify([payment, [...amr].sort(), nonce]));

  return {
    canonical,
    async link(details, amr, factorNonce) {
      const payment = canonical(details);
      if (!payment) return undefined;
      const nonce = factorNonce ?? randomBytes(16).toString('base64url');
      return { code: await codeFor(payment, amr, nonce), nonce, amr: [...amr].sort() };
    },
    async verify(details, link) {
      const payment = canonical(details);
      if (!payment || !link.code || !link.nonce || !Array.isArray(link.amr)) return false;
      return constantTimeEqual(await codeFor(payment, link.amr, link.nonce), link.code);
    },
  };
}
