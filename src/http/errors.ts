// Errors named after the RFC error codes they produce. `description` is safe to show; anything
// internal goes to the log only. The handler renders OAuth-style JSON for APIs and an HTML page
// for browser routes, and never a stack trace.
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { isUnder, routePath } from './route-path.ts';
import { render } from './views.ts';

export class HttpError extends Error {
  readonly status: number;
  readonly error: string;
  readonly description: string;
  readonly expose = true;
  readonly headers: Record<string, string>;

  constructor(status: number, error: string, description: string, headers: Record<string, string> = {}) {
    super(description);
    this.status = status;
    this.error = error;
    this.description = description;
    this.headers = headers;
  }
}

export class InvalidRequest extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_request', description);
  }
}
export class InvalidClientMetadata extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_client_metadata', description);
  }
}
export class InvalidRedirectUri extends HttpError {
  constructor(description: string) {
    super(400, 'invalid_redirect_uri', description);
  }
}
/** 401 that says nothing beyond "not authenticated" (admin API: missing, wrong or revoked key). */
export class Unauthorized extends HttpError {
  constructor() {
    super(401, 'invalid_token', 'authentication required', { 'WWW-Authenticate': 'Bearer realm="portcullis-admin"' });
  }
}
export class InsufficientScope extends HttpError {
  constructor(scope: string) {
    super(403, 'insufficient_scope', `this operation needs the "${scope}" scope`, {
      'WWW-Authenticate': `Bearer realm="portcullis-admin", error="insufficient_scope", scope="${scope}"`,
    });
  }
}
export class NotFound extends HttpError {
  constructor(description = 'not found') {
    super(404, 'not_found', description);
  }
}
/**
 * RFC 9110 15.5.6: 405 with `Allow`, the methods the resource takes (empty when no route of ours
 * knows the path: an unknown method such as TRACE at an oidc-provider endpoint). A client error,
 * never 501: the server is not broken because a client sent a method it does not serve.
 */
export class MethodNotAllowed extends HttpError {
  constructor(method: string, allowed: readonly string[]) {
    const use = allowed.length ? ` (allowed: ${allowed.join(', ')})` : '';
    super(405, 'invalid_request', `the ${method} method is not allowed here${use}`, { Allow: allowed.join(', ') });
  }
}
export class Conflict extends HttpError {
  constructor(description: string) {
    super(409, 'conflict', description);
  }
}
export class PayloadTooLarge extends HttpError {
  constructor(limit: number) {
    super(413, 'invalid_request', `request body exceeds ${limit} bytes`);
  }
}
export class UnsupportedMediaType extends HttpError {
  constructor() {
    super(415, 'invalid_request', 'request body must be application/json');
  }
}

const BROWSER_ROUTES = ['/interaction', '/account', '/demo', '/auth', '/session/end'];

/** Browser routes get HTML; everything else gets JSON. */
// The authorization and end-session endpoints are browser navigations too: a 403 or 429 from the
// guards in front of oidc-provider (security/request-guards.ts) is a page there. The path is read
// as the routers read it: `/ACCOUNT/login` is the sign-in page, and its errors are pages.
const wantsHtml = (rawPath: string) => {
  const path = routePath(rawPath);
  return BROWSER_ROUTES.some((prefix) => isUnder(path, prefix));
};

export function errorHandler(logger: Logger): Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new NotFound();
    } catch (caught) {
      const known = caught instanceof HttpError ? caught : undefined;
      const err = known ?? new HttpError(500, 'server_error', 'internal server error');
      if (!known) logger.error({ err: caught, requestId: ctx.state.requestId }, 'unhandled error');
      ctx.status = err.status;
      for (const [name, value] of Object.entries(err.headers)) ctx.set(name, value);
      if (wantsHtml(ctx.path)) {
        ctx.type = 'html';
        ctx.body = render('error', {
          title: err.status >= 500 ? 'Something went wrong' : 'This request cannot be completed',
          message: err.status >= 500 ? 'The service could not complete your request. Please try again later.' : err.description,
          error: err.error,
          requestId: ctx.state.requestId,
        });
      } else {
        ctx.type = 'application/json';
        ctx.body = { error: err.error, error_description: err.description, request_id: ctx.state.requestId };
      }
    }
  };
}
