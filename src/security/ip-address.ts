// Client addresses as numbers: one canonical text per address (IPv4-mapped IPv6 becomes IPv4,
// IPv6 is compressed as RFC 5952 says), CIDR ranges as [first, last], and the key a client is
// counted under: its IPv4 address, or its IPv6 /64 (RFC 6177: one site, usually one household or
// one host, holds a whole /64, so per-address counting of IPv6 is trivially evaded).
import { isIP } from 'node:net';

export type IpVersion = 4 | 6;

export interface IpAddress {
  version: IpVersion;
  value: bigint;
}

export interface IpRange {
  version: IpVersion;
  /** Canonical `network/prefix`, host bits cleared. */
  cidr: string;
  first: bigint;
  last: bigint;
}

const BITS: Record<IpVersion, number> = { 4: 32, 6: 128 };

function parseV4(text: string): bigint {
  return text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(text: string): bigint {
  let s = text;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(s)?.[1];
  if (tail) {
    const v4 = parseV4(tail);
    s = `${s.slice(0, -tail.length)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', rest] = s.split('::') as [string, string | undefined];
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((acc, group) => (acc << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

function formatV4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function formatV6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLength = 1; // RFC 5952 4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      best = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLength).join(':')}`;
}

export const formatIp = (ip: IpAddress): string => (ip.version === 4 ? formatV4(ip.value) : formatV6(ip.value));

/** The address, or undefined when the text is not one. IPv4-mapped IPv6 comes back as IPv4. */
export function parseIp(text: string): IpAddress | undefined {
  const bare = text.trim().replace(/%.*$/, ''); // an IPv6 zone id (fe80::1%eth0) names an interface, not a host
  const version = isIP(bare);
  if (version === 4) return { version: 4, value: parseV4(bare) };
  if (version !== 6) return undefined;
  const value = parseV6(bare);
  if (value >> 32n === 0xffffn) return { version: 4, value: value & 0xffffffffn };
  return { version: 6, value };
}

/** The canonical text of an address, or the input unchanged when it is not one. */
export const canonicalIp = (text: string): string => {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : text;
};

const mask = (version: IpVersion, prefix: number): bigint => {
  const bits = BITS[version];
  return ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
};

/**
 * An address or a CIDR range (`203.0.113.0/24`, `2001:db8::/32`, a bare address meaning one host).
 * Host bits past the prefix are cleared: `203.0.113.7/24` is the /24. Undefined when malformed.
 */
export function parseRange(text: string): IpRange | undefined {
  const match = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(text.trim());
  if (!match?.[1]) return undefined;
  const ip = parseIp(match[1]);
  if (!ip) return undefined;
  let prefix = match[2] === undefined ? BITS[ip.version] : Number(match[2]);
  // A range written in IPv4-mapped form (::ffff:203.0.113.0/120) is the IPv4 range it maps.
  if (ip.version === 4 && isIP(match[1].replace(/%.*$/, '')) === 6 && match[2] !== undefined) prefix -= 96;
  if (prefix < 0 || prefix > BITS[ip.version]) return undefined;
  const first = ip.value & mask(ip.version, prefix);
  const last = first | ((1n << BigInt(BITS[ip.version] - prefix)) - 1n);
  return { version: ip.version, cidr: `${formatIp({ version: ip.version, value: first })}/${prefix}`, first, last };
}

export const rangeContains = (range: IpRange, ip: IpAddress): boolean =>
  range.version === ip.version && ip.value >= range.first && ip.value <= range.last;

/** What one client is counted and blocked as: its IPv4 address, or its IPv6 /64. */
export function addressKey(text: string): string {
  const ip = parseIp(text);
  if (!ip) return text || 'unknown';
  if (ip.version === 4) return formatV4(ip.value);
  return `${formatV6(ip.value & mask(6, 64))}/64`;
}
