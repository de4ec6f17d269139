// oidc-provider's interaction policy with PSD2 strong customer authentication in its login prompt.
// `acr_values` alone never makes oidc-provider authenticate again; these checks do:
// - `sca_required`: the request needs SCA (sca-requirement.ts) and the session cannot provide it:
//   its class is below `sca`, its authentication is older than 5 minutes (RTS Art. 4(3)(d)), or
//   it is a payment, which is authenticated for itself every time (RTS Art. 5);
// - `essential_acr` replaces the built-in checks of the same purpose with the ca < sca ladder, so
//   a TPP asking for `ca` accepts the SCA a payment needed instead of looping through the login.
// - `session_idle`: a session whose authentication is more than 5 minutes old is over for every
//   request, not only those that need SCA (RTS Art. 4(3)(d)): the customer signs in again;
// The details tell the login page why, and whether the customer may be stepped up (asked only
// for the missing factor) or must authenticate from the start.
import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_SCA, acrSatisfies, requestedAcr, SCA_FRESH_SECONDS } from './acr.ts';
import { type ScaReason, type ScaRules, scaReason, scaRequestOf } from './sca-requirement.ts';

const { Check } = interactionPolicy;

/** What the login page learns from the `sca_required` check. */
export type ScaPromptDetails = {
  sca?: {
    reason: ScaReason;
    /** The session's own authentication is recent enough to keep: ask only for the second factor. */
    stepUp: boolean;
  };
};

type SessionLike = { accountId?: string; acr?: string; loginTs?: number };

const fresh = (session: SessionLike, now = Date.now() / 1000) =>
  typeof session.loginTs === 'number' && now - session.loginTs <= SCA_FRESH_SECONDS;

function scaCheck(rules: ScaRules): InstanceType<typeof Check> {
  // The check and its details run on the same request: judge once.
  const judged = new WeakMap<object, Promise<ScaReason | undefined>>();
  const reasonFor = (ctx: KoaContextWithOIDC) => {
    let reason = judged.get(ctx);
    if (!reason) {
      const session = ctx.oidc.session as unknown as SessionLike;
      reason = scaReason(scaRequestOf(ctx.oidc.params as Record<string, unknown>), session.accountId, rules);
      judged.set(ctx, reason);
    }
    return reason;
  };
  return new Check(
    'sca_required',
    'strong customer authentication is required',
    'login_required',
    async (ctx) => {
      const session = ctx.oidc.session as unknown as SessionLike;
      // Without a session the `no_session` check asks for the login; the login page judges SCA.
      if (!session.accountId) return Check.NO_NEED_TO_PROMPT;
      const reason = await reasonFor(ctx);
      if (!reason) return Check.NO_NEED_TO_PROMPT;
      // SCA performed in this very request (its login result) covers it, payments included.
      if ((ctx.oidc.result as { login?: { acr?: string } } | undefined)?.login?.acr === ACR_SCA) {
        return Check.NO_NEED_TO_PROMPT;
      }
      if (reason === 'payment') return Check.REQUEST_PROMPT;
      return session.acr === ACR_SCA && fresh(session) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    },
    async (ctx): Promise<ScaPromptDetails> => {
      const reason = await reasonFor(ctx);
      return reason ? { sca: { reason, stepUp: fresh(ctx.oidc.session as unknown as SessionLike) } } : {};
    },
  );
}

/**
 * PSD2 RTS Art. 4(3)(d): "the maximum time without activity by the payer after being authenticated
 * ... shall not exceed 5 minutes". The bank's session is only ever used inside the 5 minutes after
 * the customer authenticated; after that, whatever the request asks, they sign in from the start
 * (a `prompt=none` request gets `login_required`).
 */
function idleSessionCheck(): InstanceType<typeof Check> {
  return new Check('session_idle', 'the session has been idle for more than 5 minutes', 'login_required', (ctx) => {
    const session = ctx.oidc.session as unknown as SessionLike;
    if (!session.accountId) return Check.NO_NEED_TO_PROMPT;
    // A login performed in this very request (its result) is the activity.
    if ((ctx.oidc.result as { login?: unknown } | undefined)?.login) return Check.NO_NEED_TO_PROMPT;
    return fresh(session) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
  });
}

function essentialAcrCheck(): InstanceType<typeof Check> {
  return new Check(
    'essential_acr',
    'requested ACR could not be obtained',
    'login_required',
    (ctx) => {
      const requested = requestedAcr({ claims: ctx.oidc.claims });
      if (!requested?.essential) return Check.NO_NEED_TO_PROMPT;
      return acrSatisfies(ctx.oidc.acr, requested.values) ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT;
    },
    (ctx) => ({ acr: (ctx.oidc.claims as { id_token?: { acr?: unknown } }).id_token?.acr }),
  );
}

export function scaInteractionPolicy(rules: ScaRules): interactionPolicy.DefaultPolicy {
  const policy = interactionPolicy.base();
  const login = policy.get('login');
  if (!login) throw new Error('oidc-provider base policy has no login prompt');
  login.checks.remove('essential_acrs');
  login.checks.remove('essential_acr');
  login.checks.add(idleSessionCheck());
  login.checks.add(essentialAcrCheck());
  login.checks.add(scaCheck(rules));
  return policy;
}
