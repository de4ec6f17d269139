// The second factor of a TPP's request (PSD2 SCA): after the password, or alone when a signed-in
// customer is stepped up. For a payment the page shows the amount and payee beside the code
// field or the security-key button (whose challenge is derived from them), and a passed factor
// yields the payment's authentication code (RTS Art. 5 dynamic linking), carried in the
// interaction result to the consent step. Failures count towards the
// lockout and say nothing about which factor was wrong.
import type { Context } from 'koa';
import { LOGIN_FAILED } from '../accounts/authentication.ts';
import type { FactorContext, SecondFactor } from '../accounts/factors/types.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { ACR_SCA, SCA_FRESH_SECONDS } from '../oidc/acr.ts';
import { CSRF_FIELD } from '../security/csrf.ts';
import { requestedDetails } from './consent.ts';
import { describeClient, type PaymentSummary, paymentSummary } from './describe.ts';
import { auditContext, finishInteraction, type Interaction, interactionAt, WrongStep } from './interaction.ts';
import type { InteractionDeps } from './router.ts';
import { formatHoldEnd, heldUntil, pendingKey, possessionFactors, scaUnavailableError, stepUpCustomer } from './sca.ts';

/** Who is authenticating and what they already passed: a pending password login, or a step-up. */
interface FirstFactor {
  customerId: string;
  amr: string[];
  stepUp: boolean;
}

async function firstFactorOf(deps: InteractionDeps, interaction: Interaction): Promise<FirstFactor> {
  const pending = await deps.services.authentication.pendingLogins.get(pendingKey(interaction));
  if (pending) return { customerId: pending.customerId, amr: pending.amr, stepUp: false };
  const customerId = stepUpCustomer(interaction);
  if (customerId) {
    const amr = (interaction.session as { amr?: string[] } | undefined)?.amr ?? ['pwd'];
    return { customerId, amr: amr.filter((m) => m === 'pwd'), stepUp: true };
  }
  // Neither: the password step was skipped, or its few minutes are over.
  throw new WrongStep();
}

/** The payment of the request as typed data (for the page and the dynamic-linking code). */
function requestPayment(deps: InteractionDeps, interaction: Interaction) {
  try {
    return deps.services.consentService.parseRequested(requestedDetails(interaction));
  } catch {
    return [];
  }
}

/** What a factor of this request is given: the payment shown beside it, the attempt its challenge is bound to. */
function factorContext(deps: InteractionDeps, interaction: Interaction): FactorContext {
  return {
    purpose: 'authorization',
    transaction: deps.services.dynamicLinking.canonical(requestPayment(deps, interaction)),
    attempt: pendingKey(interaction),
  };
}

export interface FactorPage {
  customerId: string;
  method: SecondFactor;
  methods: SecondFactor[];
  error?: string | undefined;
}

export async function renderFactor(
  ctx: Context,
  deps: InteractionDeps,
  interaction: Interaction,
  page: FactorPage,
): Promise<void> {
  const payment: PaymentSummary | undefined = paymentSummary(requestPayment(deps, interaction));
  const base = `/interaction/${encodeURIComponent(interaction.uid)}`;
  // A fresh challenge at every showing (WebAuthn), bound to this request and its payment.
  const prompt = (await page.method.prompt?.(page.customerId, factorContext(deps, interaction))) ?? {};
  ctx.type = 'html';
  ctx.body = render(`factor-${page.method.kind}`, {
    ...prompt,
    title: payment ? 'Confirm the payment' : 'Confirm it’s you',
    action: `${base}/factor`,
    method: page.method.kind,
    csrf: deps.csrf.token(ctx, interaction.uid),
    client: await describeClient(deps.holder.current, interaction.params.client_id),
    payment,
    // This method's page again, e.g. for a fresh challenge once the page's one has expired.
    refreshUrl: `${base}/factor?method=${page.method.kind}`,
    chooseUrl: page.methods.length > 1 ? `${base}/factor/choose` : undefined,
    cancel: { action: `${base}/abort`, csrf: deps.csrf.token(ctx, interaction.uid) },
    error: page.error,
  });
}

/**
 * Shows the second-factor page (or, without any usable possession factor, why the request cannot
 * go on: none set up, or every one still held after a recovery sign-in).
 */
export async function showFactor(
  ctx: Context,
  deps: InteractionDeps,
  interaction: Interaction,
  customerId: string,
): Promise<void> {
  const methods = await possessionFactors(deps.services, customerId);
  const chosen = methods.find((m) => m.kind === ctx.query.method) ?? methods[0];
  if (!chosen) return renderUnavailable(ctx, deps, interaction, customerId);
  await renderFactor(ctx, deps, interaction, { customerId, method: chosen, methods });
}

/**
 * The request cannot have SCA: the customer has no possession factor, or only ones held after a
 * recovery sign-in; the page says until when. Either way the TPP gets what a customer without a
 * second factor gives it (abortLogin, reason `unavailable`).
 */
export async function renderUnavailable(
  ctx: Context,
  deps: InteractionDeps,
  interaction: Interaction,
  customerId: string,
): Promise<void> {
  const client = await describeClient(deps.holder.current, interaction.params.client_id);
  const held = await heldUntil(deps.services, customerId);
  ctx.type = 'html';
  ctx.body = render('sca-unavailable', {
    title: held ? 'Your new second factor is not ready yet' : 'A second factor is needed',
    heldUntil: held ? formatHoldEnd(held) : undefined,
    client,
    payment: paymentSummary(requestPayment(deps, interaction)),
    action: `/interaction/${encodeURIComponent(interaction.uid)}/abort`,
    csrf: deps.csrf.token(ctx, interaction.uid),
    securityPath: '/account/security',
  });
}

export async function getFactor(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await interactionAt(ctx, deps.holder.current, 'login');
  const { customerId } = await firstFactorOf(deps, interaction);
  await showFactor(ctx, deps, interaction, customerId);
}

export async function chooseFactor(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await interactionAt(ctx, deps.holder.current, 'login');
  const { customerId } = await firstFactorOf(deps, interaction);
  const methods = await possessionFactors(deps.services, customerId);
  const base = `/interaction/${encodeURIComponent(interaction.uid)}`;
  ctx.type = 'html';
  ctx.body = render('factor-choice', {
    title: 'Choose how to confirm',
    client: await describeClient(deps.holder.current, interaction.params.client_id),
    payment: paymentSummary(requestPayment(deps, interaction)),
    methods: methods.map((m) => ({ label: m.label, hint: m.hint, href: `${base}/factor?method=${m.kind}` })),
  });
}

export async function submitFactor(ctx: Context, deps: InteractionDeps): Promise<void> {
  const form = await readForm(ctx);
  deps.csrf.verify(ctx, ctx.params.uid as string, form[CSRF_FIELD]);
  const provider = deps.holder.current;
  const interaction = await interactionAt(ctx, provider, 'login');
  const first = await firstFactorOf(deps, interaction);
  const { authentication, audit, dynamicLinking } = deps.services;
  const methods = await possessionFactors(deps.services, first.customerId);
  const method = methods.find((m) => m.kind === field(form, 'method')) ?? methods[0];
  if (!method) return renderUnavailable(ctx, deps, interaction, first.customerId);
  const details = requestPayment(deps, interaction);
  const context = auditContext(ctx);
  const clientId = String(interaction.params.client_id);
  const verified = await authentication.authenticator.secondFactor(first.customerId, method, form, {
    ...context,
    clientId,
    factor: factorContext(deps, interaction),
  });
  if (!verified) {
    await audit.record({
      type: 'customer.login',
      outcome: 'failure',
      actor: { type: 'anonymous' },
      // The password named the customer: the failure is theirs (and erased with their data).
      customerId: first.customerId,
      clientId,
      ...context,
      details: { step: 'second_factor', method: method.kind },
    });
    ctx.status = 401;
    return renderFactor(ctx, deps, interaction, { customerId: first.customerId, method, methods, error: LOGIN_FAILED });
  }

  await authentication.authenticator.completed(first.customerId);
  await authentication.pendingLogins.delete(pendingKey(interaction));
  const amr = [...new Set([...first.amr, ...verified.amr])].sort();
  const now = Math.floor(Date.now() / 1000);
  // RTS Art. 5: the code binds this authentication to the amount and payee just shown. A WebAuthn
  // answer brings the nonce its signed challenge was derived from: the code reuses it, so the
  // consent's code and the key's signature name the same nonce.
  const link = await dynamicLinking.link(details, amr, verified.nonce);
  await audit.record({
    type: 'customer.login',
    outcome: 'success',
    actor: { type: 'customer', id: first.customerId },
    clientId,
    customerId: first.customerId,
    ...context,
    details: {
      acr: ACR_SCA,
      amr,
      method: verified.kind,
      step_up: first.stepUp,
      dynamic_linking: Boolean(link),
      ...(verified.details ? { factor: verified.details } : {}),
    },
  });
  await finishInteraction(
    ctx,
    provider,
    {
      login: { accountId: first.customerId, acr: ACR_SCA, amr, ts: now, remember: false },
      sca: { at: now, ...(link ? { link } : {}) },
    },
    { mergeWithLastSubmission: false },
  );
}

/** The customer gives up (or cannot give a second factor): the TPP gets an error with iss. */
export async function abortLogin(ctx: Context, deps: InteractionDeps): Promise<void> {
  const form = await readForm(ctx);
  deps.csrf.verify(ctx, ctx.params.uid as string, form[CSRF_FIELD]);
  const provider = deps.holder.current;
  const interaction = await interactionAt(ctx, provider, 'login');
  await deps.services.authentication.pendingLogins.delete(pendingKey(interaction));
  const result =
    field(form, 'reason') === 'unavailable'
      ? scaUnavailableError(interaction)
      : { error: 'access_denied', error_description: 'The customer cancelled the sign-in' };
  await finishInteraction(ctx, provider, result, { mergeWithLastSubmission: false });
}

/** How long a password stays good for its second factor (PSD2 RTS Art. 4(3)(d)). */
export const PENDING_SECONDS = SCA_FRESH_SECONDS;
