// Registering and changing TPP clients: the one path used by the admin API and the CLI.
// zod-strict input -> FAPI client policy -> oidc-provider's own validation -> store.
import { randomUUID } from 'node:crypto';
import { NotFound } from '../http/errors.ts';
import { applyFapiClientPolicy } from '../oidc/client-policy.ts';
import type { ClientMetadata, ClientRecord } from '../oidc/clients.ts';
import { type ProviderHolder, validateClientMetadata } from '../oidc/provider.ts';
import type { Services } from '../services.ts';
import { checkQwacRegistration, type QwacRegistration } from './qwac-registration.ts';
import { clientCreateInput } from './schemas.ts';
import { fromProviderError, parseInput } from './validation.ts';

async function checkedMetadata(services: Services, holder: ProviderHolder, clientId: string, input: unknown) {
  const { trust_tier: trustTier, qwac_certificate: qwacPem, ...fields } = parseInput(clientCreateInput, input, 'client');
  const metadata: ClientMetadata = { ...fields, client_id: clientId };
  // PSD2 RTS Art. 34: a tls_client_auth TPP is the organisation its QWAC names.
  const qwac = checkQwacRegistration(metadata, qwacPem, {
    qwacRequired: services.config.QWAC_REQUIRED,
    authorities: services.caBundle,
  });
  try {
    applyFapiClientPolicy(metadata);
    await validateClientMetadata(holder.current, metadata);
  } catch (err) {
    throw fromProviderError(err);
  }
  return { metadata, trustTier, qwac };
}

/** What the QWAC supplied at registration says, for the consent page until the TPP presents one. */
async function recordQwac(services: Services, clientId: string, qwac: QwacRegistration | undefined) {
  if (qwac) await services.tppCertificates.record(clientId, qwac.cert, qwac.identity);
}

export async function registerClient(services: Services, holder: ProviderHolder, input: unknown): Promise<ClientRecord> {
  const { metadata, trustTier, qwac } = await checkedMetadata(services, holder, randomUUID(), input);
  const created = await services.clients.create(metadata, trustTier ? { trustTier } : {});
  await recordQwac(services, created.client_id, qwac);
  return created;
}

/** A TPP client by id; resource-server client records are not TPPs and are not found here. */
export async function findTppClient(services: Services, clientId: string): Promise<ClientRecord> {
  const client = await services.clients.get(clientId);
  if (client?.kind !== 'tpp') throw new NotFound(`no client ${clientId}`);
  return client;
}

/** Replaces a client's metadata as a whole (RFC 7592 semantics). */
export async function replaceClient(
  services: Services,
  holder: ProviderHolder,
  clientId: string,
  input: unknown,
): Promise<ClientRecord> {
  await findTppClient(services, clientId);
  const { metadata, trustTier, qwac } = await checkedMetadata(services, holder, clientId, input);
  const updated = await services.clients.update(clientId, { metadata, ...(trustTier ? { trustTier } : {}) });
  if (!updated) throw new NotFound(`no client ${clientId}`);
  await recordQwac(services, clientId, qwac);
  return updated;
}
