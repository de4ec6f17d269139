// The only way the server fetches a URL a client gave it (OWASP API7, server-side request
// forgery): oidc-provider's `fetch` hook, used for a client's `jwks_uri` (and `sector_identifier_uri`,
// which the client metadata schema refuses anyway). Https only, hosts on an allow-list, a time
// and size cap, and never a private, loopback or otherwise special-use address unless allowed
// (refused in production by the configuration).
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';

/** A fetch the policy refuses; the message is for the operator's log, the client sees invalid_client(_metadata). */
export class OutboundFetchRefused extends Error {
  override name = 'OutboundFetchRefused';
}

// IANA special-use ranges (RFC 6890 and its updates): loopback, private, link-local, CGNAT,
// documentation, benchmarking, multicast, reserved. Cloud metadata (169.254.169.254) is link-local.
const SPECIAL_USE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  SPECIAL_USE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  SPECIAL_USE.addSubnet(net, prefix, 'ipv6');
}

/** True for loopback, private and other special-use addresses (IPv4-mapped IPv6 included). */
export function isSpecialUseAddress(address: string): boolean {
  const version = isIP(address);
  if (version === 4) return SPECIAL_USE.check(address, 'ipv4');
  if (version !== 6) return true; // not an address at all: never a safe target
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped?.[1]) return SPECIAL_USE.check(mapped[1], 'ipv4');
  return SPECIAL_USE.check(address, 'ipv6');
}

/** `host` is on the list: an exact name, or `*.example.com` for any subdomain of example.com. */
export function hostAllowed(host: string, allowed: readonly string[]): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  return allowed.some((entry) => {
    const pattern = entry.toLowerCase();
    return pattern.startsWith('*.') ? name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1 : name === pattern;
  });
}

/** Parses the comma-separated allow-list setting; returns the problems of each bad entry. */
export function allowedHostProblems(text: string): string[] {
  return parseAllowedHosts(text)
    .filter((entry) => !/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(entry))
    .map((entry) => `"${entry}" is not a host name or *.domain`);
}

export const parseAllowedHosts = (text: string): string[] =>
  text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);

export interface OutboundFetchPolicy {
  allowedHosts: readonly string[];
  timeoutMs: number;
  maxBytes: number;
  /** Development and tests only: loopback and private targets (production refuses the setting). */
  allowPrivate: boolean;
}

/** Why a URL may not be fetched at all (scheme, host); undefined when it may. */
export function urlProblem(url: URL, policy: Pick<OutboundFetchPolicy, 'allowedHosts'>): string | undefined {
  if (url.protocol !== 'https:') return `${url.href}: only https URLs are fetched`;
  if (url.username || url.password) return `${url.href}: URLs with credentials are not fetched`;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!hostAllowed(host, policy.allowedHosts)) return `${url.host} is not on the allow-list of hosts the bank fetches from`;
  return undefined;
}

type Fetch = (url: string | URL, init?: RequestInit & { dispatcher?: unknown }) => Promise<Response>;

export interface OutboundFetchDependencies {
  /** Resolves a host name to all its addresses (defaults to the system resolver). */
  resolve?: (host: string) => Promise<string[]>;
  transport?: Fetch;
}

const systemResolve = async (host: string) => (await lookup(host, { all: true, verbatim: true })).map((a) => a.address);

/** A body stream that errors once more than `maxBytes` have passed. */
function capped(body: ReadableStream<Uint8Array>, maxBytes: number, href: string): ReadableStream<Uint8Array> {
  let received = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        received += chunk.byteLength;
        if (received > maxBytes) controller.error(new OutboundFetchRefused(`${href}: response larger than ${maxBytes} bytes`));
        else controller.enqueue(chunk);
      },
    }),
  );
}

/** oidc-provider's `fetch` option under the policy. */
export function createOutboundFetch(policy: OutboundFetchPolicy, deps: OutboundFetchDependencies = {}): Fetch {
  const resolve = deps.resolve ?? systemResolve;
  const transport: Fetch = deps.transport ?? (globalThis.fetch as Fetch);
  return async (input, init = {}) => {
    const url = new URL(String(input));
    const problem = urlProblem(url, policy);
    if (problem) throw new OutboundFetchRefused(problem);
    const options = { ...init, redirect: 'error' as const };
    if (policy.allowPrivate) {
      // oidc-provider's dispatcher drops special-use targets at connect time; here they are allowed.
      delete options.dispatcher;
    } else {
      // Checked before connecting; oidc-provider's dispatcher checks the connected socket again,
      // so a name that resolves differently a moment later (DNS rebinding) is still caught.
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const addresses = isIP(host) ? [host] : await resolve(host);
      const special = addresses.find(isSpecialUseAddress);
      if (addresses.length === 0 || special !== undefined) {
        throw new OutboundFetchRefused(`${url.host} resolves to a private or special-use address (${special ?? 'none'})`);
      }
    }
    const timeout = AbortSignal.timeout(policy.timeoutMs);
    options.signal = init.signal ? AbortSignal.any([init.signal, timeout]) : timeout;
    const response = await transport(url, options);
    const length = Number(response.headers.get('content-length') ?? Number.NaN);
    if (length > policy.maxBytes) {
      await response.body?.cancel();
      throw new OutboundFetchRefused(`${url.href}: response of ${length} bytes is larger than ${policy.maxBytes}`);
    }
    if (!response.body) return response;
    return new Response(capped(response.body, policy.maxBytes, url.href), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };
}
