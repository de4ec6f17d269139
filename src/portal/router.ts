// The customer dashboard under /account: the bank's own site, with its own session (separate
// from oidc-provider's, which only serves TPP authorizations).
import Router from '@koa/router';
import type { ProviderHolder } from '../oidc/provider.ts';
import type { Csrf } from '../security/csrf.ts';
import type { Services } from '../services.ts';
import { dashboardRoutes } from './dashboard.ts';
import { type LoginDependencies, loginRoutes } from './login.ts';
import { loginFactorRoutes } from './login-factor.ts';
import { securityRoutes } from './security.ts';
import { createPortalSessionStore, type PortalSessionStore } from './session-store.ts';
import { signOutRoutes } from './sign-out.ts';

// PSD2 RTS Art. 4(3)(d): at most 5 minutes without activity after authentication.
export const PORTAL_IDLE_SECONDS = 5 * 60;

export function createPortalRouter(
  services: Services,
  holder: ProviderHolder,
  csrf: Csrf,
  sessions: PortalSessionStore = createPortalSessionStore(services.db.knex, {
    idleSeconds: PORTAL_IDLE_SECONDS,
    lifetimeSeconds: services.config.SESSION_TTL,
  }),
): Router {
  const { customers, accounts, clients, consents, consentService, logger, authentication, audit } = services;
  const router = new Router();
  const login: LoginDependencies = {
    authenticator: authentication.authenticator,
    factors: authentication.secondFactors,
    pendingLogins: authentication.pendingLogins,
    audit,
    sessions,
    csrf,
  };
  router.use(loginRoutes(login).routes());
  router.use(loginFactorRoutes(login).routes());
  router.use(
    securityRoutes({
      customers,
      authentication,
      audit,
      sessions,
      csrf,
      recoveryHoldHours: services.config.RECOVERY_FACTOR_HOLD_HOURS,
    }).routes(),
  );
  router.use(
    dashboardRoutes({ customers, accounts, clients, consents, consentService, holder, sessions, csrf, logger }).routes(),
  );
  router.use(signOutRoutes({ sessions, csrf }).routes());
  return router;
}
