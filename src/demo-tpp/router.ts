// /demo: the demo third party's own pages (development only, mounted when DEMO_DATA is on).
//   GET  /demo           what it is, and two buttons
//   POST /demo/start     pushes the authorization request, then 303 to the bank's login
//   GET  /demo/callback  redeems the code, introspects the token, shows what came back
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Logger } from 'pino';
import { groupSecret } from '../accounts/factors/totp.ts';
import type { Config } from '../config.ts';
import { type DemoCredentials, demoTotpCode } from '../demo.ts';
import { HttpError, InvalidRequest } from '../http/errors.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { describeFailure } from './failure.ts';
import { FLOWS, flowRequest, isFlow } from './flows.ts';
import { createPendingFlows } from './pending.ts';
import { resultView } from './result-view.ts';
import { createDemoTpp } from './tpp.ts';

export const DEMO_COOKIE = 'pc_demo';
const CSRF_SCOPE = 'demo';

export interface DemoTppDependencies {
  config: Config;
  logger: Logger;
  csrf: Csrf;
  credentials: DemoCredentials;
}

class FlowExpired extends HttpError {
  constructor() {
    super(400, 'invalid_request', 'This demo sign-in has expired or was already completed. Start again from the demo page.');
  }
}

export function createDemoTppRouter({ config, logger, csrf, credentials }: DemoTppDependencies): Router {
  const tpp = createDemoTpp(config.ISSUER, credentials);
  // A started flow waits as long as the bank's login and consent interaction may last.
  const pending = createPendingFlows(config.INTERACTION_TTL);
  const router = new Router();

  const page = (ctx: Context, template: string, data: Record<string, unknown>, status = 200) => {
    ctx.status = status;
    ctx.type = 'html';
    ctx.body = render(template, data);
  };
  // Every failure becomes a page of the demo's own, never the stack or a bare 500.
  const guarded =
    (handler: (ctx: Context) => Promise<void>) =>
    async (ctx: Context): Promise<void> => {
      try {
        await handler(ctx);
      } catch (err) {
        const failure = describeFailure(err, config.ISSUER);
        if (failure.logged) logger.error({ err, requestId: ctx.state.requestId }, 'demo TPP failed');
        else logger.info({ err: String(err), requestId: ctx.state.requestId }, 'demo TPP step refused');
        page(ctx, 'demo-error', { ...failure, requestId: ctx.state.requestId }, failure.status);
      }
    };

  router.get('/demo', async (ctx) => {
    const secret = credentials.customer_totp_secret;
    page(ctx, 'demo', {
      csrfField: CSRF_FIELD,
      csrf: csrf.token(ctx, CSRF_SCOPE),
      flows: FLOWS.map((flow) => ({ flow, label: flowRequest(flow).label })),
      issuer: config.ISSUER,
      clientId: credentials.client_id,
      username: credentials.customer_username,
      // Development only: the generated password is printed at start-up too. Once the customer
      // existed before, the file holds a placeholder instead and the page points to the file.
      password: credentials.customer_password.startsWith('(') ? undefined : credentials.customer_password,
      // Development only: the demo customer's second factor, so nobody needs an app to try SCA.
      totp: secret ? { key: groupSecret(secret), code: await demoTotpCode(secret) } : undefined,
    });
  });

  router.post(
    '/demo/start',
    guarded(async (ctx) => {
      const form = await readForm(ctx);
      csrf.verify(ctx, CSRF_SCOPE, field(form, CSRF_FIELD));
      const flow = field(form, 'flow');
      if (!isFlow(flow)) throw new InvalidRequest(`unknown demo flow; choose one of: ${FLOWS.join(', ')}`);
      const started = await tpp.start(flow);
      ctx.cookies.set(DEMO_COOKIE, pending.put(started.pending), {
        httpOnly: true,
        // Lax: the cookie must come back on the bank's top-level redirect to /demo/callback.
        sameSite: 'lax',
        secure: ctx.secure,
        path: '/demo',
        overwrite: true,
      });
      ctx.redirect(started.authorizationUrl.href);
      ctx.status = 303;
    }),
  );

  router.get(
    '/demo/callback',
    guarded(async (ctx) => {
      const flow = pending.take(ctx.cookies.get(DEMO_COOKIE));
      ctx.cookies.set(DEMO_COOKIE, null, { path: '/demo', overwrite: true });
      if (!flow) throw new FlowExpired();
      // The URL the bank redirected to, as registered (ISSUER, not whatever Host reached us).
      const callbackUrl = new URL(`${config.ISSUER}/demo/callback${ctx.search}`);
      const result = await tpp.finish(callbackUrl, flow);
      const label = flowRequest(flow.flow).label;
      if (result.outcome === 'refused') {
        page(ctx, 'demo-declined', { label, ...result });
        return;
      }
      page(ctx, 'demo-result', { label, ...(await resultView(result)) });
    }),
  );

  return router;
}
