// The account step: after accepting the request, the customer picks the accounts it covers
// (account information) or the one to pay from (payment initiation); accounts the request names
// are fixed. Approving authorises the consent, creates its Grant and finishes the interaction.
import type { Context } from 'koa';
import type { BankAccount } from '../accounts/account-directory.ts';
import { formatIban } from '../consents/authorization-details.ts';
import { ConsentProblem, type PromptDetails } from '../consents/consent-service.ts';
import type { Consent } from '../consents/consent-store.ts';
import type { DynamicLink } from '../consents/dynamic-linking.ts';
import { field, fields, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { ACR_SCA, SCA_FRESH_SECONDS } from '../oidc/acr.ts';
import { CSRF_FIELD } from '../security/csrf.ts';
import { pendingConsent } from './consent.ts';
import { describeClient, paymentSummary } from './describe.ts';
import { auditContext, customerOf, finishInteraction, type Interaction, interactionAt } from './interaction.ts';
import type { InteractionDeps } from './router.ts';

/** "choose at least one account" -> "Choose at least one account." */
const sentence = (text: string) => `${text.charAt(0).toUpperCase()}${text.slice(1)}${/[.!?]$/.test(text) ? '' : '.'}`;

export interface AccountOption {
  id: string;
  name: string;
  iban: string;
  currency: string;
  checked: boolean;
}

async function renderPicker(
  ctx: Context,
  deps: InteractionDeps,
  interaction: Interaction,
  consent: Consent,
  form: { selected: string[]; error?: string },
): Promise<void> {
  const choice = await deps.services.consentService.accountChoice(consent);
  const fixed = choice.fixed.length > 0;
  const shown: BankAccount[] = fixed ? choice.accounts.filter((a) => choice.fixed.includes(a.id)) : choice.accounts;
  const options: AccountOption[] = shown.map((a) => ({
    id: a.id,
    name: a.name,
    iban: formatIban(a.iban),
    currency: a.currency,
    checked: fixed || form.selected.includes(a.id),
  }));
  ctx.type = 'html';
  ctx.body = render('consent-accounts', {
    title: choice.pickOne ? 'Choose the account to pay from' : 'Choose the accounts to share',
    uid: interaction.uid,
    csrf: deps.csrf.token(ctx, interaction.uid),
    consentId: consent.id,
    client: await describeClient(deps.holder.current, interaction.params.client_id),
    payment: paymentSummary(consent.details),
    pickOne: choice.pickOne,
    fixed,
    options,
    error: form.error,
  });
}

/**
 * When SCA last covered this consent, and a payment's authentication code: the SCA of this very
 * request (its login result), else a recent SCA of the session, else (a repeat account access
 * that needed none) the SCA behind the customer's earlier consents with this TPP (RTS Art. 10).
 */
async function scaOf(
  deps: InteractionDeps,
  interaction: Interaction,
  consent: Consent,
): Promise<{ at: Date | null; link?: DynamicLink }> {
  const performed = (interaction.lastSubmission as { sca?: { at?: number; link?: DynamicLink } } | undefined)?.sca;
  if (typeof performed?.at === 'number') return { at: new Date(performed.at * 1000), link: performed.link };
  const session = interaction.session as { acr?: string; cookie?: string } | undefined;
  if (session?.acr === ACR_SCA && session.cookie) {
    const loginTs = (await deps.holder.current.Session.find(session.cookie))?.loginTs;
    if (typeof loginTs === 'number' && Date.now() / 1000 - loginTs <= SCA_FRESH_SECONDS) return { at: new Date(loginTs * 1000) };
  }
  return { at: (await deps.services.consents.lastAccountSca(consent.customerId, consent.clientId)) ?? null };
}

export async function showAccounts(ctx: Context, deps: InteractionDeps): Promise<void> {
  const interaction = await interactionAt(ctx, deps.holder.current, 'consent');
  const consent = await pendingConsent(deps.services, interaction, String(ctx.query.consent_id ?? ''));
  await renderPicker(ctx, deps, interaction, consent, { selected: [] });
}

export async function submitAccounts(ctx: Context, deps: InteractionDeps): Promise<void> {
  const form = await readForm(ctx);
  deps.csrf.verify(ctx, ctx.params.uid as string, form[CSRF_FIELD]);
  const provider = deps.holder.current;
  const interaction = await interactionAt(ctx, provider, 'consent');
  const consent = await pendingConsent(deps.services, interaction, field(form, 'consent_id'));
  const accountIds = fields(form, 'account');
  let grantId: string;
  const sca = await scaOf(deps, interaction, consent);
  try {
    ({ grantId } = await deps.services.consentService.authorise({
      provider,
      consentId: consent.id,
      customerId: customerOf(interaction),
      accountIds,
      prompt: interaction.prompt.details as PromptDetails,
      scaAt: sca.at,
      dynamicLink: sca.link,
      context: auditContext(ctx),
    }));
  } catch (err) {
    if (!(err instanceof ConsentProblem)) throw err;
    ctx.status = 400;
    await renderPicker(ctx, deps, interaction, consent, { selected: accountIds, error: sentence(err.description) });
    return;
  }
  await finishInteraction(ctx, provider, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
