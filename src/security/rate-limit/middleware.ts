// The rate limiter in front of every route and of oidc-provider. Per request, in its family:
//   1. the client address (IPv6: its /64) spends the request's cost;
//   2. login: the typed username (normalised, hashed) spends it too; admin API: the admin key;
//   3. PAR/token/introspection/revocation: the client the request names is checked, not charged,
//      against its tier's limit, and the address against the low anonymous limit; after
//      oidc-provider has answered, the cost is charged to the client if it authenticated, else to
//      the address as anonymous. A forged client_id therefore spends the forger's allowance only.
// Then `RateLimit-*` headers for the tightest limit; a refusal is 429 (responses.ts). When the
// counter store is down, a fail-closed family answers 503 and the others count in memory.
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import { peekForm } from '../../http/buffered-body.ts';
import { routePath } from '../../http/route-path.ts';
import { type AuditLog, requestContext } from '../audit.ts';
import { addressKey } from '../ip-address.ts';
import { type Bucket, createBucket, StoreUnavailable, type Verdict } from './bucket.ts';
import { familyOf, READS_FORM } from './families.ts';
import { adminKeyId, claimedClient } from './identity.ts';
import type { EffectivePolicy } from './overrides.ts';
import { costOf, type Dimension, FAMILIES, type Family, type Limit, TIERS, type Tier } from './policy.ts';
import { LimitsUnavailable, setRateLimitHeaders, TooManyRequests, tightest } from './responses.ts';
import type { LimiterStore } from './store.ts';
import type { TierLookup } from './tiers.ts';

/** What other parts learn from the limiter: refusals (metrics) and outcomes (anomaly detection). */
export interface LimiterHooks {
  rejected?(family: Family, dimension: Dimension): void;
  /** A credential step was answered: 401/423 is a failure, 2xx/3xx a success. */
  credentialAttempt?(
    attempt: { ip: string; account?: string | undefined; outcome: 'success' | 'failure' },
    ctx: Context,
  ): Promise<void>;
  /** An authenticated client was answered at the token endpoint. */
  tokenRequest?(clientId: string, ctx: Context): Promise<void>;
}

export interface RateLimiterDependencies {
  policy: EffectivePolicy;
  store: LimiterStore;
  keyPrefix: string;
  tierOf: TierLookup;
  customerKey(username: string | null | undefined): string | undefined;
  audit: AuditLog;
  logger: Logger;
  hooks?: LimiterHooks;
}

interface FamilyBuckets {
  ip: Bucket;
  client?: Record<Tier, Bucket>;
  customer?: Bucket;
  adminKey?: Bucket;
}

function bucketsFor(deps: RateLimiterDependencies): Record<Family, FamilyBuckets> {
  const { policy, store, keyPrefix } = deps;
  return Object.fromEntries(
    FAMILIES.map((family) => {
      const p = policy[family];
      const open = p.storeDown === 'open';
      const make = (name: string, limit: Limit) => createBucket(store, `${keyPrefix}:${family}:${name}`, limit, open);
      const tiers = p.client;
      const buckets: FamilyBuckets = {
        ip: make('ip', p.ip),
        ...(tiers
          ? { client: Object.fromEntries(TIERS.map((t) => [t, make(`client:${t}`, tiers[t])])) as Record<Tier, Bucket> }
          : {}),
        ...(p.customer ? { customer: make('customer', p.customer) } : {}),
        ...(p.adminKey ? { adminKey: make('admin_key', p.adminKey) } : {}),
      };
      return [family, buckets];
    }),
  ) as Record<Family, FamilyBuckets>;
}

type OidcContext = Context & { oidc?: { client?: { clientId?: string } } };

/** Did oidc-provider authenticate the client? It names the client before checking its credentials. */
function authenticatedClient(ctx: OidcContext, status: number): string | undefined {
  const clientId = ctx.oidc?.client?.clientId;
  const error = (ctx.body as { error?: unknown } | undefined)?.error;
  return clientId && status !== 401 && error !== 'invalid_client' ? clientId : undefined;
}

const outcomeOf = (status: number) =>
  status === 401 || status === 423 ? 'failure' : status >= 200 && status < 400 ? 'success' : undefined;

export function rateLimiter(deps: RateLimiterDependencies): Middleware {
  const { policy, tierOf, audit, logger, hooks = {} } = deps;
  const buckets = bucketsFor(deps);
  const lastOutageLog = new Map<Family, number>();

  const outage = (family: Family, err: unknown) => {
    const now = Date.now();
    if ((lastOutageLog.get(family) ?? 0) + 10_000 > now) return;
    lastOutageLog.set(family, now);
    logger.error(
      { err: (err as Error).cause ?? err, family, failClosed: policy[family].storeDown === 'closed' },
      policy[family].storeDown === 'closed'
        ? 'rate-limit store unavailable: refusing this family (fails closed)'
        : 'rate-limit store unavailable: counting in memory (fails open)',
    );
  };

  const recordCrossing = (
    ctx: Context,
    family: Family,
    dimension: Dimension,
    limit: Limit,
    tier: Tier | undefined,
    clientId?: string,
  ) => {
    audit
      .record({
        type: 'rate_limit.exceeded',
        outcome: 'failure',
        actor: clientId ? { type: 'client', id: clientId } : { type: 'anonymous' },
        clientId,
        ...requestContext(ctx),
        details: {
          family,
          dimension,
          ...(tier ? { tier } : {}),
          points: limit.points,
          window_seconds: limit.duration,
          block_seconds: limit.block,
        },
      })
      .catch((err) => logger.error({ err }, 'audit event lost: rate_limit.exceeded'));
  };

  return async (ctx, next) => {
    const family = familyOf(ctx.method, ctx.path);
    if (!family) return next();
    const b = buckets[family];
    const ip = addressKey(ctx.ip);
    const fields = READS_FORM.has(family) ? await peekForm(ctx) : undefined;
    const cost = costOf(policy[family], { method: ctx.method, path: routePath(ctx.path), fields });
    const spent: Verdict[] = [];

    const judge = async (dimension: Dimension, bucket: Bucket, key: string, spend: boolean, tier?: Tier) => {
      const v = spend ? await bucket.take(key, cost) : await bucket.peek(key, cost);
      if (spend) spent.push(v);
      if (v.crossed) recordCrossing(ctx, family, dimension, bucket.limit, tier);
      if (!v.allowed) {
        hooks.rejected?.(family, dimension);
        throw new TooManyRequests(v);
      }
    };

    let account: string | undefined;
    try {
      await judge('ip', b.ip, ip, true);
      const keyId = b.adminKey ? adminKeyId(ctx) : undefined;
      if (b.adminKey && keyId) await judge('admin_key', b.adminKey, keyId, true);
      account = b.customer ? deps.customerKey(fields?.get('username')) : undefined;
      if (b.customer && account) await judge('customer', b.customer, account, true);
      if (b.client) {
        const claim = claimedClient(ctx, fields);
        const tier = claim ? await tierOf(claim) : undefined;
        if (claim && tier) await judge('client', b.client[tier], claim, false, tier);
        await judge('client', b.client.anonymous, ip, false, 'anonymous');
      }
    } catch (err) {
      if (!(err instanceof StoreUnavailable)) throw err;
      outage(family, err);
      if (policy[family].storeDown === 'closed') throw new LimitsUnavailable();
    }
    setRateLimitHeaders(ctx, tightest(spent));

    let status = 500;
    try {
      await next();
      status = ctx.status;
    } catch (err) {
      status = (err as { status?: number }).status ?? 500;
      throw err;
    } finally {
      try {
        if (b.client) {
          const clientId = authenticatedClient(ctx as OidcContext, status);
          const tier = clientId ? await tierOf(clientId) : undefined;
          const bucketTier: Tier = clientId && tier ? tier : 'anonymous';
          const bucket = b.client[bucketTier];
          const v = await bucket.take(clientId && tier ? clientId : ip, cost);
          if (v.crossed) recordCrossing(ctx, family, 'client', bucket.limit, bucketTier, clientId);
          setRateLimitHeaders(ctx, tightest([...spent, v]));
          if (clientId && family === 'token') await hooks.tokenRequest?.(clientId, ctx);
        }
        const outcome = family === 'login' ? outcomeOf(status) : undefined;
        if (outcome) await hooks.credentialAttempt?.({ ip, account, outcome }, ctx);
      } catch (err) {
        if (err instanceof StoreUnavailable) outage(family, err);
        else logger.error({ err, family }, 'rate-limit bookkeeping after the response failed');
      }
    }
  };
}
