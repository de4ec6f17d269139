// The dashboard's session cookie and the middleware that requires it. `pc_portal` is scoped to
// /account (no other route of the server ever sees it), HttpOnly, SameSite=Lax, Secure over TLS;
// it has no Max-Age: the browser drops it when closed, the server ends it after 5 idle minutes.
import type { Context, Middleware } from 'koa';
import type { PortalSession, PortalSessionStore } from './session-store.ts';

export const PORTAL_COOKIE = 'pc_portal';
export const PORTAL_PATH = '/account';
export const LOGIN_PATH = `${PORTAL_PATH}/login`;
export const SECURITY_PATH = `${PORTAL_PATH}/security`;

const options = (ctx: Context) =>
  ({ httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: PORTAL_PATH, overwrite: true }) as const;

export function setPortalCookie(ctx: Context, token: string): void {
  ctx.cookies.set(PORTAL_COOKIE, token, options(ctx));
}

export function clearPortalCookie(ctx: Context): void {
  ctx.cookies.set(PORTAL_COOKIE, null, options(ctx));
}

/** 303: the answer to a form POST never repeats it (FAPI 2.0 SP 5.3.2.2: no 307 after a credential POST). */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

/** The browser's live dashboard session, if any; a cookie for an ended session is cleared. */
export async function currentSession(ctx: Context, sessions: PortalSessionStore): Promise<PortalSession | undefined> {
  const token = ctx.cookies.get(PORTAL_COOKIE);
  if (!token) return undefined;
  const session = await sessions.get(token);
  if (!session) clearPortalCookie(ctx);
  return session;
}

/** Routes behind the dashboard login: without a live session the browser goes to the login page. */
export function requireSession(sessions: PortalSessionStore): Middleware {
  return async (ctx, next) => {
    const session = await currentSession(ctx, sessions);
    if (!session) return seeOther(ctx, LOGIN_PATH);
    ctx.state.portalSession = session;
    await next();
  };
}

/** The session `requireSession` found for this request. */
export const sessionOf = (ctx: Context): PortalSession => ctx.state.portalSession as PortalSession;
