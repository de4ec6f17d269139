// /account/login/factor: the dashboard's second step for a customer with a second factor: a
// security key or passkey, or the authenticator app (the first the customer has, in that order),
// a recovery code when the phone is lost (recovery codes restore access to the dashboard, never
// pay), or a factor still held after a recovery sign-in. The session starts only once this passes.
import Router from '@koa/router';
import type { Context } from 'koa';
import { LOGIN_FAILED } from '../accounts/authentication.ts';
import type { FactorContext, SecondFactor } from '../accounts/factors/types.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { auditContext } from '../interactions/interaction.ts';
import { CSRF_FIELD } from '../security/csrf.ts';
import {
  clearPending,
  LOGIN_CSRF_SCOPE,
  type LoginDependencies,
  NEXT_PATHS,
  nextPath,
  PENDING_COOKIE,
  pendingId,
  startSession,
} from './login.ts';
import { LOGIN_PATH, PORTAL_PATH, seeOther } from './session-cookie.ts';

const FACTOR_PATH = `${LOGIN_PATH}/factor`;

export function loginFactorRoutes(deps: LoginDependencies): Router {
  const { authenticator, factors, pendingLogins, audit, sessions, csrf } = deps;
  const router = new Router();

  /** The login waiting for its second factor, or undefined (gone, expired, never started). */
  const pendingOf = async (ctx: Context) => {
    const token = ctx.cookies.get(PENDING_COOKIE);
    const pending = token ? await pendingLogins.get(pendingId(token)) : undefined;
    return pending && token ? { token, ...pending } : undefined;
  };
  const query = (next: string | undefined, extra = '') => {
    const params = new URLSearchParams(extra);
    if (next) params.set('next', next);
    const text = params.toString();
    return text ? `?${text}` : '';
  };

  /** A dashboard sign-in's factor: no payment; a challenge is bound to the pending login. */
  const factorContext = (token: string): FactorContext => ({ purpose: 'dashboard', attempt: pendingId(token) });

  const renderFactor = async (
    ctx: Context,
    pending: { token: string; customerId: string },
    method: SecondFactor,
    methods: SecondFactor[],
    next: string | undefined,
    error?: string,
  ) => {
    const prompt = (await method.prompt?.(pending.customerId, factorContext(pending.token))) ?? {};
    ctx.type = 'html';
    ctx.body = render(`factor-${method.kind}`, {
      ...prompt,
      title: 'Confirm it’s you',
      action: `${FACTOR_PATH}${query(next)}`,
      method: method.kind,
      csrf: csrf.token(ctx, LOGIN_CSRF_SCOPE),
      refreshUrl: `${FACTOR_PATH}${query(next, `method=${method.kind}`)}`,
      chooseUrl: methods.length > 1 ? `${FACTOR_PATH}/choose${query(next)}` : undefined,
      restartUrl: LOGIN_PATH,
      error,
    });
  };

  router.get(FACTOR_PATH, async (ctx) => {
    const pending = await pendingOf(ctx);
    if (!pending) return seeOther(ctx, LOGIN_PATH);
    const methods = await factors.available(pending.customerId, 'dashboard');
    const method = methods.find((m) => m.kind === ctx.query.method) ?? methods[0];
    if (!method) return seeOther(ctx, LOGIN_PATH);
    await renderFactor(ctx, pending, method, methods, nextPath(ctx.query.next));
  });

  router.get(`${FACTOR_PATH}/choose`, async (ctx) => {
    const pending = await pendingOf(ctx);
    if (!pending) return seeOther(ctx, LOGIN_PATH);
    const next = nextPath(ctx.query.next);
    const methods = await factors.available(pending.customerId, 'dashboard');
    ctx.type = 'html';
    ctx.body = render('factor-choice', {
      title: 'Choose how to confirm',
      methods: methods.map((m) => ({ label: m.label, hint: m.hint, href: `${FACTOR_PATH}${query(next, `method=${m.kind}`)}` })),
    });
  });

  router.post(FACTOR_PATH, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, LOGIN_CSRF_SCOPE, field(form, CSRF_FIELD));
    const pending = await pendingOf(ctx);
    if (!pending) return seeOther(ctx, LOGIN_PATH);
    const next = nextPath(ctx.query.next);
    const methods = await factors.available(pending.customerId, 'dashboard');
    const method = methods.find((m) => m.kind === field(form, 'method')) ?? methods[0];
    if (!method) return seeOther(ctx, LOGIN_PATH);
    const context = auditContext(ctx);
    const verified = await authenticator.secondFactor(pending.customerId, method, form, {
      ...context,
      factor: factorContext(pending.token),
    });
    await audit.record({
      type: 'customer.login',
      outcome: verified ? 'success' : 'failure',
      actor: verified ? { type: 'customer', id: pending.customerId } : { type: 'anonymous' },
      // The password named the customer: a failure is theirs too (and erased with their data).
      customerId: pending.customerId,
      ...context,
      details: {
        channel: 'dashboard',
        step: 'second_factor',
        method: method.kind,
        ...(verified?.details ? { factor: verified.details } : {}),
      },
    });
    if (!verified) {
      ctx.status = 401;
      return renderFactor(ctx, pending, method, methods, next, LOGIN_FAILED);
    }
    await authenticator.completed(pending.customerId);
    await pendingLogins.delete(pendingId(pending.token));
    clearPending(ctx);
    // A factor still held after a recovery sign-in signs in, but its session stands on the recovery
    // code (`rec`): a factor enrolled there is held too, so a second one cannot skip the wait.
    const amr = [...pending.amr, ...verified.amr, ...(verified.held ? ['rec'] : [])];
    await startSession(ctx, sessions, pending.customerId, [...new Set(amr)].sort());
    if (verified.kind === 'recovery') return seeOther(ctx, `${PORTAL_PATH}/security?notice=recovery-used`);
    seeOther(ctx, next ? (NEXT_PATHS[next] as string) : PORTAL_PATH);
  });

  return router;
}
