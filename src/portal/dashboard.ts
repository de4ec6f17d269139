// GET /account: the customer's consents. POST /account/consents/:id/revoke: the customer ends
// one; its grant and every token of it end with it. OWASP API1: every lookup is by consent id AND
// the session's customer, so another customer's consent is "not found" and stays untouched.
import Router from '@koa/router';
import type { Logger } from 'pino';
import type { AccountDirectory } from '../accounts/account-directory.ts';
import type { CustomerStore } from '../accounts/customers.ts';
import type { ConsentService } from '../consents/consent-service.ts';
import type { ConsentStore } from '../consents/consent-store.ts';
import { NotFound } from '../http/errors.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import type { ClientStore } from '../oidc/clients.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { consentView, type TppName } from './consent-view.ts';
import {
  clearPortalCookie,
  LOGIN_PATH,
  PORTAL_COOKIE,
  PORTAL_PATH,
  requireSession,
  seeOther,
  sessionOf,
} from './session-cookie.ts';
import type { PortalSessionStore } from './session-store.ts';

/** Forms on the dashboard (revoke, sign out) carry a token of this scope. */
export const DASHBOARD_CSRF_SCOPE = 'account';

// Fixed messages picked by a code in the query: nothing from the URL reaches the page.
const NOTICES = new Map([
  ['revoked', 'Access revoked. The app can no longer use it.'],
  ['ended', 'That access had already ended.'],
]);

export interface DashboardDependencies {
  customers: CustomerStore;
  accounts: AccountDirectory;
  clients: ClientStore;
  consents: ConsentStore;
  consentService: ConsentService;
  holder: ProviderHolder;
  sessions: PortalSessionStore;
  csrf: Csrf;
  logger: Logger;
}

export function dashboardRoutes(deps: DashboardDependencies): Router {
  const { customers, accounts, clients, consents, consentService, holder, sessions, csrf, logger } = deps;
  const router = new Router();
  const signedIn = requireSession(sessions);

  const tppName = async (clientId: string): Promise<TppName> => {
    const metadata = (await clients.get(clientId))?.metadata;
    const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value : undefined);
    return { name: text(metadata?.client_name) ?? clientId, organisation: text(metadata?.organisation_name) };
  };

  router.get(PORTAL_PATH, signedIn, async (ctx) => {
    const { customerId } = sessionOf(ctx);
    const customer = await customers.findById(customerId);
    if (customer?.status !== 'active') {
      // Locked or disabled since signing in: the session ends here.
      const token = ctx.cookies.get(PORTAL_COOKIE);
      if (token) await sessions.revoke(token);
      clearPortalCookie(ctx);
      return seeOther(ctx, LOGIN_PATH);
    }
    const [all, held] = await Promise.all([consents.listForCustomer(customerId), accounts.listAccounts(customerId)]);
    // Requests never approved (still awaiting, or declined) granted nothing: not listed.
    const shown = all.filter((c) => c.status !== 'awaiting_authorisation' && c.status !== 'rejected');
    const names = new Map(
      await Promise.all([...new Set(shown.map((c) => c.clientId))].map(async (id) => [id, await tppName(id)] as const)),
    );
    const views = shown.map((c) => consentView(c, names.get(c.clientId) as TppName, held));
    ctx.type = 'html';
    ctx.body = render('account', {
      title: 'Your connected apps',
      username: customer.username,
      notice: NOTICES.get(String(ctx.query.notice)),
      active: views.filter((v) => v.revocable),
      ended: views.filter((v) => !v.revocable),
      csrf: csrf.token(ctx, DASHBOARD_CSRF_SCOPE),
    });
  });

  router.post(`${PORTAL_PATH}/consents/:id/revoke`, signedIn, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const { customerId } = sessionOf(ctx);
    const revoked = await consentService.revoke(holder.current, ctx.params.id as string, customerId);
    if (!revoked) throw new NotFound('You have no access with that reference. Go back to your dashboard and try again.');
    logger.info(
      { event: 'consent.revoked_by_customer', consent_id: revoked.id, client_id: revoked.clientId, customer_id: customerId },
      'customer revoked a consent',
    );
    seeOther(ctx, `${PORTAL_PATH}?notice=${revoked.status === 'revoked' ? 'revoked' : 'ended'}`);
  });

  return router;
}
