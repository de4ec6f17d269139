// One limit (policy.ts `Limit`) over one store: a steady limiter and, when the limit has one, a
// burst limiter drawn on only once the steady points are spent. This is rate-limiter-flexible's
// BurstyRateLimiter policy, composed here so that a caller sees both results (for the headers,
// and to tell the request that went over from the ones after it) and can look without spending.
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { Limit } from './policy.ts';
import type { Limiter, LimiterStore } from './store.ts';

export interface Verdict {
  allowed: boolean;
  /** The steady points: what `RateLimit-Limit` announces. */
  limit: number;
  remaining: number;
  /** Milliseconds until the window (or the block) ends. */
  resetMs: number;
  /** This request is the one that went over: once per window or block, worth an audit event. */
  crossed: boolean;
}

/** The counter store failed and this family fails closed. */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
}

export interface Bucket {
  readonly limit: Limit;
  /** Spends `cost` points. */
  take(key: string, cost: number): Promise<Verdict>;
  /** Whether `cost` more points would pass, spending nothing. */
  peek(key: string, cost: number): Promise<Verdict>;
}

type Outcome = { ok: boolean; res: RateLimiterRes };

async function consume(limiter: Limiter, key: string, cost: number): Promise<Outcome> {
  try {
    return { ok: true, res: await limiter.consume(key, cost) };
  } catch (err) {
    if (err instanceof RateLimiterRes) return { ok: false, res: err };
    throw new StoreUnavailable('rate-limit store unavailable', { cause: err });
  }
}

async function read(limiter: Limiter, key: string): Promise<RateLimiterRes | null> {
  try {
    return await limiter.get(key);
  } catch (err) {
    throw new StoreUnavailable('rate-limit store unavailable', { cause: err });
  }
}

const wentOver = (res: RateLimiterRes, points: number, cost: number) =>
  res.consumedPoints > points && res.consumedPoints <= points + cost;

export function createBucket(store: LimiterStore, keyPrefix: string, limit: Limit, failOpen: boolean): Bucket {
  const steady = store.limiter(
    { keyPrefix, points: limit.points, duration: limit.duration, blockDuration: limit.block },
    failOpen,
  );
  const burst = limit.burst
    ? store.limiter({ keyPrefix: `${keyPrefix}:burst`, points: limit.burst.points, duration: limit.burst.duration }, failOpen)
    : undefined;
  const verdict = (allowed: boolean, remaining: number, resetMs: number, crossed = false): Verdict => ({
    allowed,
    limit: limit.points,
    remaining: Math.max(0, remaining),
    resetMs: Math.max(0, resetMs),
    crossed,
  });

  return {
    limit,
    async take(key, cost) {
      const s = await consume(steady, key, cost);
      if (s.ok) return verdict(true, s.res.remainingPoints, s.res.msBeforeNext);
      if (!burst || !limit.burst) return verdict(false, 0, s.res.msBeforeNext, wentOver(s.res, limit.points, cost));
      const b = await consume(burst, key, cost);
      if (b.ok) return verdict(true, 0, s.res.msBeforeNext);
      return verdict(false, 0, Math.min(s.res.msBeforeNext, b.res.msBeforeNext), wentOver(b.res, limit.burst.points, cost));
    },
    async peek(key, cost) {
      const s = await read(steady, key);
      const used = s?.consumedPoints ?? 0;
      const reset = s?.msBeforeNext ?? limit.duration * 1000;
      if (used + cost <= limit.points) return verdict(true, limit.points - used, reset);
      if (!burst || !limit.burst) return verdict(false, 0, reset);
      const b = await read(burst, key);
      if ((b?.consumedPoints ?? 0) + cost <= limit.burst.points) return verdict(true, 0, reset);
      return verdict(false, 0, Math.min(reset, b?.msBeforeNext ?? reset));
    },
  };
}
