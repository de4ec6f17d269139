// eIDAS qualified website authentication certificates for PSD2 (RTS Art. 34, ETSI TS 119 495):
// who the TPP is (subject O, organizationIdentifier `PSDGB-FCA-123456`) and what its national
// competent authority allows it to do (the PSD2 QCStatement: roles, NCA name and id).
import type { X509Certificate as NodeCertificate } from 'node:crypto';
import { AsnArray, AsnParser, AsnProp, AsnPropTypes, AsnSerializer, AsnType, AsnTypeTypes } from '@peculiar/asn1-schema';
import { Certificate, type Name, type TBSCertificate } from '@peculiar/asn1-x509';

export const QC_STATEMENTS_OID = '1.3.6.1.5.5.7.1.3'; // RFC 3739 id-pe-qcStatements
export const PSD2_QC_STATEMENT_OID = '0.4.0.19495.2'; // ETSI TS 119 495 id-etsi-psd2-qcStatement
export const ORGANIZATION_IDENTIFIER_OID = '2.5.4.97'; // X.520 organizationIdentifier
const ORGANIZATION_NAME_OID = '2.5.4.10';

// ETSI TS 119 495 section 5.1: id-psd2-role-psp-as .. -ic under 0.4.0.19495.1.
export const PSD2_ROLES = {
  PSP_AS: '0.4.0.19495.1.1',
  PSP_PI: '0.4.0.19495.1.2',
  PSP_AI: '0.4.0.19495.1.3',
  PSP_IC: '0.4.0.19495.1.4',
} as const;
export type Psd2Role = keyof typeof PSD2_ROLES;
const ROLE_BY_OID = new Map<string, Psd2Role>(Object.entries(PSD2_ROLES).map(([name, oid]) => [oid, name as Psd2Role]));

// The ASN.1 below (RFC 3739 and ETSI TS 119 495 annex A). Node strips TypeScript but does not
// run decorators, so asn1-schema's decorators are applied as the functions they are.
export class RoleOfPsp {
  roleOfPspOid = '';
  roleOfPspName = '';
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(RoleOfPsp.prototype, 'roleOfPspOid');
AsnProp({ type: AsnPropTypes.Utf8String })(RoleOfPsp.prototype, 'roleOfPspName');

export class Psd2QcType {
  rolesOfPsp: RoleOfPsp[] = [];
  nCAName = '';
  nCAId = '';
}
AsnProp({ type: RoleOfPsp, repeated: 'sequence' })(Psd2QcType.prototype, 'rolesOfPsp');
AsnProp({ type: AsnPropTypes.Utf8String })(Psd2QcType.prototype, 'nCAName');
AsnProp({ type: AsnPropTypes.Utf8String })(Psd2QcType.prototype, 'nCAId');

export class QcStatement {
  statementId = '';
  statementInfo?: ArrayBuffer;
}
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(QcStatement.prototype, 'statementId');
AsnProp({ type: AsnPropTypes.Any, optional: true })(QcStatement.prototype, 'statementInfo');

export class QcStatements extends AsnArray<QcStatement> {}
AsnType({ type: AsnTypeTypes.Sequence, itemType: QcStatement })(QcStatements);

/** DER of a QCStatements extension value carrying the PSD2 statement (used by tests and tools). */
export function encodePsd2QcStatements(roles: Psd2Role[], ncaName: string, ncaId: string): ArrayBuffer {
  const info = Object.assign(new Psd2QcType(), {
    rolesOfPsp: roles.map((role) => Object.assign(new RoleOfPsp(), { roleOfPspOid: PSD2_ROLES[role], roleOfPspName: role })),
    nCAName: ncaName,
    nCAId: ncaId,
  });
  const statement = Object.assign(new QcStatement(), {
    statementId: PSD2_QC_STATEMENT_OID,
    statementInfo: AsnSerializer.serialize(info),
  });
  return AsnSerializer.serialize(new QcStatements([statement]));
}

/** What a certificate says about the TPP holding it. */
export interface TppIdentity {
  /** Subject O: the TPP's legal name. */
  legalName?: string;
  /** Subject organizationIdentifier, e.g. `PSDGB-FCA-123456` (ETSI TS 119 495 5.2.1). */
  organizationId?: string;
  /** Present only when the certificate carries the PSD2 QCStatement. */
  psd2?: { roles: Psd2Role[]; ncaName: string; ncaId: string };
}

// ETSI TS 119 495 5.2.1: "PSD" + ISO 3166 country + "-" + NCA id (2-8 chars) + "-" + PSP id.
const PSD2_ORGANIZATION_ID = /^PSD[A-Z]{2}-[A-Z]{2,8}-[^\s]+$/;
export const isPsd2OrganizationId = (value: string) => PSD2_ORGANIZATION_ID.test(value);

/** The certificate's TBS part; undefined when the DER does not parse. */
function tbs(cert: NodeCertificate | ArrayBuffer | Uint8Array): TBSCertificate | undefined {
  try {
    return AsnParser.parse('raw' in cert ? cert.raw : cert, Certificate).tbsCertificate;
  } catch {
    return undefined;
  }
}

function psd2Statement(certificate: TBSCertificate): TppIdentity['psd2'] {
  const extension = certificate.extensions?.find((e) => e.extnID === QC_STATEMENTS_OID);
  if (!extension) return undefined;
  try {
    const statements = AsnParser.parse(extension.extnValue.buffer, QcStatements);
    const psd2 = statements.find((s) => s.statementId === PSD2_QC_STATEMENT_OID);
    if (!psd2?.statementInfo) return undefined;
    const info = AsnParser.parse(psd2.statementInfo, Psd2QcType);
    // Unknown role OIDs are ignored: they grant nothing here.
    const roles = [...new Set(info.rolesOfPsp.map((r) => ROLE_BY_OID.get(r.roleOfPspOid)).filter((r): r is Psd2Role => !!r))];
    return { roles, ncaName: info.nCAName, ncaId: info.nCAId };
  } catch {
    // A malformed statement is no statement: the certificate grants no PSD2 role.
    return undefined;
  }
}

/** Every `oid=value` of a DN (multi-valued RDNs flattened). */
const attributes = (name: Name): [string, string][] =>
  name.flatMap((rdn) => rdn.map((attr): [string, string] => [attr.type, attr.value.toString()]));

/** The TPP identity in a certificate (node's X509Certificate or DER). */
export function tppIdentity(cert: NodeCertificate | ArrayBuffer | Uint8Array): TppIdentity {
  const certificate = tbs(cert);
  if (!certificate) return {};
  const subject = attributes(certificate.subject);
  const legalName = subject.find(([oid]) => oid === ORGANIZATION_NAME_OID)?.[1];
  const organizationId = subject.find(([oid]) => oid === ORGANIZATION_IDENTIFIER_OID)?.[1];
  const psd2 = psd2Statement(certificate);
  return {
    ...(legalName ? { legalName } : {}),
    ...(organizationId ? { organizationId } : {}),
    ...(psd2 ? { psd2 } : {}),
  };
}

// Attribute names registrants write in a tls_client_auth_subject_dn (RFC 4514, X.520, OpenSSL).
const DN_NAMES: Record<string, string> = {
  cn: '2.5.4.3',
  sn: '2.5.4.4',
  serialnumber: '2.5.4.5',
  c: '2.5.4.6',
  l: '2.5.4.7',
  st: '2.5.4.8',
  street: '2.5.4.9',
  o: ORGANIZATION_NAME_OID,
  ou: '2.5.4.11',
  title: '2.5.4.12',
  givenname: '2.5.4.42',
  organizationidentifier: ORGANIZATION_IDENTIFIER_OID,
  dc: '0.9.2342.19200300.100.1.25',
  uid: '0.9.2342.19200300.100.1.1',
  emailaddress: '1.2.840.113549.1.9.1',
};

const canonical = (pairs: [string, string][]) =>
  pairs
    .map(([oid, value]) => `${oid}=${value}`)
    .sort()
    .join('\n');

/**
 * An RFC 4514 DN string (`CN=a, O=B\, Ltd, 2.5.4.97=PSDGB-FCA-1`) as sorted `oid=value` lines, so
 * attribute order and name spelling do not matter; undefined when it does not parse.
 */
export function canonicalDnString(text: string): string | undefined {
  const pairs: [string, string][] = [];
  // type=value, where value runs to the next unescaped , or + (RFC 4514 section 3).
  const pattern = /\s*([A-Za-z][\w-]*|\d+(?:\.\d+)+)\s*=((?:\\.|[^,+\\])*)(?:[,+]|$)/gy;
  let end = 0;
  while (end < text.length) {
    const match = pattern.exec(text);
    if (!match) break;
    const [, type = '', raw = ''] = match;
    const oid = /^\d/.test(type) ? type : DN_NAMES[type.toLowerCase()];
    if (!oid) return undefined;
    const value = raw
      .trim()
      .replace(/\\([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
      .replace(/\\(.)/g, '$1');
    pairs.push([oid, value]);
    end = pattern.lastIndex;
  }
  return pairs.length && end >= text.length ? canonical(pairs) : undefined;
}

const SHORT_NAMES = new Map([
  ['2.5.4.3', 'CN'],
  ['2.5.4.6', 'C'],
  ['2.5.4.7', 'L'],
  ['2.5.4.8', 'ST'],
  [ORGANIZATION_NAME_OID, 'O'],
  ['2.5.4.11', 'OU'],
  ['2.5.4.5', 'serialNumber'],
  [ORGANIZATION_IDENTIFIER_OID, 'organizationIdentifier'],
]);

/** The certificate subject as an RFC 4514 string, for a tls_client_auth_subject_dn. */
export function subjectDn(cert: NodeCertificate | ArrayBuffer | Uint8Array): string | undefined {
  const certificate = tbs(cert);
  if (!certificate) return undefined;
  return attributes(certificate.subject)
    .map(([oid, value]) => `${SHORT_NAMES.get(oid) ?? oid}=${value.replace(/([,+"\\<>;=])/g, '\\$1')}`)
    .join(', ');
}

/** RFC 8705 2.1.2: the registered subject DN names the certificate's subject. */
export function subjectDnMatches(cert: NodeCertificate | ArrayBuffer | Uint8Array, expected: string): boolean {
  const certificate = tbs(cert);
  const want = canonicalDnString(expected);
  return certificate !== undefined && want !== undefined && canonical(attributes(certificate.subject)) === want;
}
