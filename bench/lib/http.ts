// Plain HTTP as a browser or a TPP behind the bank's TLS proxy would send it: requests go to the
// loopback port, with X-Forwarded-Proto/Host naming the https issuer (the server runs with
// TRUST_PROXY), so DPoP `htu` and assertion `aud` are the issuer's https URLs.

export interface Target {
  /** Where the requests really go, e.g. http://127.0.0.1:41234 */
  url: string;
  /** The public https issuer, e.g. https://portcullis.bench */
  issuer: string;
}

export const proxyHeaders = (target: Target): Record<string, string> => ({
  'x-forwarded-proto': 'https',
  'x-forwarded-host': new URL(target.issuer).host,
});

/** A browser's cookies for one site (enough for the bank's own cookies). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair?.indexOf('=') ?? -1;
      if (!pair || at < 1) continue;
      const name = pair.slice(0, at).trim();
      const value = pair.slice(at + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
}

export async function send(
  target: Target,
  path: string,
  options: {
    method?: string;
    headers?: Record<string, string>;
    form?: Record<string, string> | URLSearchParams;
    jar?: CookieJar;
  } = {},
): Promise<Reply> {
  const cookie = options.jar?.header();
  const response = await fetch(`${target.url}${path}`, {
    method: options.method ?? (options.form ? 'POST' : 'GET'),
    redirect: 'manual',
    headers: {
      ...proxyHeaders(target),
      ...(options.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...(cookie ? { cookie } : {}),
      ...options.headers,
    },
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
  });
  options.jar?.store(response.headers);
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The path (and query) of a redirect to the issuer itself; undefined when it leaves the site. */
export function localPath(target: Target, location: string): string | undefined {
  const url = new URL(location, target.issuer);
  return url.origin === new URL(target.issuer).origin ? `${url.pathname}${url.search}` : undefined;
}

export async function json<T>(reply: Reply): Promise<T> {
  try {
    return JSON.parse(reply.text) as T;
  } catch {
    throw new Error(`expected JSON, got ${reply.status}: ${reply.text.slice(0, 300)}`);
  }
}
