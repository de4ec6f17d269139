// The login step: username and password, CSRF-protected, then a second factor when the request
// needs strong customer authentication (second-factor.ts). A customer already signed in with one
// factor is stepped up: only the second factor is asked. A failure says only that the details
// were not accepted (PSD2 RTS Art. 4: never which factor was wrong; OWASP API2: no enumeration),
// and counts towards the customer's lockout.
import type { Context } from 'koa';
import { LOGIN_FAILED } from '../accounts/authentication.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { ACR_CA, requestedAcr, unreachableAcr } from '../oidc/acr.ts';
import { CSRF_FIELD } from '../security/csrf.ts';
import { describeClient } from './describe.ts';
import { auditContext, finishInteraction, type Interaction, interactionAt, seeOther } from './interaction.ts';
import type { InteractionDeps } from './router.ts';
import { pendingKey, possessionFactors, scaReasonFor, stepUpCustomer } from './sca.ts';
import { PENDING_SECONDS, renderUnavailable, showFactor } from './second-factor.ts';

// RFC 8176 authentication method reference: a password.
const AMR = ['pwd'];
const USERNAME_MAX = 200;

async function renderLogin(
  ctx: Context,
  deps: InteractionDeps,
  interaction: Interaction,
  form: { username: string; error?: string },
): Promise<void> {
  ctx.type = 'html';
  ctx.body = render('login', {
    title: 'Sign in to your bank',
    uid: interaction.uid,
    csrf: deps.csrf.token(ctx, interaction.uid),
    client: await describeClient(deps.holder.current, interaction.params.client_id),
    username: form.username,
    error: form.error,
  });
}

export async function showLogin(ctx: Context, deps: InteractionDeps, interaction: Interaction): Promise<void> {
  // An essential acr the bank can never reach is an error for the TPP, not a lower class.
  if (unreachableAcr(requestedAcr({ claims: interaction.params.claims, acrValues: interaction.params.acr_values }))) {
    await finishInteraction(
      ctx,
      deps.holder.current,
      { error: 'unmet_authentication_requirements', error_description: 'none of the requested acr values is supported' },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  const stepUp = stepUpCustomer(interaction);
  if (stepUp) return showFactor(ctx, deps, interaction, stepUp);
  const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, USERNAME_MAX) : '';
  await renderLogin(ctx, deps, interaction, { username: hint });
}

export async function submitLogin(ctx: Context, deps: InteractionDeps): Promise<void> {
  const form = await readForm(ctx);
  deps.csrf.verify(ctx, ctx.params.uid as string, form[CSRF_FIELD]);
  const provider = deps.holder.current;
  const { services } = deps;
  const interaction = await interactionAt(ctx, provider, 'login');
  const username = field(form, 'username').slice(0, USERNAME_MAX);
  const password = field(form, 'password');
  const context = auditContext(ctx);
  const clientId = String(interaction.params.client_id);
  const customer = await services.authentication.authenticator.password(username, password, { ...context, clientId });
  const scaReason = customer ? await scaReasonFor(services, interaction, customer.id) : undefined;
  if (!customer || !scaReason) {
    await services.audit.record({
      type: 'customer.login',
      outcome: customer ? 'success' : 'failure',
      actor: customer ? { type: 'customer', id: customer.id } : { type: 'anonymous' },
      clientId,
      customerId: customer?.id,
      ...context,
      // The typed username only among the erasable personal data: it may be someone else's mistyped name.
      personal: { ...context.personal, ...(customer ? {} : { username }) },
      details: customer ? { acr: ACR_CA, amr: AMR } : {},
    });
  }
  if (!customer) {
    ctx.status = 401;
    await renderLogin(ctx, deps, interaction, { username, error: LOGIN_FAILED });
    return;
  }
  if (!scaReason) {
    await services.authentication.authenticator.completed(customer.id);
    await finishInteraction(
      ctx,
      provider,
      { login: { accountId: customer.id, acr: ACR_CA, amr: AMR, ts: Math.floor(Date.now() / 1000), remember: false } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  // SCA: the password is one element; the possession element follows on its own page.
  if ((await possessionFactors(services, customer.id)).length === 0) {
    await renderUnavailable(ctx, deps, interaction, customer.id);
    return;
  }
  await services.authentication.pendingLogins.put(
    pendingKey(interaction),
    { customerId: customer.id, amr: AMR },
    PENDING_SECONDS,
  );
  seeOther(ctx, `/interaction/${encodeURIComponent(interaction.uid)}/factor`);
}
