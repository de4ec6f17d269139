// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0, `end_session_endpoint`): a TPP
// sends the customer here to end the bank session. oidc-provider checks the request, builds the
// confirmation form (hidden xsrf field, id "op.logoutForm") and, on confirmation, revokes the
// session's grants, destroys the session and clears its cookies; we only render the pages.
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { render } from '../http/views.ts';
import { CONTENT_SECURITY_POLICY } from '../security/headers.ts';

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

// oidc-provider answers some steps with a page that submits a form by inline script (its
// form_post helper, with the script's SHA-256 added to the CSP): RP-initiated logout without a
// bank session, and an authorization resumed by another customer than the session's (it first
// ends the old session). Every page here is script-free (CSP `script-src 'self'`), so those pages
// are replaced by ours: the same form, its hidden fields as oidc-provider made them, and a button.
const FORM_POST_TITLE = '<title>Submitting Callback</title>';
const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'" };
const unescapeHtml = (value: string) => value.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (entity) => ENTITIES[entity] ?? entity);

/** The action and hidden fields of an oidc-provider self-submitting page; undefined for any other body. */
export function parseFormPost(body: unknown): { action: string; fields: [string, string][] } | undefined {
  if (typeof body !== 'string' || !body.includes(FORM_POST_TITLE)) return undefined;
  const action = /<form method="post" action="([^"]*)">/.exec(body)?.[1];
  if (action === undefined) return undefined;
  const fields = [...body.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)"\/>/g)].map(
    ([, name, value]) => [unescapeHtml(name ?? ''), unescapeHtml(value ?? '')] as [string, string],
  );
  return { action: unescapeHtml(action), fields };
}

/** provider.use() middleware: oidc-provider's self-submitting pages become script-free pages with a button. */
export async function scriptFreeFormPosts(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  await next();
  const form = parseFormPost(ctx.body);
  if (!form) return;
  const logout = form.fields.some(([name, value]) => name === 'logout' && value === 'yes');
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.type = 'html';
  ctx.body = render('form-continue', {
    title: logout ? 'Sign out of your bank?' : 'Continue',
    app: logout ? appName(ctx) : undefined,
    logout,
    action: form.action,
    // The logout button itself sends logout=yes, as on the confirmation page with a session.
    fields: form.fields.filter(([name]) => !(logout && name === 'logout')),
    formId: LOGOUT_FORM_ID,
  });
}
