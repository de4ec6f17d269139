// Certificates made at test time with @peculiar/x509 on Node's WebCrypto: a CA (standing in for
// an eIDAS QTSP), QWAC-like leaves carrying the ETSI TS 119 495 PSD2 QCStatement, self-signed
// client certificates, and a server certificate for 127.0.0.1/localhost. Nothing is committed.
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { encodePsd2QcStatements, type Psd2Role, QC_STATEMENTS_OID } from '../../src/oidc/qwac.ts';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

export interface Issued {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  /** PEM of the certificate. */
  pem: string;
  /** PKCS#8 PEM of the private key. */
  keyPem: string;
}

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const newKeys = () => webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;

async function issued(cert: x509.X509Certificate, keys: CryptoKeyPair): Promise<Issued> {
  return { cert, keys, pem: cert.toString('pem'), keyPem: await pkcs8Pem(keys.privateKey) };
}

/** A root CA (the QTSP). */
export async function createCa(name = 'CN=Test QTSP Root CA, O=Test QTSP, C=EU'): Promise<Issued> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name,
    keys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return issued(cert, keys);
}

export interface LeafOptions {
  subject: string;
  /** PSD2 roles for the QCStatement; absent: no QCStatements extension at all. */
  roles?: Psd2Role[];
  /** A QCStatements extension value of the test's own making (instead of `roles`). */
  qcStatements?: ArrayBuffer;
  ncaName?: string;
  ncaId?: string;
  notBefore?: Date;
  notAfter?: Date;
  /** Subject alternative names (DNS / IP) for a server certificate. */
  dns?: string[];
  ips?: string[];
  serverAuth?: boolean;
}

/** A certificate issued by `ca`: a QWAC-like client certificate, or a server certificate. */
export async function issue(ca: Issued, options: LeafOptions): Promise<Issued> {
  const keys = await newKeys();
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([
      options.serverAuth ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
  ];
  if (options.roles) {
    const value = encodePsd2QcStatements(
      options.roles,
      options.ncaName ?? 'Financial Conduct Authority',
      options.ncaId ?? 'GB-FCA',
    );
    extensions.push(new x509.Extension(QC_STATEMENTS_OID, false, value));
  }
  if (options.dns || options.ips) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension([
        ...(options.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(options.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    subject: options.subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    notBefore: options.notBefore ?? new Date(Date.now() - DAY),
    notAfter: options.notAfter ?? new Date(Date.now() + 90 * DAY),
    extensions,
  });
  return issued(cert, keys);
}

/** A self-signed client certificate (self_signed_tls_client_auth), and its JWK with x5c. */
export async function selfSigned(subject = 'CN=Self-signed Fintech'): Promise<Issued & { jwk: JsonWebKey & { x5c: string[] } }> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: subject,
    keys,
    signingAlgorithm: ALG,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 90 * DAY),
  });
  const jwk = (await webcrypto.subtle.exportKey('jwk', keys.publicKey)) as JsonWebKey;
  const x5c = [Buffer.from(cert.rawData).toString('base64')];
  const { key_ops: _ops, ext: _ext, ...publicJwk } = jwk;
  return { ...(await issued(cert, keys)), jwk: { ...publicJwk, x5c } };
}

/** PSD2 subject DN of a TPP: legal name, organisation identifier, country. */
export const tppSubject = (name: string, organisationId: string) =>
  `CN=${name.toLowerCase().replace(/\W+/g, '-')}.example, O=${name}, 2.5.4.97=${organisationId}, C=GB`;

export interface TlsFiles {
  dir: string;
  ca: Issued;
  server: Issued;
  certPath: string;
  keyPath: string;
  caBundlePath: string;
}

/** A CA, a server certificate for 127.0.0.1 and localhost, and PEM files for TLS_CERT / TLS_KEY / MTLS_CA_BUNDLE. */
export async function tlsFiles(ca?: Issued): Promise<TlsFiles> {
  const root = ca ?? (await createCa());
  const server = await issue(root, {
    subject: 'CN=localhost',
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    serverAuth: true,
  });
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-tls-'));
  const certPath = join(dir, 'server.pem');
  const keyPath = join(dir, 'server.key');
  const caBundlePath = join(dir, 'ca-bundle.pem');
  writeFileSync(certPath, server.pem);
  writeFileSync(keyPath, server.keyPem, { mode: 0o600 });
  writeFileSync(caBundlePath, root.pem);
  return { dir, ca: root, server, certPath, keyPath, caBundlePath };
}
