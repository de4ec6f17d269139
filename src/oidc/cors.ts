// CORS on oidc-provider's endpoints: public metadata only. FAPI 2.0 clients are confidential
// server-side clients, so no browser script has any business calling PAR, token, introspection,
// revocation or userinfo; answering its preflight only widens what a malicious page can probe.
// oidc-provider 9 has no switch for this: its cors middleware (lib/shared/cors.js) answers every
// preflight of those routes with 204 and Access-Control-Allow-Origin echoing any origin, and sets
// that header on their responses before the client is known, so errors carry it too. Its
// `clientBasedCORS` hook (configuration.ts: always false) is consulted only once a client is
// identified on an actual request. The headers are therefore removed here, after the provider has
// answered, on every route but discovery and the JWKS, which browsers may read from anywhere.
// The authorization endpoint has no CORS route at all and stays without (FAPI 2.0 SP 5.3.2.2).
import type { Middleware } from 'koa';

// oidc-provider's route names (ctx.oidc.route); its preflight routes are `cors.<name>`.
const PUBLIC_METADATA = new Set(['discovery', 'jwks', 'cors.discovery', 'cors.jwks']);

type OidcRoute = { oidc?: { route?: string } };

function removeCorsHeaders(ctx: Parameters<Middleware>[0]): void {
  for (const name of Object.keys(ctx.response.headers)) {
    if (name.toLowerCase().startsWith('access-control-')) ctx.remove(name);
  }
}

/** Provider middleware (provider.use): CORS headers survive only on discovery and the JWKS. */
export const corsForPublicMetadataOnly: Middleware = async (ctx, next) => {
  try {
    await next();
  } finally {
    const route = (ctx as unknown as OidcRoute).oidc?.route;
    if (!route || !PUBLIC_METADATA.has(route)) removeCorsHeaders(ctx);
  }
};
