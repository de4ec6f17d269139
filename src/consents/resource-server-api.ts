// What resource servers tell the authorization server about consents: a payment was executed,
// so its consent is used up (PSD2: payment consents are single use) and its tokens stop working.
// Authenticated with the resource server's own credentials (HTTP Basic, secret stored as SHA-256).
import Router from '@koa/router';
import type { Context } from 'koa';
import { HttpError, NotFound } from '../http/errors.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import type { ResourceServer } from '../oidc/resource-servers.ts';
import { basicCredentials } from '../security/basic-credentials.ts';
import { constantTimeEqual, sha256Hex } from '../security/secrets.ts';
import type { Services } from '../services.ts';

class InvalidClient extends HttpError {
  constructor() {
    super(401, 'invalid_client', 'resource server authentication failed', { 'WWW-Authenticate': 'Basic realm="portcullis"' });
  }
}

async function authenticateResourceServer(ctx: Context, services: Services): Promise<ResourceServer> {
  // Absent, malformed or badly encoded ("%zz") credentials are a failed authentication, not a 500.
  const credentials = basicCredentials(ctx.get('authorization'));
  if (!credentials) throw new InvalidClient();
  const { clientId, secret } = credentials;
  const rs = await services.resourceServers.findByClientId(clientId);
  const client = rs ? await services.clients.get(clientId) : undefined;
  const stored = client?.status === 'active' ? client.metadata.client_secret : undefined;
  if (!rs || typeof stored !== 'string' || !constantTimeEqual(stored, sha256Hex(secret))) throw new InvalidClient();
  return rs;
}

export function resourceServerRouter(services: Services, holder: ProviderHolder): Router {
  const router = new Router();
  router.post('/consents/:id/payment-executed', async (ctx) => {
    const rs = await authenticateResourceServer(ctx, services);
    const provider = holder.current;
    // Only the resource server the consent's tokens were issued for may report its payment.
    const found = await services.consents.get(ctx.params.id as string);
    const grant = found?.grantId ? await provider.Grant.find(found.grantId) : undefined;
    const forThisServer = Boolean((grant as { resources?: Record<string, unknown> } | undefined)?.resources?.[rs.resource]);
    const consent = forThisServer ? await services.consentService.consume(provider, ctx.params.id as string) : undefined;
    if (!consent) throw new NotFound('no authorised payment consent with that id for this resource server');
    services.logger.info(
      { event: 'consent.consumed', consent_id: consent.id, resource_server: rs.client_id },
      'payment executed',
    );
    ctx.body = { consent_id: consent.id, status: consent.status };
  });
  return router;
}
