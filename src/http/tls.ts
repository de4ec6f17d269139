// TLS settings of the listeners Portcullis terminates itself (TLS_CERT / TLS_KEY).
// BCP 195 (RFC 9325) section 4 and FAPI 2.0 SP 5.2.1: TLS 1.2 or later, 1.3 preferred; on 1.2
// only the recommended AEAD suites with forward secrecy (ECDHE with AES-GCM or ChaCha20-Poly1305).
import { readFileSync } from 'node:fs';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Config } from '../config.ts';

export const TLS13_SUITES = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];
export const TLS12_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
];

/** The public HTTPS listener; undefined when Portcullis does not terminate TLS. */
export function tlsOptions(config: Pick<Config, 'TLS_CERT' | 'TLS_KEY'>): TlsOptions | undefined {
  if (!config.TLS_CERT || !config.TLS_KEY) return undefined;
  const files: SecureContextOptions = { cert: readFileSync(config.TLS_CERT), key: readFileSync(config.TLS_KEY) };
  return {
    ...files,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    // Naming the TLS 1.3 suites keeps 1.3 on; the 1.2 list leaves out CBC, RSA key exchange and DHE.
    ciphers: [...TLS13_SUITES, ...TLS12_SUITES].join(':'),
    honorCipherOrder: true,
  };
}

/**
 * The mTLS listener (RFC 8705): asks every client for a certificate but does not require one,
 * and does not let OpenSSL decide: a self-signed certificate (self_signed_tls_client_auth) is as
 * welcome as a QWAC, and oidc-provider decides per client (oidc/mtls.ts checks the chain).
 */
export function mtlsOptions(base: TlsOptions, config: Pick<Config, 'MTLS_CA_BUNDLE'>): TlsOptions {
  return {
    ...base,
    requestCert: true,
    rejectUnauthorized: false,
    // The CertificateRequest names the accepted CAs, so a client holding several picks the QWAC.
    ...(config.MTLS_CA_BUNDLE ? { ca: readFileSync(config.MTLS_CA_BUNDLE) } : {}),
  };
}
