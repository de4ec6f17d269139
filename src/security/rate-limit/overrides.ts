// The table in policy.ts as a deployment runs it: every default scaled by RATE_LIMIT_MULTIPLIER,
// then the explicit RATE_LIMITS entries (never scaled), then RATE_LIMIT_FAIL_CLOSED.
//
// RATE_LIMITS is a comma-separated list of `family.dimension[.tier]=points[/seconds][+burst]`:
//   login.ip=5                  5 login attempts per address per window (the window stays 900 s)
//   token.client.partner=1200/60+0   partners: 1200 a minute, no burst allowance
// A dimension the family does not count, a tier on a dimension without tiers, or an unknown name
// is a configuration error at start-up.
import { DIMENSIONS, FAMILIES, type Family, type FamilyPolicy, type Limit, POLICY, TIERS, type Tier } from './policy.ts';

export interface RateLimitSettings {
  RATE_LIMITS: string;
  RATE_LIMIT_MULTIPLIER: number;
  RATE_LIMIT_FAIL_CLOSED: string;
}

export type EffectivePolicy = Record<Family, FamilyPolicy>;

interface Override {
  family: Family;
  dimension: (typeof DIMENSIONS)[number];
  tier?: Tier | undefined;
  points: number;
  duration?: number | undefined;
  burst?: number | undefined;
}

const ENTRY = /^([a-z]+)\.([a-z_]+)(?:\.([a-z]+))?=(\d{1,7})(?:\/(\d{1,7}))?(?:\+(\d{1,7}))?$/;
const dimensionKey = { ip: 'ip', client: 'client', customer: 'customer', admin_key: 'adminKey' } as const;

function parseEntry(text: string): Override | string {
  const m = ENTRY.exec(text);
  if (!m) return `"${text}" is not family.dimension[.tier]=points[/seconds][+burst]`;
  const [, family, dimension, tier, points, duration, burst] = m;
  if (!FAMILIES.includes(family as Family)) return `"${family}" is not a family (${FAMILIES.join(', ')})`;
  if (!DIMENSIONS.includes(dimension as Override['dimension']))
    return `"${dimension}" is not a dimension (${DIMENSIONS.join(', ')})`;
  const dim = dimension as Override['dimension'];
  if (POLICY[family as Family][dimensionKey[dim]] === undefined) return `the ${family} family is not limited per ${dimension}`;
  if (dim === 'client' && !TIERS.includes(tier as Tier)) return `"${text}" needs a tier: ${TIERS.join(', ')}`;
  if (dim !== 'client' && tier !== undefined) return `"${text}": only the client dimension has tiers`;
  if (Number(points) < 1 || (duration !== undefined && Number(duration) < 1))
    return `"${text}": points and seconds must be at least 1`;
  return {
    family: family as Family,
    dimension: dim,
    tier: tier as Tier | undefined,
    points: Number(points),
    duration: duration === undefined ? undefined : Number(duration),
    burst: burst === undefined ? undefined : Number(burst),
  };
}

const entries = (text: string) =>
  text
    .split(/[,\s]+/)
    .map((e) => e.trim())
    .filter(Boolean);

/** What is wrong with a RATE_LIMITS value (empty when nothing): for the config schema. */
export function overrideProblems(text: string): string[] {
  return entries(text).flatMap((e) => {
    const parsed = parseEntry(e);
    return typeof parsed === 'string' ? [parsed] : [];
  });
}

/** What is wrong with a RATE_LIMIT_FAIL_CLOSED value. */
export function failClosedProblems(text: string): string[] {
  if (text.trim() === 'none') return [];
  return entries(text)
    .filter((f) => !FAMILIES.includes(f as Family))
    .map((f) => `"${f}" is not a family (${FAMILIES.join(', ')}, or none)`);
}

const scale = (limit: Limit, factor: number): Limit => {
  const n = (points: number) => Math.max(1, Math.round(points * factor));
  return {
    ...limit,
    points: n(limit.points),
    ...(limit.burst ? { burst: { ...limit.burst, points: n(limit.burst.points) } } : {}),
  };
};

function applied(limit: Limit, o: Override): Limit {
  const duration = o.duration ?? limit.duration;
  const next: Limit = { ...limit, points: o.points, duration };
  if (o.burst === 0) delete next.burst;
  else if (o.burst !== undefined) next.burst = { points: o.burst, duration: limit.burst?.duration ?? duration * 10 };
  return next;
}

export function effectivePolicy(settings: RateLimitSettings): EffectivePolicy {
  const factor = settings.RATE_LIMIT_MULTIPLIER;
  const policy = Object.fromEntries(
    FAMILIES.map((family) => {
      const p = POLICY[family];
      const tiers = p.client;
      return [
        family,
        {
          ...p,
          ip: scale(p.ip, factor),
          ...(tiers ? { client: Object.fromEntries(TIERS.map((t) => [t, scale(tiers[t], factor)])) as Record<Tier, Limit> } : {}),
          ...(p.customer ? { customer: scale(p.customer, factor) } : {}),
          ...(p.adminKey ? { adminKey: scale(p.adminKey, factor) } : {}),
        } satisfies FamilyPolicy,
      ];
    }),
  ) as EffectivePolicy;

  for (const text of entries(settings.RATE_LIMITS)) {
    const o = parseEntry(text);
    if (typeof o === 'string') throw new Error(`RATE_LIMITS: ${o}`);
    const family = policy[o.family];
    if (o.dimension === 'client' && family.client && o.tier) family.client[o.tier] = applied(family.client[o.tier], o);
    else if (o.dimension === 'ip') family.ip = applied(family.ip, o);
    else if (o.dimension === 'customer' && family.customer) family.customer = applied(family.customer, o);
    else if (o.dimension === 'admin_key' && family.adminKey) family.adminKey = applied(family.adminKey, o);
  }

  const closed = settings.RATE_LIMIT_FAIL_CLOSED.trim();
  if (closed) {
    const families = closed === 'none' ? [] : entries(closed);
    for (const family of FAMILIES) policy[family].storeDown = families.includes(family) ? 'closed' : 'open';
  }
  return policy;
}
