// OWASP API4: one cap on every request body, checked on the declared length before anything
// reads it (our readers and oidc-provider's each stop a longer chunked body on their own:
// body.ts and form.ts at their limits, oidc-provider at 56 KiB). The 413 comes in the
// endpoint's format through the error handler: OAuth-style JSON, or an HTML page on browser routes.
import type { Middleware } from 'koa';
import { PayloadTooLarge } from './errors.ts';

export function bodyLimit(limit: number): Middleware {
  return async (ctx, next) => {
    const declared = Number(ctx.get('content-length') || 0);
    if (declared > limit) {
      // The body is left unread: close the connection after answering rather than drain it.
      ctx.set('Connection', 'close');
      throw new PayloadTooLarge(limit);
    }
    try {
      await next();
    } finally {
      // A reader that stopped early (a chunked body over its cap) leaves the rest of the body
      // on the socket: the connection cannot carry another request.
      if (!ctx.req.complete) ctx.set('Connection', 'close');
    }
  };
}
