// When a TPP's request needs strong customer authentication (PSD2 RTS):
// - every payment (Art. 4 and 5: SCA per payment, dynamically linked to it);
// - the TPP asks for `sca` only (acr_values or the claims parameter);
// - account information through this TPP for the first time, or when the last SCA behind the
//   customer's consents with it is older than SCA_REAUTH_DAYS (Art. 10/10a: 180 days at most).
// Without a signed-in customer the account-information rule cannot be judged yet; the login
// page judges it again once the password has passed.
import type { ConsentStore } from '../consents/consent-store.ts';
import { asksForSca, requestedAcr } from './acr.ts';

export type ScaReason = 'payment' | 'requested' | 'first_access' | 'reauthentication_due';

export interface ScaRequest {
  clientId: string;
  /** The authorization_details parameter (JSON text) or its parsed entries. */
  authorizationDetails: unknown;
  acrValues?: unknown;
  claims?: unknown;
}

export interface ScaRules {
  consents: Pick<ConsentStore, 'lastAccountSca'>;
  reauthDays: number;
}

function typesOf(details: unknown): Set<string> {
  let parsed = details;
  if (typeof details === 'string') {
    try {
      parsed = JSON.parse(details);
    } catch {
      return new Set();
    }
  }
  return new Set(
    Array.isArray(parsed) ? parsed.map((d) => (d as { type?: unknown })?.type).filter((t) => typeof t === 'string') : [],
  );
}

/** Why this request needs SCA for this customer, or undefined when one factor is enough. */
export async function scaReason(
  request: ScaRequest,
  customerId: string | undefined,
  rules: ScaRules,
  now = Date.now(),
): Promise<ScaReason | undefined> {
  const types = typesOf(request.authorizationDetails);
  if (types.has('payment_initiation')) return 'payment';
  if (asksForSca(requestedAcr(request))) return 'requested';
  if (!types.has('account_information') || !customerId) return undefined;
  const last = await rules.consents.lastAccountSca(customerId, request.clientId);
  if (!last) return 'first_access';
  return now - last.getTime() > rules.reauthDays * 86_400_000 ? 'reauthentication_due' : undefined;
}

/** The SCA-relevant parameters of an authorization request (oidc-provider's params, plain). */
export const scaRequestOf = (params: Record<string, unknown>): ScaRequest => ({
  clientId: String(params.client_id ?? ''),
  authorizationDetails: params.authorization_details,
  acrValues: params.acr_values,
  claims: params.claims,
});
