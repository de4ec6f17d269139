// OWASP API5 / PSD2 RTS Art. 34: a TPP that registers itself (RFC 7591) may ask for the
// authorization_details types the bank decided when it minted the TPP's initial access token, and
// no others. With a QWAC the NCA's roles bound them as well (psd2-roles.ts); without one (a
// private_key_jwt TPP) the operator's decision is the only bound there is.
//
// The decision travels as an oidc-provider registration policy named on the initial access token
// (`features.registration.policies`): it runs on the metadata before the client is stored, the
// registration access token inherits it, and so does each rotated one after it, so every RFC 7592
// update at /reg/:id is held to the same bound.
import type { KoaContextWithOIDC, Provider } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { AUTHORIZATION_DETAIL_TYPES } from '../consents/authorization-details.ts';
import { roleProblem } from './psd2-roles.ts';
import type { TppIdentity } from './qwac.ts';
import type { CertificateIdentity } from './rar.ts';

const POLICY_PREFIX = 'authorization_details_types:';

type RegistrationPolicy = (ctx: KoaContextWithOIDC, metadata: Record<string, unknown>) => void;

/**
 * The policy name of a bound: the types sorted and comma-separated. Names are stored on tokens
 * (and written by migration 20261121000070): never change the format.
 */
export function boundPolicy(types: readonly string[]): string {
  return `${POLICY_PREFIX}${[...new Set(types)].sort().join(',')}`;
}

/** Every subset of the known types. The empty one exists only for clients registered before the bound. */
function allBounds(): string[][] {
  let subsets: string[][] = [[]];
  for (const type of AUTHORIZATION_DETAIL_TYPES) subsets = subsets.concat(subsets.map((subset) => [...subset, type]));
  return subsets;
}

const isKnownType = (value: unknown): value is string =>
  typeof value === 'string' && (AUTHORIZATION_DETAIL_TYPES as readonly string[]).includes(value);

/** Checks (or, when omitted, fills) the registered types against the bank's bound and the QWAC's roles. */
function applyBound(bound: readonly string[], identity: TppIdentity | undefined, metadata: Record<string, unknown>): void {
  // PSD2 RTS Art. 34: a QWAC presented with the request narrows the bound to its roles.
  const allowed = bound.filter((type) => roleProblem(identity, type) === undefined);
  const asked = metadata.authorization_details_types;
  if (asked === undefined) {
    if (allowed.length === 0) {
      const why = bound.length === 0 ? 'the bank allowed this TPP none' : roleProblem(identity, bound[0] as string);
      throw new errors.InvalidClientMetadata(`authorization_details_types: no type can be registered: ${why}`);
    }
    // RFC 7591 section 3.2.1: the server supplies what the client omitted; here, exactly the bound.
    metadata.authorization_details_types = allowed;
    return;
  }
  // Anything but a list of known types is refused by the metadata schema (client-metadata.ts).
  if (!Array.isArray(asked)) return;
  const refused = asked.find((type) => isKnownType(type) && !allowed.includes(type)) as string | undefined;
  if (refused === undefined) return;
  const why = bound.includes(refused)
    ? roleProblem(identity, refused)
    : `the bank allowed this TPP ${bound.join(', ') || 'none'} when it issued its initial access token`;
  throw new errors.InvalidClientMetadata(`authorization_details_types: ${refused} cannot be registered: ${why}`);
}

/** `features.registration.policies`: one policy per bound an initial access token can carry. */
export function registrationPolicies(identity: CertificateIdentity): Record<string, RegistrationPolicy> {
  return Object.fromEntries(
    allBounds().map((bound) => [boundPolicy(bound), (ctx, metadata) => applyBound(bound, identity(ctx), metadata)]),
  );
}

/** An initial access token for a TPP that may register `types` only (RFC 7591 section 3). */
export async function mintInitialAccessToken(provider: Provider, expiresIn: number, types: readonly string[]): Promise<string> {
  if (types.length === 0 || !types.every(isKnownType)) throw new TypeError('an initial access token needs known types');
  return new provider.InitialAccessToken({ expiresIn, policies: [boundPolicy(types)] }).save();
}
