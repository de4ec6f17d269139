// The TPP identity from each client's eIDAS certificate (client_certificates), kept so the
// consent page can name the TPP as its national authority registered it. Written when a new
// certificate shows up (one write per certificate, not per request) or at registration.
import { createHash, type X509Certificate } from 'node:crypto';
import type { Knex } from 'knex';
import type { Psd2Role, TppIdentity } from './qwac.ts';

export interface CertifiedTpp {
  legalName?: string;
  organizationId?: string;
  ncaName?: string;
  ncaId?: string;
  roles: Psd2Role[];
  notAfter: Date;
}

export interface TppCertificateStore {
  /** Records the certificate's identity unless this very certificate is already recorded. */
  record(clientId: string, cert: X509Certificate, identity: TppIdentity): Promise<void>;
  get(clientId: string): Promise<CertifiedTpp | undefined>;
}

const thumbprint = (cert: X509Certificate) => createHash('sha256').update(cert.raw).digest('base64url');

export function createTppCertificateStore(knex: Knex): TppCertificateStore {
  // Thumbprints this process has written, so a busy TPP costs no query per PAR.
  const recorded = new Map<string, string>();
  return {
    async record(clientId, cert, identity) {
      const print = thumbprint(cert);
      if (recorded.get(clientId) === print) return;
      const row = {
        client_id: clientId,
        legal_name: identity.legalName ?? null,
        organization_id: identity.organizationId ?? null,
        nca_name: identity.psd2?.ncaName ?? null,
        nca_id: identity.psd2?.ncaId ?? null,
        roles: identity.psd2?.roles ?? [],
        thumbprint: print,
        not_after: new Date(cert.validTo),
        updated_at: new Date(),
      };
      await knex('client_certificates')
        .insert(row)
        .onConflict('client_id')
        .merge()
        .whereRaw('client_certificates.thumbprint <> excluded.thumbprint');
      if (recorded.size > 10_000) recorded.clear();
      recorded.set(clientId, print);
    },
    async get(clientId) {
      const row = await knex('client_certificates').where({ client_id: clientId }).first();
      if (!row) return undefined;
      return {
        ...(row.legal_name ? { legalName: row.legal_name as string } : {}),
        ...(row.organization_id ? { organizationId: row.organization_id as string } : {}),
        ...(row.nca_name ? { ncaName: row.nca_name as string } : {}),
        ...(row.nca_id ? { ncaId: row.nca_id as string } : {}),
        roles: (row.roles as Psd2Role[]) ?? [],
        notAfter: new Date(row.not_after as string),
      };
    },
  };
}
