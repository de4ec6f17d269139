// A request id on every response (X-Request-Id), and the FAPI interaction id echoed back
// (FAPI 2.0 / Open Banking: x-fapi-interaction-id, a UUID the client may send).
import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const requestId: Middleware = async (ctx, next) => {
  const incoming = ctx.get('x-request-id');
  const id = SAFE_ID.test(incoming) ? incoming : randomUUID();
  ctx.state.requestId = id;
  ctx.set('X-Request-Id', id);
  const interaction = ctx.get('x-fapi-interaction-id');
  ctx.set('x-fapi-interaction-id', SAFE_ID.test(interaction) ? interaction : id);
  await next();
};
