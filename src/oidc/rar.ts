// RFC 9396 rich authorization requests: the two PSD2 types, validated at PAR by the zod
// schemas, and the policy of what each artefact carries:
// - the authorization code gets exactly what the consent approved (its Grant holds nothing else);
// - an opaque access token gets the same, read by resource servers through introspection;
// - a JWT access token gets none: a signed JWT is readable by anyone who holds it, and the
//   details carry IBANs and names (BRIEF "Data protection"). Its consent_id is enough to look up.
import type { RichAuthorizationRequestsActiveConfiguration } from 'oidc-provider';
import { errors } from 'oidc-provider';
import { authorizationDetailSchemas } from '../consents/authorization-details.ts';
import { hasUncleanText } from '../http/clean-text.ts';
import { describeIssues } from '../http/zod-issues.ts';
import { assertRoles } from './psd2-roles.ts';
import type { TppIdentity } from './qwac.ts';

type RarFeature = RichAuthorizationRequestsActiveConfiguration & {
  authorizationDetailsForIntrospection: (ctx: unknown, token: unknown) => unknown;
};

/** The PSD2 identity of the certificate the client presents on this request, if any. */
export type CertificateIdentity = (ctx: unknown) => TppIdentity | undefined;

const typesWith = (identity: CertificateIdentity) =>
  Object.fromEntries(
    Object.entries(authorizationDetailSchemas).map(([type, schema]) => [
      type,
      {
        validate(ctx: unknown, detail: unknown) {
          if (hasUncleanText(detail)) {
            throw new errors.InvalidAuthorizationDetails(`${type}: must be Unicode text without NUL characters`);
          }
          const result = schema.safeParse(detail);
          if (!result.success) {
            throw new errors.InvalidAuthorizationDetails(`${type}: ${describeIssues(result.error.issues)}`);
          }
          // PSD2 RTS Art. 34: the QWAC's roles bound the types (psd2-roles.ts), at PAR and token.
          assertRoles(identity(ctx), [type]);
        },
      },
    ]),
  );

export function richAuthorizationRequests(identity: CertificateIdentity = () => undefined): RarFeature {
  return {
    enabled: true,
    types: typesWith(identity),
    authorizationDetailsForGrantSource: (ctx) => ctx.oidc.grant?.rar,
    authorizationDetailsForAccessToken(_ctx, token, source) {
      const format = (token as { resourceServer?: { accessTokenFormat?: string } }).resourceServer?.accessTokenFormat;
      if (format === 'jwt') return undefined;
      return (source as { rar?: unknown[] } | undefined)?.rar;
    },
    authorizationDetailsForIntrospection: (_ctx, token) => (token as { rar?: unknown[] }).rar,
  } as RarFeature;
}
