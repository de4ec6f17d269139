// What a limited request sees: the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers:
// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` in delta seconds) for the tightest of
// the limits that counted it, and on refusal 429 with `Retry-After` (RFC 9110 10.2.3). Errors go
// through the app's error handler: OAuth-style JSON on APIs, an HTML page on browser routes.
import type { Context } from 'koa';
import { HttpError } from '../../http/errors.ts';
import type { Verdict } from './bucket.ts';

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function headersOf(v: Verdict): Record<string, string> {
  return {
    'RateLimit-Limit': String(v.limit),
    'RateLimit-Remaining': String(v.remaining),
    'RateLimit-Reset': String(seconds(v.resetMs)),
  };
}

/** The verdict closest to refusal: fewest points left, then the longest wait. */
export function tightest(verdicts: Verdict[]): Verdict | undefined {
  return verdicts.reduce<Verdict | undefined>((worst, v) => {
    if (!worst) return v;
    if (v.allowed !== worst.allowed) return v.allowed ? worst : v;
    if (v.remaining !== worst.remaining) return v.remaining < worst.remaining ? v : worst;
    return v.resetMs > worst.resetMs ? v : worst;
  }, undefined);
}

export function setRateLimitHeaders(ctx: Context, v: Verdict | undefined): void {
  if (v) for (const [name, value] of Object.entries(headersOf(v))) ctx.set(name, value);
}

/** "try again in 40 seconds" / "in 15 minutes": readable on a page, exact in Retry-After. */
const wait = (ms: number) => {
  const s = seconds(ms);
  return s < 120 ? `${s} seconds` : `${Math.ceil(s / 60)} minutes`;
};

export class TooManyRequests extends HttpError {
  constructor(v: Verdict) {
    super(429, 'too_many_requests', `Too many requests. Please try again in ${wait(v.resetMs)}.`, {
      ...headersOf(v),
      'Retry-After': String(seconds(v.resetMs)),
    });
  }
}

/** A fail-closed family while the counter store is unreachable. */
export class LimitsUnavailable extends HttpError {
  constructor() {
    super(503, 'temporarily_unavailable', 'This service is briefly unavailable. Try again in a few seconds.', {
      'Retry-After': '5',
    });
  }
}
