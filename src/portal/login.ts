// GET/POST /account/login: the customer signs in to the dashboard. The steps run in order: the
// form's CSRF token, the first factor (username + password), then, for a customer with a second
// factor, that factor on its own page (login-factor.ts) before `startSession`: nothing before it
// creates a session, so a half-finished login grants nothing. Failures count towards the lockout
// and all read the same (PSD2 RTS Art. 4(2), 4(3)(b)).
import Router from '@koa/router';
import type { Context } from 'koa';
import { type Authenticator, LOGIN_FAILED } from '../accounts/authentication.ts';
import type { SecondFactors } from '../accounts/factors/types.ts';
import type { PendingLogins } from '../accounts/pending-logins.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { auditContext } from '../interactions/interaction.ts';
import { SCA_FRESH_SECONDS } from '../oidc/acr.ts';
import type { AuditLog } from '../security/audit.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { randomSecret, sha256Hex } from '../security/secrets.ts';
import { currentSession, LOGIN_PATH, PORTAL_COOKIE, PORTAL_PATH, seeOther, setPortalCookie } from './session-cookie.ts';
import type { PortalSessionStore } from './session-store.ts';

export const LOGIN_CSRF_SCOPE = 'account-login';
// Longer than any username the bank issues; keeps a pasted novel out of the re-rendered form.
const MAX_USERNAME = 200;
/** The login between its factors: a cookie scoped to the dashboard, its SHA-256 in pending_logins. */
export const PENDING_COOKIE = 'pc_portal_login';

// Where a sign-in may lead, by code: nothing from the URL becomes a redirect target.
export const NEXT_PATHS: Record<string, string> = {
  security: `${PORTAL_PATH}/security`,
  totp: `${PORTAL_PATH}/security/totp`,
  webauthn: `${PORTAL_PATH}/security/webauthn`,
};
export const nextPath = (code: unknown) => (typeof code === 'string' && Object.hasOwn(NEXT_PATHS, code) ? code : undefined);

export interface LoginDependencies {
  authenticator: Authenticator;
  factors: SecondFactors;
  pendingLogins: PendingLogins;
  audit: AuditLog;
  sessions: PortalSessionStore;
  csrf: Csrf;
}

function renderLogin(ctx: Context, csrf: Csrf, view: { username?: string; error?: string; next?: string | undefined }): void {
  ctx.type = 'html';
  ctx.body = render('account-login', {
    title: view.next ? 'Confirm it’s you' : 'Sign in to your bank',
    csrf: csrf.token(ctx, LOGIN_CSRF_SCOPE),
    username: view.username ?? '',
    error: view.error,
    next: view.next,
  });
}

const pendingOptions = (ctx: Context) =>
  ({ httpOnly: true, sameSite: 'lax', secure: ctx.secure, path: PORTAL_PATH, overwrite: true }) as const;

export const pendingId = (token: string) => `portal:${sha256Hex(token)}`;

export function clearPending(ctx: Context): void {
  ctx.cookies.set(PENDING_COOKIE, null, pendingOptions(ctx));
}

/** A fresh session for the customer; an earlier one of this browser ends (no session fixation). */
export async function startSession(ctx: Context, sessions: PortalSessionStore, customerId: string, amr: string[]): Promise<void> {
  const previous = ctx.cookies.get(PORTAL_COOKIE);
  if (previous) await sessions.revoke(previous);
  const { token } = await sessions.create(customerId, amr);
  setPortalCookie(ctx, token);
}

export function loginRoutes(deps: LoginDependencies): Router {
  const { authenticator, factors, pendingLogins, audit, sessions, csrf } = deps;
  const router = new Router();

  router.get(LOGIN_PATH, async (ctx) => {
    const next = nextPath(ctx.query.next);
    // Signing in again (to confirm a sensitive change) is offered even with a live session.
    if (!next && (await currentSession(ctx, sessions))) return seeOther(ctx, PORTAL_PATH);
    renderLogin(ctx, csrf, { next });
  });

  router.post(LOGIN_PATH, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, LOGIN_CSRF_SCOPE, field(form, CSRF_FIELD));
    const username = field(form, 'username').slice(0, MAX_USERNAME);
    const next = nextPath(field(form, 'next'));
    const context = auditContext(ctx);
    const customer = await authenticator.password(username, field(form, 'password'), context);
    if (!customer) {
      await audit.record({
        type: 'customer.login',
        outcome: 'failure',
        actor: { type: 'anonymous' },
        ...context,
        personal: { ...context.personal, username },
        details: { channel: 'dashboard' },
      });
      ctx.status = 401;
      return renderLogin(ctx, csrf, { username, error: LOGIN_FAILED, next });
    }
    if ((await factors.available(customer.id, 'dashboard')).length > 0) {
      const token = randomSecret();
      await pendingLogins.put(pendingId(token), { customerId: customer.id, amr: ['pwd'] }, SCA_FRESH_SECONDS);
      ctx.cookies.set(PENDING_COOKIE, token, pendingOptions(ctx));
      return seeOther(ctx, `${LOGIN_PATH}/factor${next ? `?next=${next}` : ''}`);
    }
    await authenticator.completed(customer.id);
    await audit.record({
      type: 'customer.login',
      outcome: 'success',
      actor: { type: 'customer', id: customer.id },
      customerId: customer.id,
      ...context,
      details: { channel: 'dashboard', amr: ['pwd'] },
    });
    await startSession(ctx, sessions, customer.id, ['pwd']);
    seeOther(ctx, next ? (NEXT_PATHS[next] as string) : PORTAL_PATH);
  });

  return router;
}
