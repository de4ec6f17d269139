// THE rate-limit table (OWASP API4): every endpoint family, what each request costs, and the limit
// per dimension: client address, calling client by trust tier, customer, admin key. Each number
// says why it has its value; docs/rate-limits.md is generated from this table (docs.ts), and
// RATE_LIMITS / RATE_LIMIT_MULTIPLIER adjust it per deployment (overrides.ts).
//
// How a limit behaves: `points` per `duration` seconds, counted from a key's first request (a
// window per key, so clients do not all reset together). `burst` lends extra points refilled
// every `burst.duration` seconds once the steady points are spent: a short spike passes, a
// sustained excess does not (token-bucket-like; rate-limiter-flexible's BurstyRateLimiter
// policy). `block` keeps a key refused for that many seconds after it went over: brute-force
// backoff, only where a burst makes no sense.
import type { TrustTier } from '../../oidc/clients.ts';

export const FAMILIES = [
  'par',
  'token',
  'introspection',
  'revocation',
  'registration',
  'pages',
  'login',
  'admin',
  'metadata',
  'other',
] as const;
export type Family = (typeof FAMILIES)[number];

/** `anonymous`: a request that names no registered client, or whose client authentication failed. */
export const TIERS = ['anonymous', 'standard', 'partner', 'internal'] as const satisfies readonly ('anonymous' | TrustTier)[];
export type Tier = (typeof TIERS)[number];

export const DIMENSIONS = ['ip', 'client', 'customer', 'admin_key'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface Limit {
  points: number;
  duration: number;
  burst?: { points: number; duration: number } | undefined;
  block?: number | undefined;
}

export interface Cost {
  points: number;
  /** Matches when every given condition holds. */
  method?: string;
  path?: RegExp;
  /** A form field whose presence makes the request dearer. */
  field?: string;
  why: string;
}

export interface FamilyPolicy {
  endpoints: string;
  /** What happens when the counter store cannot be reached: `open` counts in local memory instead, `closed` refuses (503). */
  storeDown: 'open' | 'closed';
  storeDownWhy: string;
  /** First match wins; a request no rule matches costs 1 point. */
  costs: Cost[];
  ip: Limit;
  client?: Record<Tier, Limit>;
  customer?: Limit;
  adminKey?: Limit;
  why: Partial<Record<Dimension, string>>;
}

const MINUTE = 60;
const TEN_MINUTES = 600;

/** The 20-a-minute limit for requests that fail client authentication, then five minutes off. */
const ANONYMOUS: Limit = { points: 20, duration: MINUTE, block: 5 * MINUTE };
const ANONYMOUS_WHY =
  'anonymous: 20 a minute per address for requests that name no registered client or fail its authentication, then 5 minutes refused: a configured client never fails authentication 20 times a minute, a key-guessing script does.';

export const POLICY: Record<Family, FamilyPolicy> = {
  par: {
    endpoints: 'POST /request (pushed authorization requests)',
    storeDown: 'open',
    storeDownWhy: 'a PAR creates nothing a customer has approved; counting per instance keeps journeys starting.',
    costs: [{ points: 2, field: 'request', why: 'a signed request object (JAR) is a second signature to verify' }],
    ip: { points: 600, duration: MINUTE, burst: { points: 1200, duration: TEN_MINUTES } },
    client: {
      anonymous: ANONYMOUS,
      standard: { points: 60, duration: MINUTE, burst: { points: 120, duration: TEN_MINUTES } },
      partner: { points: 300, duration: MINUTE, burst: { points: 600, duration: TEN_MINUTES } },
      internal: { points: 1200, duration: MINUTE, burst: { points: 2400, duration: TEN_MINUTES } },
    },
    why: {
      ip: 'one address above 10 a second with bursts to 20 is a flood, whoever it claims to be; a partner TPP stays below it.',
      client: `each PAR starts one customer journey: 60 a minute (3,600 journeys an hour) is a mid-sized TPP at peak, with a burst of 120 for a campaign; partners 5x, the bank's own apps 20x. ${ANONYMOUS_WHY}`,
    },
  },
  token: {
    endpoints: 'POST /token (code exchange, refresh, client credentials)',
    storeDown: 'closed',
    storeDownWhy:
      'the token endpoint mints credentials; without shared counters a credential-stuffing run could fan out over instances unnoticed, so it refuses (503) until the store is back.',
    costs: [],
    ip: { points: 1200, duration: MINUTE, burst: { points: 2400, duration: TEN_MINUTES } },
    client: {
      anonymous: ANONYMOUS,
      standard: { points: 120, duration: MINUTE, burst: { points: 240, duration: TEN_MINUTES } },
      partner: { points: 600, duration: MINUTE, burst: { points: 1200, duration: TEN_MINUTES } },
      internal: { points: 3000, duration: MINUTE, burst: { points: 6000, duration: TEN_MINUTES } },
    },
    why: {
      ip: 'a ceiling above any one tier-limited client, so only a flood from one address meets it.',
      client: `one code exchange per journey (as PAR's 60 a minute) plus refreshes: access tokens live ACCESS_TOKEN_TTL (300 s) and unattended access is at most 4 a day per consent (PSD2 RTS Art. 36(5)), so 2 a second with a burst of 240 covers a standard TPP's batch refresh; partners 5x, internal 25x. ${ANONYMOUS_WHY}`,
    },
  },
  introspection: {
    endpoints: 'POST /token/introspection (resource servers)',
    storeDown: 'open',
    storeDownWhy: "introspection sits on every API call of the bank's resource servers; refusing it takes the APIs down.",
    costs: [],
    ip: { points: 12_000, duration: MINUTE, burst: { points: 12_000, duration: TEN_MINUTES } },
    client: {
      anonymous: ANONYMOUS,
      standard: { points: 60, duration: MINUTE },
      partner: { points: 60, duration: MINUTE },
      internal: { points: 6000, duration: MINUTE, burst: { points: 12_000, duration: TEN_MINUTES } },
    },
    why: {
      ip: 'resource servers often share an egress address: twice the internal client limit.',
      client: `resource servers are internal clients and introspect on every API call: 100 a second each, bursts to 300. TPPs may not introspect at all (unauthorized_client), so 60 a minute is plenty for their errors. ${ANONYMOUS_WHY}`,
    },
  },
  revocation: {
    endpoints: 'POST /token/revocation',
    storeDown: 'open',
    storeDownWhy: 'revoking must keep working during an outage: it is how a TPP or an incident responder turns tokens off.',
    costs: [],
    ip: { points: 600, duration: MINUTE, burst: { points: 1200, duration: TEN_MINUTES } },
    client: {
      anonymous: ANONYMOUS,
      standard: { points: 60, duration: MINUTE, burst: { points: 120, duration: TEN_MINUTES } },
      partner: { points: 300, duration: MINUTE, burst: { points: 600, duration: TEN_MINUTES } },
      internal: { points: 1200, duration: MINUTE, burst: { points: 2400, duration: TEN_MINUTES } },
    },
    why: {
      ip: 'as PAR: a flood ceiling above any one client.',
      client: `a TPP revokes when a customer disconnects, about as often as journeys start: PAR's numbers. ${ANONYMOUS_WHY}`,
    },
  },
  registration: {
    endpoints: '/reg and /reg/:id (RFC 7591/7592 dynamic registration)',
    storeDown: 'open',
    storeDownWhy: 'registration needs an initial access token from an operator, which already bounds it.',
    costs: [
      { points: 5, method: 'POST', why: 'creating a client validates its metadata and keys and writes a row' },
      { points: 5, method: 'PUT', why: 'replacing metadata is validated like creating it' },
    ],
    ip: { points: 30, duration: 3600, block: 3600 },
    why: {
      ip: 'a TPP registers a handful of times in its life: 30 points an hour (6 registrations, or 30 reads) per address, then an hour off.',
    },
  },
  pages: {
    endpoints: 'GET/POST /auth, /interaction/* (except credential steps), /account/* (except sign-in), /session/end',
    storeDown: 'open',
    storeDownWhy: 'pages do no credential checks; customers must still be able to read and revoke their consents.',
    costs: [{ points: 2, method: 'POST', why: 'a form submission writes (a consent, a revocation)' }],
    ip: { points: 600, duration: 300, burst: { points: 600, duration: 3600 } },
    why: {
      ip: 'a customer journey is 5 to 10 page requests, and carrier-grade NAT puts many customers behind one address: 2 a second sustained stops scripts hammering /auth, not people.',
    },
  },
  login: {
    endpoints: 'POST /interaction/:uid/<credential step> (password, second factor), POST /account/login*',
    storeDown: 'closed',
    storeDownWhy:
      'each attempt is a password or factor guess; without shared counters guesses multiply by the number of instances, so sign-in waits (503) until the store is back.',
    costs: [],
    ip: { points: 100, duration: 900, block: 900 },
    customer: { points: 10, duration: 900, block: 900 },
    why: {
      ip: 'about one attempt every 9 seconds per address over 15 minutes, then 15 minutes off: generous for a shared address, ruinous for password spraying.',
      customer:
        'the lockout after 5 consecutive failures (PSD2 RTS Art. 4(3)(b)) is the per-customer control; this backstop also counts successful and locked-out attempts, capping any one username at 10 tries per 15 minutes (the username is normalised and hashed, and the limit applies whether or not it exists).',
    },
  },
  admin: {
    endpoints: '/admin/* (admin API)',
    storeDown: 'open',
    storeDownWhy: 'operators must be able to act (suspend, revoke, block) during an outage of the counter store.',
    costs: [
      { points: 10, method: 'POST', path: /^\/admin\/keys\/rotate$/, why: 'key rotation generates a key per algorithm' },
      { points: 5, method: 'POST', path: /^\/admin\/users$/, why: 'creating a customer hashes a password (argon2id)' },
      { points: 2, method: 'POST', why: 'writes' },
      { points: 2, method: 'PUT', why: 'writes' },
      { points: 2, method: 'DELETE', why: 'writes' },
    ],
    ip: { points: 600, duration: MINUTE, burst: { points: 1200, duration: TEN_MINUTES } },
    adminKey: { points: 300, duration: MINUTE, burst: { points: 600, duration: TEN_MINUTES } },
    why: {
      ip: 'several operators and scripts may share an address: twice the per-key limit.',
      admin_key:
        'an operator script reading the audit log or registering clients in bulk stays under 5 a second; a leaked key cannot be used to flood the database.',
    },
  },
  metadata: {
    endpoints: 'GET /.well-known/*, /jwks',
    storeDown: 'open',
    storeDownWhy: 'discovery and keys must stay reachable: every client and resource server depends on them.',
    costs: [],
    ip: { points: 300, duration: MINUTE, burst: { points: 600, duration: TEN_MINUTES } },
    why: {
      ip: 'cacheable documents (clients and resource servers refetch JWKS only for an unknown kid): 5 a second per address is far above any well-behaved client.',
    },
  },
  other: {
    endpoints:
      'everything else: userinfo, resource-server callbacks, static files, the demo TPP (health probes are never limited)',
    storeDown: 'open',
    storeDownWhy: 'nothing here checks a credential guess.',
    costs: [],
    ip: { points: 600, duration: MINUTE, burst: { points: 1200, duration: TEN_MINUTES } },
    why: { ip: 'a generic flood ceiling of 10 a second per address.' },
  },
};

/** The points a request costs in its family; `path` is canonical (http/route-path.ts), as the cost rules spell it. */
export function costOf(policy: FamilyPolicy, request: { method: string; path: string; fields?: URLSearchParams | undefined }) {
  const rule = policy.costs.find(
    (c) =>
      (c.method === undefined || c.method === request.method) &&
      (c.path === undefined || c.path.test(request.path)) &&
      (c.field === undefined || request.fields?.has(c.field) === true),
  );
  return rule?.points ?? 1;
}
