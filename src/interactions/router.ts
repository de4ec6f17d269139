// The browser side of an authorization request: oidc-provider sends the customer to
// /interaction/:uid, which shows the step the request is at (login, with its second factor when
// SCA is needed, then consent). Every POST checks its CSRF token before anything else.
import Router from '@koa/router';
import type { WebParts } from '../app.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import type { Csrf } from '../security/csrf.ts';
import type { Services } from '../services.ts';
import { showAccounts, submitAccounts } from './accounts.ts';
import { showConsent, submitConsent } from './consent.ts';
import { loadInteraction, WrongStep } from './interaction.ts';
import { showLogin, submitLogin } from './login.ts';
import { abortLogin, chooseFactor, getFactor, submitFactor } from './second-factor.ts';

export interface InteractionDeps {
  services: Services;
  holder: ProviderHolder;
  csrf: Csrf;
}

export function interactionRouter(services: Services, holder: ProviderHolder, web: WebParts): Router {
  const deps: InteractionDeps = { services, holder, csrf: web.csrf };
  const router = new Router({ prefix: '/interaction/:uid' });
  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(ctx, holder.current);
    if (interaction.prompt.name === 'login') return showLogin(ctx, deps, interaction);
    if (interaction.prompt.name === 'consent' && interaction.session?.accountId) return showConsent(ctx, deps, interaction);
    throw new WrongStep();
  });
  router.post('/login', (ctx) => submitLogin(ctx, deps));
  router.get('/factor', (ctx) => getFactor(ctx, deps));
  router.get('/factor/choose', (ctx) => chooseFactor(ctx, deps));
  router.post('/factor', (ctx) => submitFactor(ctx, deps));
  router.post('/abort', (ctx) => abortLogin(ctx, deps));
  router.post('/consent', (ctx) => submitConsent(ctx, deps));
  router.get('/accounts', (ctx) => showAccounts(ctx, deps));
  router.post('/accounts', (ctx) => submitAccounts(ctx, deps));
  return router;
}
