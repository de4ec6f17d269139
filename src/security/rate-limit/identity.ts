// Who a request says it is, read without verifying anything: only to pick the counter it is
// judged by. The client a request claims is charged only once oidc-provider has authenticated it
// (middleware.ts), so naming someone else's client_id spends the caller's anonymous allowance,
// never the victim's.
import { createHmac } from 'node:crypto';
import { decodeJwt } from 'jose';
import type { Context } from 'koa';
import { normaliseUsername } from '../../accounts/customers.ts';

const MAX_ID = 200;
const bounded = (id: unknown) => (typeof id === 'string' && id.length > 0 && id.length <= MAX_ID ? id : undefined);

/** HTTP Basic user name (RFC 6749 2.3.1: form-encoded before base64). */
function basicUser(header: string): string | undefined {
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header.trim());
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** The client id a token-family request names: Basic user, client assertion `sub`, or `client_id`. */
export function claimedClient(ctx: Context, fields: URLSearchParams | undefined): string | undefined {
  const basic = basicUser(ctx.get('authorization'));
  if (basic) return bounded(basic);
  const assertion = fields?.get('client_assertion');
  if (assertion) {
    try {
      const claims = decodeJwt(assertion);
      // oidc-provider identifies the client by the assertion's `sub` (lib/shared/client_auth.js).
      return bounded(claims.sub ?? claims.iss);
    } catch {
      return undefined;
    }
  }
  return bounded(fields?.get('client_id'));
}

/** The id part of an admin key (`pcak_<id>_<secret>`), if the header carries one. */
export function adminKeyId(ctx: Context): string | undefined {
  return /^Bearer pcak_([0-9a-f]{16})_/i.exec(ctx.get('authorization'))?.[1];
}

/**
 * The counter key of a typed username: normalised as customers are looked up, then an HMAC under
 * a secret every instance shares, so the store never holds usernames and one cannot be confirmed
 * by hashing a guess. Empty input gives no key.
 */
export function customerKeyer(secret: Buffer): (username: string | null | undefined) => string | undefined {
  return (username) => {
    const normalised = normaliseUsername((username ?? '').normalize('NFKC'));
    if (!normalised) return undefined;
    return createHmac('sha256', secret).update(normalised).digest('base64url').slice(0, 32);
  };
}
