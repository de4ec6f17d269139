// What the result page shows of a finished flow. Tokens are bearer-like secrets even when
// DPoP-bound: only a short prefix of each is ever shown, never a whole token.
import { calculateJwkThumbprint } from 'jose';
import type { Authorised } from './tpp.ts';

export interface Row {
  name: string;
  value: string;
}

export interface ResultView {
  tokenResponse: Row[];
  idTokenClaims: Row[];
  binding: { jkt: string; matches: boolean };
  consent: { id: string; status: string };
  active: boolean;
  introspectionJson: string;
}

/** "Ab3dE9xQ… (43 characters)": enough to tell tokens apart, useless to replay. */
export const shorten = (token: string) => `${token.slice(0, 8)}… (${token.length} characters)`;

// oauth4webapi lower-cases token_type; show the scheme as RFC 9449 / RFC 6750 spell it.
const TOKEN_TYPES: Record<string, string> = { dpop: 'DPoP', bearer: 'Bearer' };

const show = (value: unknown): string => {
  if (value === undefined || value === null) return '(not present)';
  if (Array.isArray(value)) return value.join(', ');
  return typeof value === 'string' ? value : JSON.stringify(value);
};

const instant = (seconds: unknown) =>
  typeof seconds === 'number' ? `${seconds} (${new Date(seconds * 1000).toISOString()})` : show(seconds);

export async function resultView(result: Authorised): Promise<ResultView> {
  const { tokens, introspection } = result;
  const claims = tokens.claims();
  const jkt = await calculateJwkThumbprint(await crypto.subtle.exportKey('jwk', result.dpopPublicKey));
  const cnf = introspection.cnf as { jkt?: string } | undefined;
  return {
    tokenResponse: [
      { name: 'access_token', value: shorten(tokens.access_token) },
      { name: 'token_type', value: TOKEN_TYPES[tokens.token_type] ?? tokens.token_type },
      { name: 'expires_in', value: tokens.expires_in === undefined ? '(not present)' : `${tokens.expires_in} seconds` },
      { name: 'scope', value: show(tokens.scope) },
      { name: 'refresh_token', value: tokens.refresh_token ? `yes: ${shorten(tokens.refresh_token)}` : 'no' },
      { name: 'id_token', value: tokens.id_token ? 'yes (claims below)' : 'no' },
    ],
    idTokenClaims: [
      { name: 'sub', value: show(claims?.sub) },
      { name: 'acr', value: show(claims?.acr) },
      { name: 'amr', value: show(claims?.amr) },
      { name: 'auth_time', value: instant(claims?.auth_time) },
      { name: 'iss', value: show(claims?.iss) },
      { name: 'aud', value: show(claims?.aud) },
    ],
    binding: { jkt: cnf?.jkt ?? '(none)', matches: cnf?.jkt === jkt },
    consent: { id: show(introspection.consent_id), status: show(introspection.consent_status) },
    active: introspection.active === true,
    introspectionJson: JSON.stringify(introspection, null, 2),
  };
}
