// Which peers may speak for the client. Behind a TLS-terminating proxy the client's address,
// scheme, host and certificate arrive in headers that anyone can also send directly: they are
// believed only from the addresses in TRUSTED_PROXIES and removed from every other request before
// any middleware (rate limits, IP blocks, audit, oidc-provider's mTLS) reads them.
import type { Middleware } from 'koa';
import type { Config } from '../config.ts';
import { type IpRange, parseIp, parseRange, rangeContains } from './ip-address.ts';

/** Names for the usual ranges, so a list reads `loopback,10.1.0.0/16`. */
const PRESETS: Record<string, string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  // RFC 1918 and RFC 4193 unique local addresses: a proxy in the same private network.
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

/** Headers only a proxy may set; the configured client-certificate header is added to these. */
export const FORWARDED_HEADERS = [
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'x-forwarded-port',
  'forwarded',
  'x-real-ip',
];

const entries = (text: string) =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

/** What is wrong with a TRUSTED_PROXIES value (config.ts reports each under the variable's name). */
export function trustedProxyProblems(text: string): string[] {
  return entries(text)
    .filter((entry) => !PRESETS[entry] && !parseRange(entry))
    .map((entry) => `"${entry}" is not an IPv4/IPv6 address, a CIDR range, "loopback" or "private"`);
}

export interface ProxyTrust {
  /** True when some proxy is trusted at all (koa's and oidc-provider's `proxy` flag follow it). */
  readonly enabled: boolean;
  trusts(address: string | undefined): boolean;
}

export function proxyTrust(config: Pick<Config, 'TRUSTED_PROXIES' | 'TRUST_PROXY'>): ProxyTrust {
  // TRUST_PROXY=true predates TRUSTED_PROXIES; it never again means "believe anyone".
  const list = config.TRUSTED_PROXIES || (config.TRUST_PROXY ? 'loopback' : '');
  const ranges: IpRange[] = entries(list)
    .flatMap((entry) => PRESETS[entry] ?? [entry])
    .map((entry) => parseRange(entry))
    .filter((range): range is IpRange => range !== undefined);
  return {
    enabled: ranges.length > 0,
    trusts(address) {
      const ip = address ? parseIp(address) : undefined;
      return ip !== undefined && ranges.some((range) => rangeContains(range, ip));
    },
  };
}

/**
 * First middleware of every listener. From an untrusted peer the forwarded headers are deleted;
 * from a trusted one the client address is the first X-Forwarded-For entry, from the right, that
 * is not itself a trusted proxy (at most TRUST_PROXY_HOPS entries back), and `ctx.ip` is set to
 * it, so nothing downstream re-reads the header its own way.
 */
export function trustedProxies(
  trust: ProxyTrust,
  config: Pick<Config, 'TRUST_PROXY_HOPS' | 'CLIENT_CERT_HEADER'>,
  listener: { certificateHeader: boolean } = { certificateHeader: true },
): Middleware {
  const certHeader = config.CLIENT_CERT_HEADER ? [config.CLIENT_CERT_HEADER] : [];
  const stripped = [...FORWARDED_HEADERS, ...certHeader];
  return async (ctx, next) => {
    const peer = ctx.req.socket.remoteAddress ?? '';
    if (!trust.trusts(peer)) {
      for (const name of stripped) delete ctx.req.headers[name];
      ctx.request.ip = peer;
      return next();
    }
    // A listener that terminates mutual TLS itself believes no certificate header from anyone.
    if (!listener.certificateHeader) for (const name of certHeader) delete ctx.req.headers[name];
    const forwarded = entries(ctx.get('x-forwarded-for')).reverse();
    let client = peer;
    for (let i = 0; i < Math.min(config.TRUST_PROXY_HOPS, forwarded.length); i++) {
      if (i > 0 && !trust.trusts(client)) break;
      client = forwarded[i] as string;
    }
    // A proxy that forwards garbage ("unknown", a port suffix) does not get to name the client.
    ctx.request.ip = parseIp(client) ? client : peer;
    return next();
  };
}
