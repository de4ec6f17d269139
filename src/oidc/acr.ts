// Authentication context classes (OpenID Connect Core 2; Open Banking's PSD2 values) and what a
// request asks for. `ca` is customer authentication with one factor; `sca` is strong customer
// authentication, two independent factors (PSD2 RTS Art. 4). They form a ladder: performing SCA
// satisfies a request for `ca` (the ID token then says `sca`, never a silently lower class).

export const ACR_CA = 'urn:openbanking:psd2:ca';
export const ACR_SCA = 'urn:openbanking:psd2:sca';
export const ACR_VALUES = [ACR_CA, ACR_SCA];

/** PSD2 RTS Art. 4(3)(d): a session authenticated longer ago than this is over (interaction-policy.ts). */
export const SCA_FRESH_SECONDS = 5 * 60;

export interface RequestedAcr {
  values: string[];
  essential: boolean;
}

type AcrClaim = { essential?: unknown; value?: unknown; values?: unknown };

function acrClaim(claims: unknown): AcrClaim | undefined {
  let parsed = claims;
  if (typeof claims === 'string') {
    try {
      parsed = JSON.parse(claims);
    } catch {
      return undefined;
    }
  }
  const acr = (parsed as { id_token?: { acr?: unknown } } | undefined)?.id_token?.acr;
  return acr && typeof acr === 'object' ? (acr as AcrClaim) : undefined;
}

/** The classes a request names, by the `claims` parameter (value/values) or `acr_values`. */
export function requestedAcr(request: { claims?: unknown; acrValues?: unknown }): RequestedAcr | undefined {
  const claim = acrClaim(request.claims);
  const fromClaim = claim
    ? [...(typeof claim.value === 'string' ? [claim.value] : []), ...(Array.isArray(claim.values) ? claim.values : [])]
    : [];
  const fromParam = typeof request.acrValues === 'string' ? request.acrValues.split(' ').filter(Boolean) : [];
  const values = [...new Set([...fromClaim, ...fromParam].filter((v): v is string => typeof v === 'string'))];
  return values.length ? { values, essential: claim?.essential === true } : undefined;
}

/** The request accepts only SCA: it names `sca` and not `ca`. */
export const asksForSca = (requested: RequestedAcr | undefined) =>
  Boolean(requested?.values.includes(ACR_SCA) && !requested.values.includes(ACR_CA));

/** An authentication of class `acr` meets one of the requested values (SCA meets a request for CA). */
export const acrSatisfies = (acr: unknown, values: string[]) =>
  typeof acr === 'string' && (values.includes(acr) || (acr === ACR_SCA && values.includes(ACR_CA)));

/** An essential request none of whose values the bank can ever reach: an error, not a lower class. */
export const unreachableAcr = (requested: RequestedAcr | undefined) =>
  Boolean(requested?.essential && !requested.values.some((v) => ACR_VALUES.includes(v)));
