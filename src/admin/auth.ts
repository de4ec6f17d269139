// Admin authentication: `Authorization: Bearer <admin key>`. A missing, malformed, wrong or
// revoked key is the same bare 401; a valid key without the scope is a 403 naming the scope.
import type { Middleware } from 'koa';
import { InsufficientScope, Unauthorized } from '../http/errors.ts';
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

export function requireScope(scope: AdminScope): Middleware<AdminState> {
  return async (ctx, next) => {
    if (!ctx.state.adminKey.scopes.includes(scope)) throw new InsufficientScope(scope);
    await next();
  };
}
