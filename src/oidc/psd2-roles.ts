// PSD2 RTS Art. 34 / ETSI TS 119 495: what a TPP may ask for is bounded by the roles its national
// competent authority granted, as its QWAC states them. Checked where the TPP presents the
// certificate: at PAR (each authorization_details entry) and at the token endpoint (the consent
// the token is for), so a certificate renewed with fewer roles takes effect at once.
//
// The refusal is RFC 9396's `invalid_authorization_details` (section 5: "contains ... values
// not allowed"; section 6.1 for the token endpoint): the request names a type this TPP may not use.
// `access_denied` would claim a decision by the customer or the resource owner, which never came.
import { errors } from 'oidc-provider';
import type { Psd2Role, TppIdentity } from './qwac.ts';

export const REQUIRED_ROLE: Record<string, Psd2Role> = {
  account_information: 'PSP_AI',
  payment_initiation: 'PSP_PI',
};

/** The description of why `type` is refused to a holder of `identity`, or undefined when allowed. */
export function roleProblem(identity: TppIdentity | undefined, type: string): string | undefined {
  const role = REQUIRED_ROLE[type];
  // Only a certificate that carries the PSD2 statement bounds anything; without one (a private_key_jwt
  // or self-signed client, or QWAC_REQUIRED=false) the registered authorization_details_types do.
  if (!role || !identity?.psd2) return undefined;
  if (identity.psd2.roles.includes(role)) return undefined;
  return `${type} needs the PSD2 role ${role}, which the TPP's certificate does not carry (it carries ${identity.psd2.roles.join(', ') || 'none'})`;
}

export function assertRoles(identity: TppIdentity | undefined, types: Iterable<string>): void {
  for (const type of new Set(types)) {
    const problem = roleProblem(identity, type);
    if (problem) throw new errors.InvalidAuthorizationDetails(problem);
  }
}
