// What a request with the wrong method gets, once every route (ours and oidc-provider's) has
// passed on it: 405 with `Allow` in the route's own format through the error handler (OAuth-style
// JSON on APIs, the error page on browser routes), and OPTIONS answered with `Allow`. This replaces
// @koa/router's `allowedMethods()`, whose 405 and 501 are bare `text/plain`.
//
// The routes a path matched are those @koa/router records in `ctx.matched` (every layer of every
// router whose path matches, whatever its method). oidc-provider publishes no such list: a known
// method it does not serve at one of its paths stays its own 404, and `Allow` is empty there.
import type { Middleware } from 'koa';
import { MethodNotAllowed } from './errors.ts';

/** The methods any route here can take; anything else (TRACE, PROPFIND, ...) no resource serves. */
const SERVED = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

type Matched = { matched?: { methods: readonly string[] }[] };

/** The methods of the routes whose path matched, in registration order, without repeats. */
const allowedOf = (ctx: Matched): string[] => [...new Set((ctx.matched ?? []).flatMap((layer) => layer.methods))];

export const allowedMethods: Middleware = async (ctx, next) => {
  await next();
  // Only a request nothing answered: a handler's own 404 (an unknown id) has a body, or a status set with one.
  if (ctx.status !== 404 || ctx.body !== undefined) return;
  const allowed = allowedOf(ctx as Matched);
  if (!SERVED.has(ctx.method)) throw new MethodNotAllowed(ctx.method, allowed);
  if (!allowed.length || allowed.includes(ctx.method)) return;
  if (ctx.method === 'OPTIONS') {
    // RFC 9110 9.3.7: what the resource takes, no content.
    ctx.set('Allow', allowed.join(', '));
    ctx.status = 204;
    return;
  }
  throw new MethodNotAllowed(ctx.method, allowed);
};
