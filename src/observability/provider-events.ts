// oidc-provider's events as metrics and log lines. The log lines carry named, harmless fields
// only (event, route, client, error code and text): never the context, a token instance, a
// model payload or parameters, which hold codes, tokens and assertions. Protocol errors and
// successes are logged at debug level; server errors (500s) at error level, since oidc-provider
// answers them without logging anything itself.
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { metrics } from './metrics.ts';

type EventContext = {
  oidc?: { route?: string; client?: { clientId?: string }; params?: Record<string, unknown> };
  state?: { requestId?: string };
};
type ProtocolError = { error?: string; error_description?: string; error_detail?: string; status?: number };

const ERROR_EVENTS = [
  'authorization.error',
  'backchannel.error',
  'discovery.error',
  'end_session.error',
  'end_session_confirm.error',
  'end_session_success.error',
  'grant.error',
  'introspection.error',
  'jwks.error',
  'pushed_authorization_request.error',
  'registration_create.error',
  'registration_delete.error',
  'registration_read.error',
  'registration_update.error',
  'revocation.error',
  'userinfo.error',
];
const SUCCESS_EVENTS = [
  'authorization.accepted',
  'authorization.success',
  'end_session.success',
  'grant.revoked',
  'grant.success',
  'interaction.ended',
  'interaction.started',
  'pushed_authorization_request.success',
  'registration_create.success',
  'registration_delete.success',
  'registration_update.success',
];

const MAX_TEXT = 300;
const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, MAX_TEXT) : undefined);

function where(ctx: EventContext) {
  return {
    request_id: ctx?.state?.requestId,
    route: ctx?.oidc?.route,
    client_id: ctx?.oidc?.client?.clientId,
    grant_type: text(ctx?.oidc?.params?.grant_type),
  };
}

export function observeProvider(provider: Provider, logger: Logger): void {
  const on = provider.on.bind(provider) as (event: string, listener: (...args: unknown[]) => void) => void;

  on('grant.success', (ctx) => {
    const c = ctx as EventContext;
    metrics.tokensIssued.inc({
      grant_type: text(c.oidc?.params?.grant_type) ?? 'unknown',
      client_id: c.oidc?.client?.clientId ?? 'unknown',
    });
  });

  for (const event of ERROR_EVENTS) {
    on(event, (ctx, err) => {
      const e = err as ProtocolError;
      logger.debug(
        {
          event,
          ...where(ctx as EventContext),
          error: text(e?.error),
          error_description: text(e?.error_description),
          error_detail: text(e?.error_detail),
        },
        'oidc-provider event',
      );
    });
  }
  for (const event of SUCCESS_EVENTS) {
    on(event, (ctx) => logger.debug({ event, ...where(ctx as EventContext) }, 'oidc-provider event'));
  }

  on('server_error', (ctx, err) => {
    const e = err as Error;
    logger.error(
      {
        event: 'server_error',
        ...where(ctx as EventContext),
        err: { type: e?.name, message: text(e?.message), stack: e?.stack },
      },
      'oidc-provider server error',
    );
  });
}
