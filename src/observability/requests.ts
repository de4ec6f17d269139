// One structured log line and the HTTP metrics for every request, written when the response has
// been sent (or the connection dropped). The line names the request, never its contents: no
// headers, no body, the query with unsafe values masked (redact-url.ts), the redirect target
// likewise (an authorization response carries its `code` there).
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { metrics } from './metrics.ts';
import { redactQuery, redactUrl } from './redact-url.ts';
import { routeOf } from './route.ts';

// Probes and scrapes arrive every few seconds; at info level they would drown the rest.
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics', '/favicon.ico']);
// A path is whatever the client sent: a line keeps enough of it to tell what was asked.
const MAX_PATH = 300;

export function observeRequests(logger: Logger): Middleware {
  return async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = routeOf(ctx);
      const clientId = (ctx as { oidc?: { client?: { clientId?: string } } }).oidc?.client?.clientId;
      const finish = () => {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        const status = ctx.res.statusCode;
        const labels = { method: ctx.method, route, status: String(status) };
        metrics.httpRequests.inc(labels);
        metrics.httpDuration.observe(labels, seconds);

        const location = ctx.response.get('location');
        const query = redactQuery(ctx.querystring);
        const line = {
          request_id: ctx.state.requestId as string | undefined,
          fapi_interaction_id: ctx.response.get('x-fapi-interaction-id') || undefined,
          method: ctx.method,
          path: ctx.path.slice(0, MAX_PATH),
          ...(query ? { query } : {}),
          route,
          status,
          duration_ms: Math.round(seconds * 1e4) / 10,
          ...(clientId ? { client_id: clientId } : {}),
          ...(location ? { location: redactUrl(location) } : {}),
          ...(ctx.res.writableFinished ? {} : { aborted: true }),
        };
        if (status >= 500) logger.error(line, 'request');
        else if (QUIET_PATHS.has(ctx.path)) logger.debug(line, 'request');
        else logger.info(line, 'request');
      };
      // Koa writes the response after the middleware returns: log once it is out.
      if (ctx.res.closed) finish();
      else ctx.res.once('close', finish);
    }
  };
}
