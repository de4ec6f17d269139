// Decoding what a client (or a proxy in front of one) percent-encodes: HTTP Basic client
// credentials (RFC 6749 section 2.3.1: client_id and secret are each form-urlencoded, then joined
// with ":" and base64-encoded) and URL-encoded certificate headers. decodeURIComponent throws a
// URIError on a malformed escape such as "%zz"; here that is never an exception (which would reach
// the error handler as a 500 server_error) but "no credentials", which every caller answers as a
// failed authentication in its own format.

/** Percent-decodes text; undefined when it holds a malformed escape or encodes invalid UTF-8. */
export function percentDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** One application/x-www-form-urlencoded value ("+" is a space), as RFC 6749 2.3.1 encodes credentials. */
export const formDecode = (text: string): string | undefined => percentDecode(text.replace(/\+/g, ' '));

export interface BasicCredentials {
  clientId: string;
  secret: string;
}

/** The decoded credentials of an `Authorization: Basic` header; undefined when absent or malformed. */
export function basicCredentials(authorization: string): BasicCredentials | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(authorization.trim());
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  const clientId = formDecode(decoded.slice(0, colon));
  const secret = formDecode(decoded.slice(colon + 1));
  return clientId === undefined || secret === undefined ? undefined : { clientId, secret };
}
