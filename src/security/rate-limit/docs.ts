// Renders docs/rate-limits.md from the tables the server runs (policy.ts, anomalies/rules.ts), so
// the documented numbers and their reasons cannot drift from the code (`npm run docs:rate-limits`;
// a test fails when the file is stale).
import { RULE_NAMES, RULES, VELOCITY_FACTOR, VELOCITY_WARMUP_MINUTES } from '../anomalies/rules.ts';
import { FAMILIES, type Family, type Limit, POLICY, TIERS } from './policy.ts';

const span = (seconds: number) =>
  seconds % 3600 === 0 ? `${seconds / 3600} h` : seconds % 60 === 0 ? `${seconds / 60} min` : `${seconds} s`;

const pathOf = (pattern: RegExp) => pattern.source.replace(/^\^|\$$/g, '').replace(/\\\//g, '/');

const row = (dimension: string, limit: Limit) =>
  `| ${dimension} | ${limit.points} / ${span(limit.duration)} | ${
    limit.burst ? `+${limit.burst.points} / ${span(limit.burst.duration)}` : '-'
  } | ${limit.block ? span(limit.block) : '-'} |`;

function family(name: Family): string {
  const p = POLICY[name];
  const rows = [
    row('address (IPv6: /64)', p.ip),
    ...(p.client ? TIERS.map((t) => row(`client, ${t}`, p.client?.[t] as Limit)) : []),
    ...(p.customer ? [row('customer (username)', p.customer)] : []),
    ...(p.adminKey ? [row('admin key', p.adminKey)] : []),
  ];
  const costs = p.costs.length
    ? p.costs
        .map(
          (c) =>
            `${c.points} points: ${[c.method, c.path && pathOf(c.path), c.field && `with \`${c.field}\``].filter(Boolean).join(' ')} (${c.why})`,
        )
        .join('; ')
    : 'every request 1 point';
  const why = Object.entries(p.why).map(([dimension, text]) => `- **${dimension}**: ${text}`);
  return [
    `### \`${name}\`: ${p.endpoints}`,
    '',
    '| counted per | steady | burst | block after |',
    '| --- | --- | --- | --- |',
    ...rows,
    '',
    `Cost: ${costs}. Store unreachable: **fails ${p.storeDown}** (${p.storeDownWhy})`,
    '',
    ...why,
    '',
  ].join('\n');
}

const rules = () =>
  [
    '| rule | threshold | window | may block the address | why |',
    '| --- | --- | --- | --- | --- |',
    ...RULE_NAMES.map((name) => {
      const r = RULES[name];
      return `| \`${name}\` | ${r.threshold} | ${r.windowSeconds ? span(r.windowSeconds) : 'each event'} | ${r.blocksIp ? 'yes' : 'no'} | ${r.why} |`;
    }),
  ].join('\n');

export function rateLimitsMarkdown(): string {
  return `# Rate limits, IP blocks and anomaly detection

OWASP API4 (unrestricted resource consumption) and the abuse side of API2. This file is generated
from \`src/security/rate-limit/policy.ts\` and \`src/security/anomalies/rules.ts\`
(\`npm run docs:rate-limits\`); a test fails when it is stale.

## How a request is counted

Every request except the health probes (\`/healthz\`, \`/readyz\`) first meets the IP block list,
then the rate limiter, before anything reads its body or oidc-provider sees it. The limiter puts
the request in one **endpoint family** by method and path and spends the request's **cost** (1
point unless the family's cost rules say more) in each of the family's counters. The path is read
as the routers read it (\`src/http/route-path.ts\`), in any letter case and with or without a
trailing slash: \`POST /Token/\` is the token endpoint, and counts (and fails closed) as one.
The counters:

- **address**: the client address (\`ctx.ip\`; behind a proxy listed in \`TRUSTED_PROXIES\`, the
  rightmost \`X-Forwarded-For\` entry that is not itself a trusted proxy, at most
  \`TRUST_PROXY_HOPS\` back; from any other peer the header is removed and ignored). IPv6
  addresses are counted per /64, since one host or household holds a whole /64 (RFC 6177).
- **client** (PAR, token, introspection, revocation), by the client's **trust tier**, set per
  client by an admin (\`trust_tier\`: \`standard\`, \`partner\`, \`internal\`). The client is read
  from the request without verifying anything (HTTP Basic user, the \`sub\` of
  \`client_assertion\`, or \`client_id\`). Its counter is only *checked* before the request; the
  cost is *charged* after oidc-provider has answered: to the client when it authenticated, else
  to the address under the low **anonymous** tier. So a request that forges another client's id
  spends the forger's anonymous allowance, never the victim's. The anonymous counter of an
  address is checked on every request from it, whatever client it names, so an address that
  keeps failing authentication is refused for a while. (Concurrent requests can overshoot a client limit by the
  number in flight; the address limit has no such gap.)
- **customer** (login): the typed username, normalised as logins are (trimmed, lower case,
  NFKC) and stored only as an HMAC under a secret the instances share. The limit applies whether
  or not the username exists, so it reveals nothing.
- **admin key** (admin API): the key's id.

A limit is \`points\` per \`window\` seconds, counted from a key's first request (so clients do
not all reset at once). Where a **burst** is given, a key that spent its steady points may draw on
the burst allowance, which refills once per burst window: a short spike passes, a sustained excess
does not (token-bucket-like; rate-limiter-flexible's \`BurstyRateLimiter\` policy). Where a
**block** is given instead, a key that went over is refused for that long (brute-force backoff).

Every counted response carries \`RateLimit-Limit\`, \`RateLimit-Remaining\` and \`RateLimit-Reset\`
(seconds; draft-ietf-httpapi-ratelimit-headers) for the counter closest to refusal. A refused
request gets **429** with \`Retry-After\`: OAuth-style JSON
(\`{"error":"too_many_requests","error_description":...}\`) on API endpoints, an HTML page on
browser routes (\`/auth\`, \`/interaction/*\`, \`/account/*\`, \`/session/end\`). The request that
first goes over a limit is recorded in the audit log as \`rate_limit.exceeded\` (once per window
or block, not once per refusal) and every refusal is counted in the metric
\`portcullis_rate_limit_rejections_total{family,dimension}\`.

## Limits by family

${FAMILIES.map(family).join('\n')}
## Where the counters live

| \`RATE_LIMIT_STORE\` | counters | use it for |
| --- | --- | --- |
| \`auto\` (default) | Redis when \`REDIS_URL\` is set, else PostgreSQL with \`DATABASE_URL\`, else memory | the right thing |
| \`redis\` | Redis at \`REDIS_URL\` (\`RATE_LIMIT_KEY_PREFIX\` namespaces the keys) | several instances: one shared count |
| \`postgres\` | the \`rate_limits\` table (unlogged) of the server database | one or a few instances without Redis |
| \`memory\` | this process | a single process, tests |

With the embedded PGlite database the counters are in memory (PGlite serves one process and
offers no connection pool to the limiter); the server logs this at start-up. With
\`WEB_CONCURRENCY\` > 1 and memory counters, each worker counts on its own: the limits multiply by
the number of workers.

When the store is unreachable (or slower than \`RATE_LIMIT_STORE_TIMEOUT_MS\`), a family that
**fails closed** answers 503 \`temporarily_unavailable\` with \`Retry-After: 5\`; a family that
**fails open** counts that request in the instance's memory instead (the same limits, per
instance). Defaults: \`token\` and \`login\` fail closed (credentials are minted or guessed there),
everything else fails open. \`RATE_LIMIT_FAIL_CLOSED\` replaces the list (\`none\` for none).

## Changing the numbers

- \`RATE_LIMIT_MULTIPLIER\` scales every default (points and bursts), e.g. \`2\` for a bank twice
  the size the defaults assume.
- \`RATE_LIMITS\` sets exact limits, unscaled, as comma-separated
  \`family.dimension[.tier]=points[/seconds][+burst]\` (dimensions: \`ip\`, \`client\`, \`customer\`,
  \`admin_key\`; \`+0\` removes the burst allowance). Examples: \`login.ip=50\`,
  \`token.client.partner=1200/60\`, \`par.client.standard=30/60+0\`. A family that has no such
  dimension, a missing tier or an unknown name stops the server at start-up.

## IP blocks

An operator blocks an address or range (IPv4 or IPv6 CIDR) with \`POST /admin/ip-blocks\`
(\`{"cidr", "reason", "expires_in"?}\`, scope \`incident:write\`) or
\`portcullis ip-blocks block CIDR --reason TEXT [--expires-in SECONDS]\`; lists with
\`GET /admin/ip-blocks\` (scope \`audit:read\`) or \`portcullis ip-blocks list\`; lifts with
\`DELETE /admin/ip-blocks/:id\` or \`portcullis ip-blocks unblock ID\`. A blocked client gets 403
\`access_denied\` on every endpoint (JSON, or a page on browser routes). Each block and unblock is
an audit event (\`ip.blocked\`, \`ip.unblocked\`) naming who did it. Blocks live in the
\`ip_blocks\` table; each instance caches them for \`IP_BLOCK_CACHE_TTL_MS\` (a change made on the
instance applies at once, elsewhere within that time) and checks expiry on every request. The
admin API obeys blocks too, so it refuses a block that covers the address the request comes
from, and any range wider than an IPv4 /8 or an IPv6 /16 (the CLI and automatic blocks keep the
width limit); a block set elsewhere that shuts an operator out is lifted with the CLI.

## Anomaly detection

Rules over sliding windows watch what the limiter sees (credential steps and their outcome:
401/423 is a failure) and the audit log (refresh-token reuse):

${rules()}

\`token_velocity\`: a client's requests in the current minute against ${VELOCITY_FACTOR}x its norm
(an exponentially weighted mean of its past minutes, weight 1/60), judged only once the norm has
${VELOCITY_WARMUP_MINUTES} minutes behind it; before that, the threshold alone.
\`ANOMALY_THRESHOLDS\` adjusts rules (\`rule=threshold[/seconds]\`, e.g. \`credential_stuffing=20\`).

A rule fires at most once per subject and window. Firing records an \`anomaly\` audit event (rule,
count, threshold, window, action; the address among the erasable personal data), increments
\`portcullis_anomalies_total{rule}\`, and POSTs the same facts as JSON to \`ANOMALY_WEBHOOK_URL\`
when set (\`type: "portcullis.anomaly"\`; no redirects, 3 s timeout, fire and forget). With
\`ANOMALY_BLOCK_MINUTES\` > 0, a rule that may block the address blocks it (its /64 for IPv6) for
that many minutes, recorded as \`ip.blocked\` by \`system:anomaly-detection\`. The default is 0
(alert only): carrier-grade NAT can put many honest customers behind one address.

The windows are kept per instance: behind a load balancer each instance judges its own share of
the traffic, so per-address thresholds hold per instance.
`;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(rateLimitsMarkdown());
