// RFC 8705 certificate access for oidc-provider's mTLS feature. The client certificate comes from
// the TLS socket when Portcullis terminates TLS itself (the mTLS listener), or from the
// CLIENT_CERT_HEADER a trusted proxy set (security/trusted-proxies.ts removes that header from
// every other peer, and on the mTLS listener from everyone, before this runs). oidc-provider calls
// these synchronously.

import { X509Certificate } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Context } from 'koa';
import type { Config } from '../config.ts';
import { percentDecode } from '../security/basic-credentials.ts';
import type { CaBundle, CertificateProblem } from './ca-bundle.ts';
import { isPsd2OrganizationId, subjectDnMatches, type TppIdentity, tppIdentity } from './qwac.ts';

type MtlsConfig = Pick<Config, 'CLIENT_CERT_HEADER' | 'CLIENT_CERT_ENCODING' | 'QWAC_REQUIRED'>;

/** Why a tls_client_auth certificate was refused (logged; the client only sees invalid_client). */
export type TlsClientAuthProblem = CertificateProblem | 'missing' | 'not_a_qwac' | 'organisation_mismatch';

export interface Mtls {
  getCertificate(ctx: Context): X509Certificate | undefined;
  /** tls_client_auth: chains to MTLS_CA_BUNDLE, is valid now, and (QWAC_REQUIRED) is the registered TPP's QWAC. */
  certificateAuthorized(ctx: Context): boolean;
  certificateSubjectMatches(ctx: Context, property: string, expected: string): boolean;
  /** The TPP identity (PSD2 roles, NCA, organisation) of the presented certificate. */
  identity(ctx: Context | undefined): TppIdentity | undefined;
  /** What is wrong with the presented certificate for this tls_client_auth client, if anything. */
  problem(ctx: Context, organisationId?: string): TlsClientAuthProblem | undefined;
}

/** nginx `$ssl_client_escaped_cert`: the PEM, URL-encoded. */
function fromEscapedPem(value: string): string | undefined {
  return percentDecode(value);
}

/**
 * Envoy `x-forwarded-client-cert`: `;`-separated key=value pairs, one `,`-separated element per
 * proxy. The element the nearest proxy (the trusted peer) appended is the last one; its `Cert`
 * is the URL-encoded PEM.
 */
function fromXfcc(value: string): string | undefined {
  const elements = value.match(/(?:[^,"]|"(?:[^"\\]|\\.)*")+/g) ?? [];
  const last = elements.at(-1) ?? '';
  for (const pair of last.match(/(?:[^;"]|"(?:[^"\\]|\\.)*")+/g) ?? []) {
    const at = pair.indexOf('=');
    if (pair.slice(0, at).trim().toLowerCase() !== 'cert') continue;
    const raw = pair.slice(at + 1).trim();
    return percentDecode(raw.startsWith('"') ? raw.slice(1, -1) : raw);
  }
  return undefined;
}

function forwarded(req: IncomingMessage, config: MtlsConfig): X509Certificate | undefined {
  const header = config.CLIENT_CERT_HEADER ? req.headers[config.CLIENT_CERT_HEADER] : undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  try {
    const pem = config.CLIENT_CERT_ENCODING === 'xfcc' ? fromXfcc(value) : fromEscapedPem(value);
    return pem ? new X509Certificate(pem) : undefined;
  } catch {
    return undefined; // an unreadable header is no certificate
  }
}

function fromSocket(req: IncomingMessage): X509Certificate | undefined {
  const socket = req.socket as TLSSocket;
  return typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
}

export function createMtls(config: MtlsConfig, authorities: CaBundle): Mtls {
  // One parse per request, however often oidc-provider asks.
  const certificates = new WeakMap<IncomingMessage, X509Certificate | null>();
  const identities = new WeakMap<X509Certificate, TppIdentity>();

  const getCertificate = (ctx: Context | undefined) => {
    // A token minted outside a request (the CLI, an operator's script) has no certificate.
    if (!ctx?.req) return undefined;
    let cert = certificates.get(ctx.req);
    if (cert === undefined) {
      // A trusted proxy's header names the TPP; the socket's certificate would be the proxy's own.
      cert = forwarded(ctx.req, config) ?? fromSocket(ctx.req) ?? null;
      certificates.set(ctx.req, cert);
    }
    return cert ?? undefined;
  };

  const identity = (ctx: Context | undefined) => {
    const cert = getCertificate(ctx);
    if (!cert) return undefined;
    let found = identities.get(cert);
    if (!found) {
      found = tppIdentity(cert);
      identities.set(cert, found);
    }
    return found;
  };

  const problem = (ctx: Context, organisationId?: string): TlsClientAuthProblem | undefined => {
    const cert = getCertificate(ctx);
    if (!cert) return 'missing';
    const invalid = authorities.check(cert);
    if (invalid) return invalid;
    const tpp = identity(ctx);
    // PSD2 RTS Art. 34: the TPP identifies itself with a QWAC naming its roles and authority.
    if (config.QWAC_REQUIRED && (!tpp?.psd2 || !tpp.organizationId || !isPsd2OrganizationId(tpp.organizationId))) {
      return 'not_a_qwac';
    }
    // Registration bound the client to one organisation: another TPP's valid QWAC is not this client.
    if (organisationId && tpp?.organizationId !== organisationId) return 'organisation_mismatch';
    return undefined;
  };

  const registeredOrganisation = (ctx: Context) => {
    const client = (ctx as { oidc?: { client?: { metadata(): Record<string, unknown> } } }).oidc?.client;
    const id = client?.metadata().organisation_id;
    return typeof id === 'string' ? id : undefined;
  };

  return {
    getCertificate,
    identity,
    problem,
    certificateAuthorized: (ctx) => problem(ctx, registeredOrganisation(ctx)) === undefined,
    certificateSubjectMatches(ctx, property, expected) {
      const cert = getCertificate(ctx);
      if (!cert) return false;
      const san = (prefix: string) => (cert.subjectAltName ?? '').split(', ').includes(`${prefix}:${expected}`);
      switch (property) {
        case 'tls_client_auth_subject_dn':
          return subjectDnMatches(cert, expected);
        case 'tls_client_auth_san_dns':
          return san('DNS');
        case 'tls_client_auth_san_uri':
          return san('URI');
        case 'tls_client_auth_san_ip':
          return san('IP Address');
        case 'tls_client_auth_san_email':
          return san('email');
        default:
          return false;
      }
    },
  };
}
