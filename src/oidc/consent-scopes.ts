// A consent scope (`accounts`, `payments`) stands for a consent of its kind (CONSENT_SCOPES), and a
// consent is made only from an RFC 9396 authorization_details entry of that kind. A request whose
// scope names one without such an entry can never be approved: it is refused where the TPP sends
// it (PAR, or the authorization endpoint) with `invalid_scope` (RFC 6749 sections 4.1.2.1 and
// 5.2), not after the customer has signed in. Scope `openid` alone (an identity-only sign-in) and
// client_credentials (the token endpoint, which never runs this check) are untouched.
import type { KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { CONSENT_SCOPES } from '../consents/authorization-details.ts';

/** The types of the request's authorization_details (oidc-provider's RAR check has validated them). */
function requestedTypes(ctx: KoaContextWithOIDC): string[] {
  const raw = ctx.oidc.params?.authorization_details;
  if (typeof raw !== 'string') return [];
  try {
    const details: unknown = JSON.parse(raw);
    return Array.isArray(details) ? details.map((detail: { type?: unknown }) => String(detail?.type)) : [];
  } catch {
    return []; // unreachable after the RAR check; no detail then, never a 500
  }
}

const article = (kind: string) => (/^[aeiou]/.test(kind) ? 'an' : 'a');

/** What the TPP must send to ask for `scope`, the scope of a consent of `kind`. */
const missingDetail = (scope: string, kind: string) =>
  `scope "${scope}" is granted through ${article(kind)} ${kind} authorization detail (RFC 9396): send one in authorization_details, or leave "${scope}" out of scope`;

/**
 * An extraParams validator for `scope`: oidc-provider runs it on every PAR and authorization
 * request, after its own RAR and resource checks (a malformed detail stays
 * invalid_authorization_details, an unknown resource invalid_target).
 */
export function consentScopesNeedDetails(ctx: KoaContextWithOIDC, scope: string | undefined): void {
  const asked = new Set(scope?.split(' ') ?? []);
  const types = requestedTypes(ctx);
  const missing = Object.entries(CONSENT_SCOPES).filter(([kind, own]) => asked.has(own) && !types.includes(kind));
  if (missing.length === 0) return;
  throw new errors.InvalidScope(
    missing.map(([kind, own]) => missingDetail(own, kind)).join('; '),
    missing.map(([, own]) => own).join(' '),
  );
}
