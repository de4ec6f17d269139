// Security events from the protocol engine into the audit log: tokens issued, refreshed and
// revoked, and refresh-token reuse (after which oidc-provider has revoked the whole grant).
// Event listeners cannot make a request wait, so these rows are written in the background.
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from 'pino';
import { type AuditEvent, type AuditLog, requestContext } from '../security/audit.ts';
import { sha256Hex } from '../security/secrets.ts';

export function recordProviderEvents(provider: Provider, logger: Logger, audit: AuditLog): void {
  const record = (event: AuditEvent) => {
    audit.record(event).catch((err) => logger.error({ err, event: event.type }, 'audit event lost'));
  };
  const clientOf = (ctx: KoaContextWithOIDC) => ctx.oidc?.client?.clientId;

  provider.on('grant.error', (ctx, err) => {
    if ((err as { error_detail?: string }).error_detail !== 'refresh token already used') return;
    const refreshToken = ctx.oidc?.entities?.RefreshToken;
    logger.warn(
      { event: 'refresh_token.reuse_detected', client_id: clientOf(ctx), grant_id: refreshToken?.grantId },
      'refresh token reused after its retry window: grant revoked',
    );
    record({
      type: 'refresh_token.reuse_detected',
      outcome: 'failure',
      actor: { type: 'client', id: clientOf(ctx) },
      clientId: clientOf(ctx),
      customerId: refreshToken?.accountId,
      ...requestContext(ctx),
      details: { grant_id: refreshToken?.grantId, action: 'grant and every token of it revoked' },
    });
  });

  provider.on('grant.success', (ctx) => {
    const token = ctx.oidc?.entities?.AccessToken ?? ctx.oidc?.entities?.ClientCredentials;
    const grantType = ctx.oidc?.params?.grant_type as string | undefined;
    record({
      type: grantType === 'refresh_token' ? 'token.refreshed' : 'token.issued',
      outcome: 'success',
      actor: { type: 'client', id: clientOf(ctx) },
      clientId: clientOf(ctx),
      customerId: ctx.oidc?.entities?.Account?.accountId,
      ...requestContext(ctx),
      // A digest of the token id, never the token.
      details: {
        grant_type: grantType,
        token_ref: token?.jti ? sha256Hex(token.jti).slice(0, 16) : undefined,
        grant_id: (token as { grantId?: string } | undefined)?.grantId,
      },
    });
  });

  provider.on('grant.revoked', (ctx, grantId) => {
    record({
      type: 'grant.revoked',
      outcome: 'success',
      actor: { type: 'client', id: clientOf(ctx) },
      clientId: clientOf(ctx),
      ...requestContext(ctx),
      details: { grant_id: grantId, route: ctx.oidc?.route },
    });
  });

  // RFC 7009 revocation answers 200 whether or not the token existed; record the request.
  provider.use(async (koaCtx, next) => {
    await next();
    const ctx = koaCtx as unknown as KoaContextWithOIDC;
    if (ctx.oidc?.route !== 'revocation' || ctx.status !== 200) return;
    record({
      type: 'token.revoked',
      outcome: 'success',
      actor: { type: 'client', id: clientOf(ctx) },
      clientId: clientOf(ctx),
      ...requestContext(ctx),
      details: { token_type_hint: ctx.oidc.params?.token_type_hint as string | undefined },
    });
  });
}
