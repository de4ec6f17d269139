// Pre-built protocol requests: token requests (client assertion + DPoP proof, each single-use)
// and introspection requests for either resource-server authentication method.
import { proxyHeaders } from './http.ts';
import type { BenchRequest } from './load.ts';
import { formBody } from './scenario.ts';
import type { Side } from './side.ts';
import { ASSERTION_TYPE, assertions, dpopProofs } from './sign.ts';

const FORM = 'application/x-www-form-urlencoded';

/** `count` token requests, each with a fresh client assertion and DPoP proof. */
export async function tokenRequests(
  side: Side,
  count: number,
  fields: (i: number) => Record<string, string>,
): Promise<BenchRequest[]> {
  const { issuer } = side.target;
  const [signed, proofs] = await Promise.all([
    assertions(side.tpp.key, side.tpp.clientId, issuer, count),
    dpopProofs(side.dpopKey, 'POST', `${issuer}/token`, count),
  ]);
  const headers = { ...proxyHeaders(side.target), 'content-type': FORM };
  return signed.map((assertion, i) => ({
    method: 'POST',
    path: '/token',
    headers: { ...headers, dpop: proofs[i] as string },
    body: formBody({ ...fields(i), client_assertion_type: ASSERTION_TYPE, client_assertion: assertion }),
  }));
}

/** Sends pre-built requests a few at a time (setup, not measured); returns the bodies. */
export async function sendAll(side: Side, requests: BenchRequest[], concurrency = 8): Promise<string[]> {
  const out: string[] = new Array(requests.length);
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const i = next++;
      const request = requests[i] as BenchRequest;
      const response = await fetch(`${side.target.url}${request.path}`, {
        method: request.method,
        headers: request.headers,
        ...(request.body ? { body: request.body } : {}),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${request.path}: ${response.status} ${text.slice(0, 300)}`);
      out[i] = text;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

/** DPoP-bound access tokens from client_credentials for a resource (opaque or JWT per its server). */
export async function mintAccessTokens(side: Side, resource: string, count: number): Promise<string[]> {
  const requests = await tokenRequests(side, count, () => ({ grant_type: 'client_credentials', scope: 'accounts', resource }));
  const bodies = await sendAll(side, requests);
  return bodies.map((b) => (JSON.parse(b) as { access_token: string }).access_token);
}

/** Introspection requests for these tokens, as the resource server authenticates. */
export async function introspectionRequests(
  side: Side,
  auth: 'secret' | 'key',
  tokens: string[],
  count: number,
): Promise<BenchRequest[]> {
  // The resource server serves the customer's own requests (FAPI x-fapi-customer-ip-address): a
  // consent's unattended allowance (PSD2 RTS Art. 36(5), frequencyPerDay) is not what is measured.
  const base = { ...proxyHeaders(side.target), 'content-type': FORM, 'x-fapi-customer-ip-address': '198.51.100.7' };
  const rs = auth === 'secret' ? side.rsSecret : side.rsKey;
  if (auth === 'secret') {
    // RFC 6749 section 2.3.1: form-urlencoded id and secret inside the Basic credentials.
    const basic = Buffer.from(`${encodeURIComponent(rs.clientId)}:${encodeURIComponent(rs.secret as string)}`).toString('base64');
    return tokens.map((token) => ({
      method: 'POST',
      path: '/token/introspection',
      headers: { ...base, authorization: `Basic ${basic}` },
      body: formBody({ token, token_type_hint: 'access_token' }),
    }));
  }
  const signed = await assertions(rs.key as NonNullable<typeof rs.key>, rs.clientId, side.target.issuer, count);
  return signed.map((assertion, i) => ({
    method: 'POST',
    path: '/token/introspection',
    headers: base,
    body: formBody({
      token: tokens[i % tokens.length] as string,
      token_type_hint: 'access_token',
      client_id: rs.clientId,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
    }),
  }));
}
