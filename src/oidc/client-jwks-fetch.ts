// A client's jwks_uri is fetched by oidc-provider (at first use, and again when a kid is unknown),
// which keeps every key it can parse: a 1024-bit RSA or a P-384 key served there would sit beside
// the good ones. The same key rules as at registration (client-keys.ts, FAPI 2.0 SP 5.4) apply to
// what is fetched, and a set with a refused key is refused as a whole, as a registered one is: the
// client then fails authentication (invalid_client) until its JWKS is fixed, and the operator's log
// says which key and why.
import { clientJwksProblem } from './client-keys.ts';

type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** A fetched JWKS the key rules refuse; oidc-provider reports it as a failed refresh. */
export class ClientJwksRefused extends Error {
  override name = 'ClientJwksRefused';
}

/**
 * Wraps the outbound fetch (security/outbound-fetch.ts, which already caps size and time). Every
 * fetch the provider makes is a client's jwks_uri: sector_identifier_uri is refused at
 * registration and no other fetching feature is enabled. A body that is not a JWKS is passed on
 * unchanged for oidc-provider to refuse in its own words.
 */
export function jwksCheckingFetch(fetch: Fetch, onRefused: (url: string, problem: string) => void = () => {}): Fetch {
  return async (url, init) => {
    const response = await fetch(url, init);
    if (response.status !== 200 || !response.body) return response;
    const body = Buffer.from(await response.arrayBuffer());
    let document: unknown;
    try {
      document = JSON.parse(body.toString('utf8'));
    } catch {
      document = undefined;
    }
    const problem = clientJwksProblem(document);
    if (problem) {
      onRefused(String(url), problem);
      throw new ClientJwksRefused(`jwks_uri ${url}: ${problem}`);
    }
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
