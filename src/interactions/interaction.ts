// Loading and finishing an oidc-provider interaction from our own routes. The interaction is
// found by its cookie; the uid in the URL must name the same one, so a stale tab or a forged
// link never acts on another request.
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors, type InteractionResults } from 'oidc-provider';
import type { AuditContext } from '../consents/consent-service.ts';
import { HttpError } from '../http/errors.ts';

export type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;

/** The interaction is gone (expired, finished, or another tab's): the customer starts again at the TPP. */
export class InteractionNotFound extends HttpError {
  constructor() {
    super(
      400,
      'invalid_request',
      'This sign-in has expired or was already completed. Go back to the application you came from and start again.',
    );
  }
}

/** The page was opened for another step than the one the request is at. */
export class WrongStep extends HttpError {
  constructor() {
    super(400, 'invalid_request', 'This step of the sign-in is not available now. Go back to the application and start again.');
  }
}

export async function loadInteraction(ctx: Context, provider: Provider): Promise<Interaction> {
  let interaction: Interaction;
  try {
    interaction = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    if (err instanceof errors.SessionNotFound) throw new InteractionNotFound();
    throw err;
  }
  if (interaction.uid !== ctx.params.uid) throw new InteractionNotFound();
  return interaction;
}

/** The interaction at the given prompt, with the signed-in customer when the prompt needs one. */
export async function interactionAt(ctx: Context, provider: Provider, prompt: 'login' | 'consent'): Promise<Interaction> {
  const interaction = await loadInteraction(ctx, provider);
  if (interaction.prompt.name !== prompt) throw new WrongStep();
  if (prompt === 'consent' && !interaction.session?.accountId) throw new WrongStep();
  return interaction;
}

/** The signed-in customer of a consent-prompt interaction (checked by interactionAt). */
export const customerOf = (interaction: Interaction): string => interaction.session?.accountId as string;

/**
 * Hands the result to oidc-provider and sends the browser on to its resume endpoint.
 * oidc-provider's interactionFinished() writes a 303 straight to the socket behind koa's back;
 * interactionResult() plus koa's redirect gives the same 303 with our security headers.
 * FAPI 2.0 SP 5.3.2.2 and RFC 9700 4.12: 303 See Other after a POST with credentials, never 307
 * (which would re-POST the form, password included, to the next URL).
 */
export async function finishInteraction(
  ctx: Context,
  provider: Provider,
  result: InteractionResults,
  options: { mergeWithLastSubmission: boolean },
): Promise<void> {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, options);
  seeOther(ctx, returnTo);
}

export function seeOther(ctx: Context, location: string): void {
  ctx.redirect(location);
  ctx.status = 303;
}

/** The request behind a customer's action, for the audit log (IP and user agent are erasable personal data). */
export function auditContext(ctx: Context): AuditContext {
  const userAgent = ctx.get('user-agent');
  return {
    requestId: ctx.state.requestId as string | undefined,
    personal: { ip: ctx.ip, ...(userAgent ? { userAgent: userAgent.slice(0, 300) } : {}) },
  };
}
