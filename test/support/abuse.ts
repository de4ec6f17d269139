// Traffic for the abuse-protection tests: sign-in attempts and token requests from a chosen client
// address. The address travels in X-Forwarded-For, so the server must run with TRUST_PROXY=true.
import { ASSERTION_TYPE, clientAssertion, type FormResponse, postForm } from './fapi.ts';
import { REDIRECT_URI, type Tpp } from './tpp.ts';

/**
 * One sign-in attempt at the customer dashboard: GET the form (CSRF token and cookie), POST it, to
 * `path` (default `/account/login`; another spelling of it, such as `/ACCOUNT/LOGIN/`).
 */
export async function portalLogin(
  issuer: string,
  from: { ip: string; username: string; password?: string; path?: string },
): Promise<Response> {
  const headers = { 'x-forwarded-for': from.ip };
  const page = await fetch(`${issuer}/account/login`, { headers, redirect: 'manual' });
  const html = await page.text();
  const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
  if (!csrf) throw new Error(`no sign-in form (status ${page.status}): ${html.slice(0, 200)}`);
  const cookie = page.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ');
  return fetch(`${issuer}${from.path ?? '/account/login'}`, {
    method: 'POST',
    headers: { ...headers, cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf, username: from.username, password: from.password ?? 'not the password' }),
    redirect: 'manual',
  });
}

/**
 * A token request the client authenticates properly (a fresh private_key_jwt assertion) but whose
 * grant fails (an unknown code): oidc-provider answers 400, and the request counts against the
 * client. `assertion` replaces the valid one (e.g. a forged one).
 */
export async function authenticatedTokenRequest(
  issuer: string,
  tpp: Tpp,
  options: { ip?: string; assertion?: string } = {},
): Promise<FormResponse> {
  return postForm(
    `${issuer}/token`,
    {
      grant_type: 'authorization_code',
      code: 'no-such-code',
      redirect_uri: REDIRECT_URI,
      code_verifier: 'a'.repeat(43),
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: options.assertion ?? (await clientAssertion(issuer, tpp)),
    },
    options.ip ? { 'x-forwarded-for': options.ip } : {},
  );
}

/** The RateLimit header fields of a response, as numbers. */
export function rateLimitHeaders(headers: Headers): { limit: number; remaining: number; reset: number } {
  const read = (name: string) => {
    const value = headers.get(name);
    if (value === null) throw new Error(`missing ${name}`);
    return Number(value);
  };
  return { limit: read('ratelimit-limit'), remaining: read('ratelimit-remaining'), reset: read('ratelimit-reset') };
}
