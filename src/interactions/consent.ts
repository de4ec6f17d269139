// The consent step: the customer reads who asks and what, then allows or denies the request as
// a whole. Allowing creates a consent awaiting the choice of accounts (accounts.ts); denying
// sends access_denied (with iss, RFC 9207) back to the TPP.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AuthorizationDetail } from '../consents/authorization-details.ts';
import type { PromptDetails } from '../consents/consent-service.ts';
import type { Consent } from '../consents/consent-store.ts';
import { HttpError, InvalidRequest } from '../http/errors.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { CSRF_FIELD } from '../security/csrf.ts';
import type { Services } from '../services.ts';
import { describeCertificate, describeClient, describeDetails, describeScopes } from './describe.ts';
import { auditContext, customerOf, finishInteraction, type Interaction, interactionAt, seeOther } from './interaction.ts';
import type { InteractionDeps } from './router.ts';

export const REJECTED = 'The customer rejected the request';

/** The authorization_details of the request: what oidc-provider's rar_prompt check reports, else the raw parameter. */
export function requestedDetails(interaction: Interaction): unknown[] | undefined {
  const rar = (interaction.prompt.details as PromptDetails).rar;
  if (Array.isArray(rar)) return rar;
  const raw = interaction.params.authorization_details;
  if (typeof raw !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The consent this step left awaiting its accounts is gone, finished, or not this request's. */
export class ConsentNotPending extends HttpError {
  constructor() {
    super(400, 'invalid_request', 'This request can no longer be approved. Go back to the application and start again.');
  }
}

/**
 * An OpenID Connect sign-in and nothing more: no authorization_details and no resource-server
 * scope. The customer confirms their identity to the TPP (an ID token and userinfo with `sub`);
 * no consent record is made, as nothing of the bank's is shared, and no refresh token is issued
 * (`issueRefreshToken`), so nothing outlives the authorization.
 */
export function isIdentityOnly(interaction: Interaction): boolean {
  const details = interaction.prompt.details as PromptDetails;
  const resourceScopes = Object.values(details.missingResourceScopes ?? {}).flat();
  return !requestedDetails(interaction)?.length && resourceScopes.length === 0;
}

/** The identity-only grant: the OpenID scopes and claims asked for, on a grant of its own. */
async function grantIdentity(provider: Provider, interaction: Interaction): Promise<string> {
  const details = interaction.prompt.details as PromptDetails;
  const grant = new provider.Grant({ accountId: customerOf(interaction), clientId: interaction.params.client_id as string });
  if (details.missingOIDCScope?.length) grant.addOIDCScope(details.missingOIDCScope.join(' '));
  if (details.missingOIDCClaims?.length) grant.addOIDCClaims(details.missingOIDCClaims);
  return grant.save();
}

const CONSENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The consent named by a form or link, when it is the signed-in customer's, for this client, still
 * awaiting authorisation, and made from exactly this request's authorization_details: a consent
 * id from another request (or another customer) never completes this one.
 */
export async function pendingConsent(services: Services, interaction: Interaction, consentId: string): Promise<Consent> {
  const consent = CONSENT_ID.test(consentId)
    ? await services.consents.getForCustomer(consentId, customerOf(interaction))
    : undefined;
  if (consent?.status !== 'awaiting_authorisation' || consent.clientId !== interaction.params.client_id) {
    throw new ConsentNotPending();
  }
  const requested = parsedRequest(services, interaction);
  if (JSON.stringify(requested) !== JSON.stringify(consent.details)) throw new ConsentNotPending();
  return consent;
}

/** The request's details, typed; a request that no longer parses cannot be approved. */
function parsedRequest(services: Services, interaction: Interaction): AuthorizationDetail[] {
  try {
    return services.consentService.parseRequested(requestedDetails(interaction));
  } catch {
    throw new ConsentNotPending();
  }
}

export async function showConsent(ctx: Context, deps: InteractionDeps, interaction: Interaction): Promise<void> {
  const { consentService } = deps.services;
  const provider = deps.holder.current;
  if (isIdentityOnly(interaction)) {
    ctx.type = 'html';
    ctx.body = render('consent-identity', {
      title: 'Confirm who you are',
      uid: interaction.uid,
      csrf: deps.csrf.token(ctx, interaction.uid),
      client: await describeClient(provider, interaction.params.client_id),
      certificate: describeCertificate(await deps.services.tppCertificates.get(interaction.params.client_id as string)),
    });
    return;
  }
  let details: AuthorizationDetail[];
  try {
    details = consentService.parseRequested(requestedDetails(interaction));
  } catch (err) {
    // PAR validated the details, so only a request without any (or one whose expiry has passed
    // since) gets here: the TPP learns why, the customer is not left on a page they cannot act on.
    const description = err instanceof HttpError ? err.description : 'the authorization_details can no longer be accepted';
    await finishInteraction(
      ctx,
      provider,
      { error: 'invalid_authorization_details', error_description: description },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  ctx.type = 'html';
  ctx.body = render('consent', {
    title: 'Review the request',
    uid: interaction.uid,
    csrf: deps.csrf.token(ctx, interaction.uid),
    client: await describeClient(provider, interaction.params.client_id),
    certificate: describeCertificate(await deps.services.tppCertificates.get(interaction.params.client_id as string)),
    scopes: describeScopes(interaction.params.scope),
    details: describeDetails(details, consentService.settings),
  });
}

export async function submitConsent(ctx: Context, deps: InteractionDeps): Promise<void> {
  const form = await readForm(ctx);
  deps.csrf.verify(ctx, ctx.params.uid as string, form[CSRF_FIELD]);
  const { consentService } = deps.services;
  const provider = deps.holder.current;
  const interaction = await interactionAt(ctx, provider, 'consent');
  const action = field(form, 'action');

  if (action === 'reject') {
    // Denying always works; a consent this request left awaiting its accounts is closed too.
    const consentId = field(form, 'consent_id');
    const pending = consentId ? await pendingConsent(deps.services, interaction, consentId).catch(() => undefined) : undefined;
    if (pending) await consentService.reject(pending.id, pending.customerId, auditContext(ctx));
    await finishInteraction(
      ctx,
      provider,
      { error: 'access_denied', error_description: REJECTED },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  if (action !== 'accept') throw new InvalidRequest('Choose to allow or to deny the request.');

  if (isIdentityOnly(interaction)) {
    const grantId = await grantIdentity(provider, interaction);
    await deps.services.audit.record({
      type: 'identity.shared',
      actor: { type: 'customer', id: customerOf(interaction) },
      customerId: customerOf(interaction),
      clientId: interaction.params.client_id as string,
      outcome: 'success',
      ...auditContext(ctx),
      details: { grant_id: grantId, scope: (interaction.prompt.details as PromptDetails).missingOIDCScope ?? [] },
    });
    await finishInteraction(ctx, provider, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }

  const consent = await consentService.accept({
    clientId: interaction.params.client_id as string,
    customerId: customerOf(interaction),
    details: parsedRequest(deps.services, interaction),
  });
  // The consent id is an opaque random UUID (no personal data in the URL); the next step checks
  // it against the session, the client and this request before using it.
  seeOther(ctx, `/interaction/${encodeURIComponent(interaction.uid)}/accounts?consent_id=${consent.id}`);
}
