// POST /account/logout ends the dashboard session (a POST with a CSRF token, so no other site
// can sign the customer out); GET /account/signed-out says so.
import Router from '@koa/router';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { DASHBOARD_CSRF_SCOPE } from './dashboard.ts';
import { clearPortalCookie, LOGIN_PATH, PORTAL_COOKIE, PORTAL_PATH, seeOther } from './session-cookie.ts';
import type { PortalSessionStore } from './session-store.ts';

const SIGNED_OUT_PATH = `${PORTAL_PATH}/signed-out`;

export function signOutRoutes({ sessions, csrf }: { sessions: PortalSessionStore; csrf: Csrf }): Router {
  const router = new Router();

  router.post(`${PORTAL_PATH}/logout`, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const token = ctx.cookies.get(PORTAL_COOKIE);
    if (token) await sessions.revoke(token);
    clearPortalCookie(ctx);
    seeOther(ctx, SIGNED_OUT_PATH);
  });

  router.get(SIGNED_OUT_PATH, (ctx) => {
    ctx.type = 'html';
    ctx.body = render('account-signed-out', { title: 'You are signed out', loginPath: LOGIN_PATH });
  });

  return router;
}
