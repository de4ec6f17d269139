// What the login step needs to know about strong customer authentication for this request: why
// it is needed (sca-requirement.ts), whether the customer may be stepped up (asked only for the
// missing factor), and which possession factors the customer can give.
import type { SecondFactor } from '../accounts/factors/types.ts';
import { asksForSca, requestedAcr } from '../oidc/acr.ts';
import type { ScaPromptDetails } from '../oidc/interaction-policy.ts';
import { type ScaReason, scaReason, scaRequestOf } from '../oidc/sca-requirement.ts';
import { formatDateTime } from '../portal/consent-view.ts';
import type { Services } from '../services.ts';
import type { Interaction } from './interaction.ts';

// Reasons of the login prompt that a second factor alone answers for a signed-in customer.
const STEP_UP_REASONS = new Set(['sca_required', 'essential_acr']);

export const pendingKey = (interaction: Interaction) => `interaction:${interaction.uid}`;

/** Why this request needs SCA for this customer (judged again now that the customer is known). */
export function scaReasonFor(services: Services, interaction: Interaction, customerId: string): Promise<ScaReason | undefined> {
  return scaReason(scaRequestOf(interaction.params), customerId, {
    consents: services.consents,
    reauthDays: services.config.SCA_REAUTH_DAYS,
  });
}

/**
 * The signed-in customer whose recent one-factor (or earlier) authentication stays valid, so that
 * only the second factor is missing; undefined when the customer must start with the password.
 */
export function stepUpCustomer(interaction: Interaction): string | undefined {
  const accountId = interaction.session?.accountId;
  const details = interaction.prompt.details as ScaPromptDetails;
  if (!accountId || !details.sca?.stepUp) return undefined;
  return interaction.prompt.reasons.every((r) => STEP_UP_REASONS.has(r)) ? accountId : undefined;
}

/**
 * Possession factors only: a recovery code never completes SCA for a TPP, nor does a factor still
 * held because it was enrolled after a recovery sign-in (PSD2 RTS Art. 4, 7).
 */
export const possessionFactors = (services: Services, customerId: string): Promise<SecondFactor[]> =>
  services.authentication.secondFactors.available(customerId, 'authorization');

/**
 * When the customer's first held factor starts to count for a TPP; undefined when none is held.
 * Asked when no possession factor is usable: a factor enrolled after a recovery sign-in is held
 * (PSD2 RTS Art. 4, 7).
 */
export async function heldUntil(services: Services, customerId: string): Promise<Date | undefined> {
  const held = (await services.authentication.factors.list(customerId)).flatMap((f) => (f.heldUntil ? [f.heldUntil] : []));
  return held.length ? new Date(Math.min(...held.map((d) => d.getTime()))) : undefined;
}

/** The end of a hold as pages show it: rounded up to the minute, so the time shown is never early. */
export const formatHoldEnd = (date: Date) => formatDateTime(new Date(Math.ceil(date.getTime() / MINUTE_MS) * MINUTE_MS));
const MINUTE_MS = 60_000;

/** The error the TPP receives when SCA cannot be performed for this customer. */
export function scaUnavailableError(interaction: Interaction): { error: string; error_description: string } {
  const requested = requestedAcr({ claims: interaction.params.claims, acrValues: interaction.params.acr_values });
  // The TPP asked for `sca` itself: OpenID Connect's unmet_authentication_requirements.
  if (asksForSca(requested)) {
    return {
      error: 'unmet_authentication_requirements',
      error_description: 'strong customer authentication could not be performed for this customer',
    };
  }
  return { error: 'access_denied', error_description: 'strong customer authentication could not be performed for this customer' };
}
