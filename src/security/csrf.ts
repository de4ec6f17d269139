// CSRF protection for every HTML form (login, consent, dashboard): a random per-browser cookie
// (HttpOnly, SameSite=Strict) and, in the form, an HMAC of that cookie bound to the form's scope
// (e.g. the interaction uid). A POST whose token does not match is refused with 403 and changes
// nothing. Stateless, so it works the same on every instance.
import { createHmac, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import { HttpError } from '../http/errors.ts';
import { constantTimeEqual } from './secrets.ts';

export const CSRF_COOKIE = 'pc_csrf';
export const CSRF_FIELD = 'csrf';

export class CsrfRejected extends HttpError {
  constructor() {
    super(
      403,
      'invalid_request',
      'This form has expired or was not sent from this site. Go back, reload the page and try again.',
    );
  }
}

export interface Csrf {
  /** The token to put in a form of this scope (sets the cookie when the browser has none). */
  token(ctx: Context, scope: string): string;
  /** Throws CsrfRejected unless the presented token matches this browser's cookie and the scope. */
  verify(ctx: Context, scope: string, presented: unknown): void;
}

export function createCsrf(key: Buffer): Csrf {
  const sign = (cookie: string, scope: string) => createHmac('sha256', key).update(`${cookie}:${scope}`).digest('base64url');
  return {
    token(ctx, scope) {
      let cookie = ctx.cookies.get(CSRF_COOKIE);
      if (!cookie || !/^[A-Za-z0-9_-]{43}$/.test(cookie)) {
        cookie = randomBytes(32).toString('base64url');
        ctx.cookies.set(CSRF_COOKIE, cookie, {
          httpOnly: true,
          sameSite: 'strict',
          secure: ctx.secure,
          path: '/',
          overwrite: true,
        });
      }
      return sign(cookie, scope);
    },
    verify(ctx, scope, presented) {
      const cookie = ctx.cookies.get(CSRF_COOKIE);
      if (!cookie || typeof presented !== 'string' || !constantTimeEqual(sign(cookie, scope), presented)) {
        throw new CsrfRejected();
      }
    },
  };
}
