// The first check of every request: is its address blocked (ip-blocks.ts)? A blocked client gets
// 403 in the endpoint's format (OAuth-style JSON, or an HTML page on browser routes) before
// anything reads its body. Health probes pass: they come from the load balancer, and blocking
// them would turn a block into an outage.
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { HttpError } from '../http/errors.ts';
import { routePath } from '../http/route-path.ts';
import type { IpBlockStore } from './ip-blocks.ts';

const PROBES = new Set(['/healthz', '/readyz']);

export class AddressBlocked extends HttpError {
  constructor() {
    super(403, 'access_denied', 'Requests from your network are blocked. If you believe this is a mistake, contact the bank.');
  }
}

export function ipBlockGuard(blocks: IpBlockStore, logger: Logger): Middleware {
  return async (ctx, next) => {
    if (!PROBES.has(routePath(ctx.path))) {
      const block = await blocks.match(ctx.ip);
      if (block) {
        logger.debug({ block: block.id, path: ctx.path, requestId: ctx.state.requestId }, 'request from a blocked address');
        // The body stays unread: close the connection after answering rather than drain it.
        if (ctx.request.length) ctx.set('Connection', 'close');
        throw new AddressBlocked();
      }
    }
    await next();
  };
}
