// Who the WebAuthn relying party is, and how long its ceremonies last. The relying party is the
// issuer: RP ID = its hostname, the only origin accepted = its origin, so a credential registered
// on the bank's pages answers nowhere else (phishing resistance, WebAuthn L3 13.4.9).
import { isIP } from 'node:net';

export interface RelyingParty {
  /** RP ID: the issuer's hostname (WebAuthn L3 5.1.4: a domain; browsers refuse an IP address). */
  id: string;
  /** The issuer's origin, the only one answers may come from. */
  origin: string;
  /** Shown by the browser and kept on the authenticator beside the account name. */
  name: string;
}

export function relyingPartyOf(issuer: string, name: string): RelyingParty {
  const url = new URL(issuer);
  return { id: url.hostname, origin: url.origin, name };
}

/** False for an IP address (127.0.0.1, [::1]): no browser runs WebAuthn for such an RP ID. */
export const usableRpId = (rp: RelyingParty) => isIP(rp.id.replace(/^\[(.*)\]$/, '$1')) === 0;

// A challenge answers for a few minutes only (WebAuthn L3 13.4.3), well inside the 5 minutes a
// password stays good for its second factor (PSD2 RTS Art. 4(3)(d)).
export const CHALLENGE_SECONDS = 180;
// How long the browser waits for the authenticator: less than the challenge lives.
export const CEREMONY_TIMEOUT_MS = 120_000;
