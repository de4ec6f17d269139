// Composes the HTTP app: request id, security headers, errors, our routes, then oidc-provider
// last (it reads its own bodies, so nothing parses bodies in front of it).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import Router from '@koa/router';
import Koa from 'koa';
import compose from 'koa-compose';
import { adminGate } from './admin/auth.ts';
import { createAdminRouter } from './admin/router.ts';
import { resourceServerRouter } from './consents/resource-server-api.ts';
import { ping } from './db/database.ts';
import type { DemoCredentials } from './demo.ts';
import { createDemoTppRouter } from './demo-tpp/router.ts';
import { allowedMethods } from './http/allowed-methods.ts';
import { bodyLimit } from './http/body-limit.ts';
import { errorHandler } from './http/errors.ts';
import { requestId } from './http/request-id.ts';
import { interactionRouter } from './interactions/router.ts';
import { metricsRouter } from './observability/metrics-route.ts';
import { observeRequests } from './observability/requests.ts';
import { MTLS_ALIASED_ROUTES } from './oidc/configuration.ts';
import type { ProviderHolder } from './oidc/provider.ts';
import { createPortalRouter } from './portal/router.ts';
import type { Csrf } from './security/csrf.ts';
import { securityHeaders } from './security/headers.ts';
import { proxyTrust, trustedProxies } from './security/trusted-proxies.ts';
import type { Services } from './services.ts';

const STATIC_DIR = fileURLToPath(new URL('../static/', import.meta.url));
// The only script of the pages is the WebAuthn prompt, a file here (CSP script-src 'self').
const STATIC_FILES: Record<string, string> = {
  'portcullis.css': 'text/css; charset=utf-8',
  'webauthn.js': 'text/javascript; charset=utf-8',
};

function operationsRouter(services: Services): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    try {
      await ping(services.db.knex);
      ctx.body = { status: 'ready', database: services.db.kind };
    } catch (err) {
      services.logger.warn({ err }, 'readiness check failed');
      ctx.status = 503;
      ctx.body = { status: 'unavailable', database: 'unreachable' };
    }
  });
  // Browsers ask for it on every error page; an empty answer keeps their consoles clean.
  router.get('/favicon.ico', (ctx) => {
    ctx.status = 204;
    ctx.set('Cache-Control', 'public, max-age=86400');
  });
  router.get('/static/:file', async (ctx) => {
    const type = STATIC_FILES[ctx.params.file as string];
    if (!type) return;
    ctx.type = type;
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = await readFile(`${STATIC_DIR}${ctx.params.file}`);
  });
  return router;
}

/** Runs the current provider as if mounted at "/" (what koa-mount does, but re-resolved per request). */
function mountProvider(holder: ProviderHolder): Koa.Middleware {
  const composed = new WeakMap<object, Koa.Middleware>();
  return async (ctx, next) => {
    const provider = holder.current;
    let downstream = composed.get(provider);
    if (!downstream) {
      downstream = compose(provider.middleware as Koa.Middleware[]);
      composed.set(provider, downstream);
    }
    const parentApp = ctx.app;
    ctx.app = provider as unknown as Koa;
    try {
      await downstream(ctx, async () => {
        ctx.app = parentApp;
        await next();
        ctx.app = provider as unknown as Koa;
      });
    } finally {
      ctx.app = parentApp;
    }
  };
}

export interface AppParts {
  /** The public listener: OAuth/OIDC endpoints, pages, operations, and admin unless split. */
  publicApp: Koa;
  /** The admin listener when ADMIN_PORT is set. */
  adminApp?: Koa;
  /** The mTLS listener (MTLS_PORT): the RFC 8705 aliases of the client-authenticated endpoints only. */
  mtlsApp?: Koa;
}

// RFC 8705 section 5: what the mTLS listener serves, the routes discovery advertises as aliases.
const MTLS_PATHS = new Set(Object.values(MTLS_ALIASED_ROUTES));

/** Anything else on the mTLS host is a JSON 404: browser pages and metadata live on the issuer. */
const onlyMtlsEndpoints: Koa.Middleware = async (ctx, next) => {
  if (MTLS_PATHS.has(ctx.path)) return next();
  ctx.status = 404;
  ctx.body = {
    error: 'not_found',
    error_description: 'the mTLS host serves the token, PAR, introspection, revocation and userinfo endpoints',
  };
};

/** What the HTML routes share: CSRF protection keyed by a secret all instances hold. */
export interface WebParts {
  csrf: Csrf;
  /** The demo TPP's credentials when DEMO_DATA seeded them (development only): mounts /demo. */
  demo?: DemoCredentials;
  /** IP blocks and rate limits, in front of every route and of the provider. */
  guards?: Koa.Middleware;
}

export function createApp(services: Services, holder: ProviderHolder, web: WebParts): AppParts {
  const { config, logger } = services;
  const trust = proxyTrust(config);
  // The mTLS listener terminates TLS itself: the handshake names the client certificate there, and a
  // forwarded certificate header (even from a trusted proxy address) is never believed.
  const base = (listener: { certificateHeader: boolean } = { certificateHeader: true }) => {
    const app = new Koa();
    // Forwarded headers survive only from TRUSTED_PROXIES: the first middleware removes them from
    // every other peer and sets ctx.ip itself, before request ids, logs, limits or audit read it.
    app.proxy = trust.enabled;
    app.maxIpsCount = config.TRUST_PROXY_HOPS;
    app.silent = true;
    app.use(trustedProxies(trust, config, listener));
    app.use(requestId);
    app.use(observeRequests(logger));
    app.use(securityHeaders({ hsts: true }));
    app.use(errorHandler(logger));
    // IP blocks, then rate limits (security/request-guards.ts), before anything reads a body.
    if (web.guards) app.use(web.guards);
    app.use(bodyLimit(config.BODY_LIMIT_BYTES));
    // Around every route and the provider: a method the path does not take is a 405 in the route's format.
    app.use(allowedMethods);
    return app;
  };

  const admin = createAdminRouter(services, holder);
  const ops = operationsRouter(services);

  const publicApp = base();
  // Before any routing: under /admin, no valid key means the same 401 whatever the path or method.
  if (config.ADMIN_PORT === undefined) publicApp.use(adminGate(services.adminKeys));
  publicApp.use(ops.routes());
  publicApp.use(resourceServerRouter(services, holder).routes());
  // Browser routes (login, consent, dashboard, demo) are registered here, before the provider.
  publicApp.use(interactionRouter(services, holder, web).routes());
  if (web.demo) publicApp.use(createDemoTppRouter({ config, logger, csrf: web.csrf, credentials: web.demo }).routes());
  publicApp.use(createPortalRouter(services, holder, web.csrf).routes());
  let adminApp: Koa | undefined;
  if (config.ADMIN_PORT !== undefined) {
    adminApp = base();
    adminApp.use(adminGate(services.adminKeys));
    adminApp.use(ops.routes());
    adminApp.use(metricsRouter({ adminKeys: services.adminKeys, requireKey: false }).routes());
    adminApp.use(admin.routes());
  } else {
    publicApp.use(metricsRouter({ adminKeys: services.adminKeys, requireKey: true }).routes());
    publicApp.use(admin.routes());
  }
  publicApp.use(mountProvider(holder));
  let mtlsApp: Koa | undefined;
  if (config.MTLS_PORT !== undefined) {
    mtlsApp = base({ certificateHeader: false });
    mtlsApp.use(onlyMtlsEndpoints);
    mtlsApp.use(mountProvider(holder));
  }
  return { publicApp, ...(adminApp ? { adminApp } : {}), ...(mtlsApp ? { mtlsApp } : {}) };
}
