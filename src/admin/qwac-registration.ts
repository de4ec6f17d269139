// PSD2 RTS Art. 34 at registration: a tls_client_auth TPP is registered as the organisation its
// eIDAS certificate (QWAC) names. The operator supplies the QWAC (`qwac_certificate`, PEM, not
// stored) or at least the organisation identifier; whatever the metadata says about subject DN,
// organisation and authorization_details types must agree with the certificate.
import type { X509Certificate } from 'node:crypto';
import { InvalidClientMetadata } from '../http/errors.ts';
import { type CaBundle, pemCertificates } from '../oidc/ca-bundle.ts';
import type { ClientMetadata } from '../oidc/clients.ts';
import { REQUIRED_ROLE } from '../oidc/psd2-roles.ts';
import {
  canonicalDnString,
  isPsd2OrganizationId,
  ORGANIZATION_IDENTIFIER_OID,
  subjectDn,
  subjectDnMatches,
  type TppIdentity,
  tppIdentity,
} from '../oidc/qwac.ts';

export interface QwacRegistration {
  cert: X509Certificate;
  identity: TppIdentity;
}

const SUBJECT_PROPERTIES = [
  'tls_client_auth_subject_dn',
  'tls_client_auth_san_dns',
  'tls_client_auth_san_uri',
  'tls_client_auth_san_ip',
  'tls_client_auth_san_email',
];

const PROBLEM_TEXT = {
  untrusted: 'is not issued by a certificate authority in MTLS_CA_BUNDLE',
  expired: 'has expired',
  not_yet_valid: 'is not valid yet',
};

/** The organizationIdentifier a registered subject DN names, if it names one. */
function dnOrganisationId(dn: string): string | undefined {
  const line = canonicalDnString(dn)
    ?.split('\n')
    .find((part) => part.startsWith(`${ORGANIZATION_IDENTIFIER_OID}=`));
  return line?.slice(ORGANIZATION_IDENTIFIER_OID.length + 1);
}

function fromCertificate(metadata: ClientMetadata, pem: string, authorities: CaBundle): QwacRegistration {
  let cert: X509Certificate | undefined;
  try {
    cert = pemCertificates(pem)[0];
  } catch {
    cert = undefined;
  }
  if (!cert) throw new InvalidClientMetadata('qwac_certificate: not a PEM certificate');
  const identity = tppIdentity(cert);
  if (!identity.psd2) {
    throw new InvalidClientMetadata('qwac_certificate: carries no PSD2 QCStatement (ETSI TS 119 495), so it is not a PSD2 QWAC');
  }
  if (!identity.organizationId || !isPsd2OrganizationId(identity.organizationId)) {
    throw new InvalidClientMetadata('qwac_certificate: its subject has no PSD2 organizationIdentifier (PSDXX-NCA-ID)');
  }
  const problem = authorities.check(cert);
  if (problem) throw new InvalidClientMetadata(`qwac_certificate: ${PROBLEM_TEXT[problem]}`);

  const org = metadata.organisation_id;
  if (org !== undefined && org !== identity.organizationId) {
    throw new InvalidClientMetadata(
      `organisation_id "${String(org)}" does not match the QWAC's organizationIdentifier "${identity.organizationId}"`,
    );
  }
  metadata.organisation_id = identity.organizationId;
  if (metadata.organisation_name === undefined && identity.legalName) metadata.organisation_name = identity.legalName;

  const dn = metadata.tls_client_auth_subject_dn;
  if (typeof dn === 'string' && !subjectDnMatches(cert, dn)) {
    throw new InvalidClientMetadata(`tls_client_auth_subject_dn "${dn}" does not match the QWAC's subject "${subjectDn(cert)}"`);
  }
  if (!SUBJECT_PROPERTIES.some((name) => metadata[name] !== undefined)) {
    metadata.tls_client_auth_subject_dn = subjectDn(cert);
  }

  // The NCA's roles bound the types the client may register (and, per request, ask for).
  const roles = identity.psd2.roles;
  const types = metadata.authorization_details_types as string[] | undefined;
  for (const type of types ?? []) {
    const role = REQUIRED_ROLE[type];
    if (role && !roles.includes(role)) {
      throw new InvalidClientMetadata(
        `authorization_details_types: ${type} needs the PSD2 role ${role}, which the QWAC does not carry (it carries ${roles.join(', ') || 'none'})`,
      );
    }
  }
  if (types === undefined) {
    metadata.authorization_details_types = Object.entries(REQUIRED_ROLE)
      .filter(([, role]) => roles.includes(role))
      .map(([type]) => type);
  }
  return { cert, identity };
}

/**
 * Checks (and completes) a TPP's metadata against its QWAC. Returns the certificate's identity
 * when one was supplied, to be recorded for the consent page.
 */
export function checkQwacRegistration(
  metadata: ClientMetadata,
  qwacPem: string | undefined,
  options: { qwacRequired: boolean; authorities: CaBundle },
): QwacRegistration | undefined {
  if (metadata.token_endpoint_auth_method !== 'tls_client_auth') {
    if (qwacPem !== undefined) throw new InvalidClientMetadata('qwac_certificate: only tls_client_auth clients present a QWAC');
    return undefined;
  }
  if (qwacPem !== undefined) return fromCertificate(metadata, qwacPem, options.authorities);

  const org = metadata.organisation_id;
  if (org === undefined) {
    if (!options.qwacRequired) return undefined;
    throw new InvalidClientMetadata(
      'tls_client_auth clients need qwac_certificate (PEM) or organisation_id, the organizationIdentifier of their QWAC (e.g. PSDGB-FCA-123456; PSD2 RTS Art. 34)',
    );
  }
  if (typeof org !== 'string' || (options.qwacRequired && !isPsd2OrganizationId(org))) {
    throw new InvalidClientMetadata(
      `organisation_id "${String(org)}" is not a PSD2 organisation identifier (PSDXX-NCA-ID, ETSI TS 119 495)`,
    );
  }
  const dn = metadata.tls_client_auth_subject_dn;
  if (typeof dn === 'string') {
    if (canonicalDnString(dn) === undefined)
      throw new InvalidClientMetadata(`tls_client_auth_subject_dn "${dn}" is not a distinguished name`);
    const named = dnOrganisationId(dn);
    if (named !== undefined && named !== org) {
      throw new InvalidClientMetadata(
        `tls_client_auth_subject_dn names organizationIdentifier "${named}", but organisation_id is "${org}"`,
      );
    }
  }
  return undefined;
}
