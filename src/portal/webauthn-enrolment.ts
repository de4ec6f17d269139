// /account/security/webauthn: adding a security key or passkey. Like an authenticator app it needs
// a sign-in of the last 5 minutes (with the second factor when the customer already has one,
// PSD2 RTS Art. 4(3)(d)); the customer names the credential, the browser creates it
// (static/webauthn.js, the page's only script), and the server verifies it against the challenge
// of this session before storing its public key. A customer may hold several.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { CustomerStore } from '../accounts/customers.ts';
import type { FactorStore } from '../accounts/factors/factor-store.ts';
import type { WebAuthn } from '../accounts/factors/webauthn.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { DASHBOARD_CSRF_SCOPE } from './dashboard.ts';
import type { SecurityHelpers } from './security.ts';
import { requireSession, SECURITY_PATH, sessionOf } from './session-cookie.ts';
import type { PortalSessionStore } from './session-store.ts';

const WEBAUTHN_PATH = `${SECURITY_PATH}/webauthn`;
const NOT_ADDED = 'Your security key or passkey was not added. Try again, or use another one.';

export interface WebAuthnEnrolmentDependencies {
  customers: CustomerStore;
  webauthn: WebAuthn;
  factors: FactorStore;
  csrf: Csrf;
  sessions: PortalSessionStore;
}

export function webauthnEnrolmentRoutes(deps: WebAuthnEnrolmentDependencies, helpers: SecurityHelpers): Router {
  const { customers, webauthn, factors, csrf, sessions } = deps;
  const router = new Router();
  const signedIn = requireSession(sessions);
  // One registration at a time per dashboard session; a new page replaces the earlier challenge.
  const attemptOf = (ctx: Context) => `enrol:${sessionOf(ctx).id}`;
  const hasFactor = async (customerId: string) => (await factors.list(customerId)).length > 0;

  const renderEnrolment = async (ctx: Context, view: { name: string; error?: string }) => {
    const { customerId } = sessionOf(ctx);
    const customer = await customers.findById(customerId);
    const options = await webauthn.registrationOptions(
      { id: customerId, username: customer?.username ?? customerId },
      attemptOf(ctx),
    );
    ctx.type = 'html';
    ctx.body = render('account-webauthn-enrol', {
      title: 'Add a security key or passkey',
      webauthn: { ceremony: 'create', options },
      csrf: csrf.token(ctx, DASHBOARD_CSRF_SCOPE),
      action: WEBAUTHN_PATH,
      refreshUrl: WEBAUTHN_PATH,
      securityPath: SECURITY_PATH,
      name: view.name,
      error: view.error,
    });
  };

  router.get(WEBAUTHN_PATH, signedIn, async (ctx) => {
    if (helpers.needsFreshLogin(ctx, await hasFactor(sessionOf(ctx).customerId), 'webauthn')) return;
    await renderEnrolment(ctx, { name: '' });
  });

  router.post(WEBAUTHN_PATH, signedIn, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const { customerId } = sessionOf(ctx);
    if (helpers.needsFreshLogin(ctx, await hasFactor(customerId), 'webauthn')) return;
    const name = field(form, 'name');
    // Held when this session was opened with a recovery code (security.ts).
    const added = await webauthn.register(customerId, attemptOf(ctx), field(form, 'credential'), name, helpers.holdSeconds(ctx));
    if (!added) {
      await helpers.record(ctx, 'customer.factor_enrolment_failed', customerId, { kind: 'webauthn' }, 'failure');
      ctx.status = 400;
      return renderEnrolment(ctx, { name: name.slice(0, 60), error: NOT_ADDED });
    }
    await helpers.enrolled(ctx, customerId, { id: added.factorId, kind: 'webauthn' });
  });

  return router;
}
