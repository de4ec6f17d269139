// Admin authentication: `Authorization: Bearer <admin key>`. A missing, malformed, wrong or
// revoked key is the same bare 401; a valid key without the scope is a 403 naming the scope.
// The key is checked before routing (adminGate), for every path under /admin however it is
// spelled: a 404 for an unknown path, a 405 naming the allowed methods or an OPTIONS answer would
// hand the route map to anyone without a key (OWASP API2/API8).
import type { Middleware } from 'koa';
import { InsufficientScope, Unauthorized } from '../http/errors.ts';
import { isUnder, routePath } from '../http/route-path.ts';
import type { AdminKey, AdminKeyStore, AdminScope } from './admin-keys.ts';

export interface AdminState {
  adminKey: AdminKey;
  requestId?: string;
}

export function requireAdmin(store: AdminKeyStore): Middleware<AdminState> {
  return async (ctx, next) => {
    const header = ctx.get('authorization');
    const match = /^Bearer ([^\s]+)$/i.exec(header);
    const key = match?.[1] ? await store.authenticate(match[1]) : undefined;
    if (!key) throw new Unauthorized();
    ctx.state.adminKey = key;
    await next();
  };
}

/** In front of every route of a listener that serves the admin API: no valid key, no routing under /admin. */
export function adminGate(store: AdminKeyStore): Middleware<AdminState> {
  const authenticate = requireAdmin(store);
  return (ctx, next) => (isUnder(routePath(ctx.path), '/admin') ? authenticate(ctx, next) : next());
}

/** The gate authenticated this request (a route mounted without it fails closed, never open). */
export const requireAdminKey: Middleware<AdminState> = async (ctx, next) => {
  if (!ctx.state.adminKey) throw new Unauthorized();
  await next();
};

export function requireScope(scope: AdminScope): Middleware<AdminState> {
  return async (ctx, next) => {
    if (!ctx.state.adminKey?.scopes.includes(scope)) {
      throw ctx.state.adminKey ? new InsufficientScope(scope) : new Unauthorized();
    }
    await next();
  };
}
