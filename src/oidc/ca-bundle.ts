// The certificate authorities a `tls_client_auth` certificate must chain to (MTLS_CA_BUNDLE: the
// eIDAS QTSPs the bank accepts, roots and intermediates). Checked in-process, synchronously (as
// oidc-provider's mTLS callbacks are), for certificates from the TLS socket and from a trusted
// proxy alike: the proxy may only have asked for a certificate (nginx `optional_no_ca`).
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export type CertificateProblem = 'expired' | 'not_yet_valid' | 'untrusted';

export interface CaBundle {
  readonly size: number;
  /** Why the certificate is not acceptable now, or undefined when it is. */
  check(cert: X509Certificate, at?: Date): CertificateProblem | undefined;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Every certificate in a PEM text (a bundle, or a leaf followed by its chain). */
export function pemCertificates(text: string): X509Certificate[] {
  return (text.match(PEM_CERTIFICATE) ?? []).map((pem) => new X509Certificate(pem));
}

export function validityProblem(cert: X509Certificate, at: Date): CertificateProblem | undefined {
  if (at.getTime() < new Date(cert.validFrom).getTime()) return 'not_yet_valid';
  if (at.getTime() > new Date(cert.validTo).getTime()) return 'expired';
  return undefined;
}

export function createCaBundle(authorities: X509Certificate[]): CaBundle {
  return {
    size: authorities.length,
    check(cert, at = new Date()) {
      const issuer = authorities.find((ca) => ca.ca && cert.checkIssued(ca) && cert.verify(ca.publicKey));
      // The bundle lists every CA that may issue client certificates, intermediates included:
      // one signature from one of them (itself still valid) is the whole chain.
      if (!issuer || validityProblem(issuer, at)) return 'untrusted';
      return validityProblem(cert, at);
    },
  };
}

/** MTLS_CA_BUNDLE read at start-up; a bundle without certificates stops the server. */
export function loadCaBundle(path: string | undefined): CaBundle {
  if (!path) return createCaBundle([]);
  const authorities = pemCertificates(readFileSync(path, 'utf8'));
  if (!authorities.length) throw new Error(`MTLS_CA_BUNDLE ${path} holds no PEM certificate`);
  return createCaBundle(authorities);
}
