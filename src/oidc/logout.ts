// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, `end_session_endpoint`): a TPP
// sends the customer here to end the bank session. oidc-provider checks the request, builds the
// confirmation form (hidden xsrf field, id "op.logoutForm") and, on confirmation, revokes the
// session's grants, destroys the session and clears its cookies; we only render the pages.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { render } from '../http/views.ts';

type LogoutFeature = NonNullable<NonNullable<Configuration['features']>['rpInitiatedLogout']>;

/** The form oidc-provider builds: its id, which the submit button outside it refers to. */
export const LOGOUT_FORM_ID = 'op.logoutForm';

const appName = (ctx: KoaContextWithOIDC) => ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId;

export function rpInitiatedLogout(): LogoutFeature {
  return {
    enabled: true,
    logoutSource(ctx, form) {
      ctx.type = 'html';
      ctx.body = render('logout', {
        title: 'Sign out of your bank?',
        app: appName(ctx),
        // oidc-provider's own markup (its action URL and a random hex secret): inserted raw, and the
        // only unescaped output of the page. The button sits outside it (form attribute), no script.
        form,
        formId: LOGOUT_FORM_ID,
      });
    },
    postLogoutSuccessSource(ctx) {
      ctx.type = 'html';
      ctx.body = render('logout-success', { title: 'You are signed out', app: appName(ctx) });
    },
  };
}
