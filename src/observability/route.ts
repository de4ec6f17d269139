// The route a request matched, as a label with bounded values: the router's template
// (`/admin/clients/:id`, never the id), oidc-provider's route name (`token`,
// `pushed_authorization_request`), or `unmatched` for anything else (404s, probes).
import type { Context } from 'koa';

export function routeOf(ctx: Context): string {
  const oidcRoute = (ctx as { oidc?: { route?: unknown } }).oidc?.route;
  if (typeof oidcRoute === 'string' && oidcRoute) return oidcRoute;
  const template = (ctx as { _matchedRoute?: unknown })._matchedRoute;
  if (typeof template === 'string' && template) return template;
  return 'unmatched';
}
