// /account/security: the customer's second factors. Enrolling an authenticator app or a security
// key / passkey (webauthn-enrolment.ts) needs a fresh sign-in (at most 5 minutes old, PSD2 RTS
// Art. 4(3)(d)); removing a factor or replacing the recovery codes needs a fresh sign-in that used
// a second factor (SCA). Otherwise the customer signs in again and comes back. The TOTP seed is
// shown once as a QR code and as text; the first valid code confirms it; the first factor also
// brings ten recovery codes, shown once. A factor enrolled in a session whose second step was a
// recovery code (or a factor still held) is held for RECOVERY_FACTOR_HOLD_HOURS: it signs in here
// at once but confirms no payment or TPP access until then, so a recovery code never becomes the
// possession element of a payment one step removed (PSD2 RTS Art. 4, 7); the customer is alerted.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { CustomerAuthentication } from '../accounts/customer-authentication.ts';
import type { CustomerStore } from '../accounts/customers.ts';
import { groupSecret } from '../accounts/factors/totp.ts';
import { NotFound } from '../http/errors.ts';
import { field, readForm } from '../http/form.ts';
import { render } from '../http/views.ts';
import { auditContext } from '../interactions/interaction.ts';
import { formatHoldEnd } from '../interactions/sca.ts';
import { SCA_FRESH_SECONDS } from '../oidc/acr.ts';
import type { AuditLog } from '../security/audit.ts';
import { CSRF_FIELD, type Csrf } from '../security/csrf.ts';
import { formatDateTime } from './consent-view.ts';
import { DASHBOARD_CSRF_SCOPE } from './dashboard.ts';
import { LOGIN_PATH, PORTAL_PATH, requireSession, SECURITY_PATH, seeOther, sessionOf } from './session-cookie.ts';
import type { PortalSession, PortalSessionStore } from './session-store.ts';
import { webauthnEnrolmentRoutes } from './webauthn-enrolment.ts';

const TOTP_PATH = `${SECURITY_PATH}/totp`;
const WEBAUTHN_PATH = `${SECURITY_PATH}/webauthn`;

// Fixed messages picked by a code in the query: nothing from the URL reaches the page.
const NOTICES = new Map([
  ['totp-added', 'Your authenticator app is set up. You will be asked for a code when you sign in.'],
  ['webauthn-added', 'Your security key or passkey is set up. Use it when you sign in and to confirm payments.'],
  ['removed', 'The second factor was removed.'],
  [
    'held',
    'Your new second factor is set up and you can use it to sign in now. Because you signed in with a recovery code, it can confirm payments and app connections only from the time shown below.',
  ],
  [
    'recovery-used',
    'You signed in with a recovery code, which is now used up. Set up your authenticator app again if you lost it: it signs you in at once, and can confirm payments after a waiting period.',
  ],
]);

export interface SecurityDependencies {
  customers: CustomerStore;
  authentication: CustomerAuthentication;
  audit: AuditLog;
  sessions: PortalSessionStore;
  csrf: Csrf;
  /** RECOVERY_FACTOR_HOLD_HOURS */
  recoveryHoldHours: number;
}

/** Signed in within the last 5 minutes, and (when asked) with a second factor. */
export const freshSession = (session: PortalSession, withSecondFactor: boolean, now = Date.now()) =>
  now - session.createdAt.getTime() <= SCA_FRESH_SECONDS * 1000 && (!withSecondFactor || session.amr.some((m) => m !== 'pwd'));

/** What the enrolment routes of each kind share. */
export interface SecurityHelpers {
  record(
    ctx: Context,
    type: string,
    customerId: string,
    details: Record<string, unknown>,
    outcome?: 'success' | 'failure',
  ): Promise<void>;
  /** Sends the customer to sign in again when the session is not fresh enough for this change. */
  needsFreshLogin(ctx: Context, withSecondFactor: boolean, next: 'security' | 'totp' | 'webauthn'): boolean;
  /** How long a factor enrolled in this session is held: a session opened with a recovery code; else undefined. */
  holdSeconds(ctx: Context): number | undefined;
  /** A factor was just enrolled: audited; the first one brings recovery codes, else back to the list. */
  enrolled(ctx: Context, customerId: string, factor: { id: string; kind: 'totp' | 'webauthn' }): Promise<void>;
}

// How each kind shows on the list; a synced passkey is told apart from a key bound to one device.
const kindTag = (kind: string, backupEligible: boolean | undefined) =>
  kind === 'totp' ? 'Time-based code' : backupEligible ? 'Passkey' : 'Security key';
const SET_UP: Record<'totp' | 'webauthn', string> = {
  totp: 'Your authenticator app is set up.',
  webauthn: 'Your security key or passkey is set up.',
};
const HELD = (until: string) =>
  `Because you signed in with a recovery code, it can confirm payments and app connections only from ${until}; you can sign in with it now.`;

export function securityRoutes(deps: SecurityDependencies): Router {
  const { customers, authentication, audit, sessions, csrf, recoveryHoldHours } = deps;
  const { factors, totp, recoveryCodes, webauthn, notifier } = authentication;
  const router = new Router();
  const signedIn = requireSession(sessions);

  const renderCodes = (ctx: Context, codes: string[], first: string | undefined) => {
    ctx.type = 'html';
    ctx.body = render('account-recovery-codes', {
      title: 'Save your recovery codes',
      codes,
      first,
      securityPath: SECURITY_PATH,
    });
  };

  const helpers: SecurityHelpers = {
    record: (ctx, type, customerId, details, outcome = 'success') =>
      audit.record({
        type,
        outcome,
        actor: { type: 'customer', id: customerId },
        customerId,
        ...auditContext(ctx),
        details,
      }),
    needsFreshLogin(ctx, withSecondFactor, next) {
      if (freshSession(sessionOf(ctx), withSecondFactor)) return false;
      seeOther(ctx, `${LOGIN_PATH}?next=${next}`);
      return true;
    },
    holdSeconds: (ctx) => (sessionOf(ctx).amr.includes('rec') ? recoveryHoldHours * 3600 : undefined),
    async enrolled(ctx, customerId, factor) {
      const heldUntil = (await factors.get(customerId, factor.id))?.heldUntil ?? null;
      await record(ctx, 'customer.factor_enrolled', customerId, {
        factor_id: factor.id,
        kind: factor.kind,
        held_until: heldUntil?.toISOString() ?? null,
      });
      if (heldUntil) await alertHeld(customerId, factor.kind, heldUntil);
      if ((await recoveryCodes.remaining(customerId)) === 0) {
        const codes = await recoveryCodes.generate(customerId);
        await record(ctx, 'customer.recovery_codes_created', customerId, { count: codes.length });
        const setUp = heldUntil ? `${SET_UP[factor.kind]} ${HELD(formatHoldEnd(heldUntil))}` : SET_UP[factor.kind];
        return renderCodes(ctx, codes, setUp);
      }
      seeOther(ctx, `${SECURITY_PATH}?notice=${heldUntil ? 'held' : `${factor.kind}-added`}`);
    },
  };
  const { record, needsFreshLogin } = helpers;

  /** The customer hears at once that a factor was added after a recovery sign-in (it may not be them). */
  async function alertHeld(customerId: string, kind: 'totp' | 'webauthn', heldUntil: Date) {
    const customer = await customers.findById(customerId);
    void notifier.notify({
      type: 'customer.factor_held',
      customerId,
      username: customer?.username ?? '',
      factorKind: kind,
      heldUntil: heldUntil.toISOString(),
      occurredAt: new Date().toISOString(),
    });
  }

  const renderEnrolment = async (
    ctx: Context,
    enrolment: { factorId: string; secret: string; qrDataUri: string },
    error?: string,
  ) => {
    ctx.type = 'html';
    ctx.body = render('account-totp-enrol', {
      title: 'Set up your authenticator app',
      factorId: enrolment.factorId,
      secret: groupSecret(enrolment.secret),
      qr: enrolment.qrDataUri,
      csrf: csrf.token(ctx, DASHBOARD_CSRF_SCOPE),
      action: TOTP_PATH,
      securityPath: SECURITY_PATH,
      error,
    });
  };

  router.get(SECURITY_PATH, signedIn, async (ctx) => {
    const { customerId } = sessionOf(ctx);
    const customer = await customers.findById(customerId);
    const [enrolled, remaining, keys] = await Promise.all([
      factors.list(customerId),
      recoveryCodes.remaining(customerId),
      webauthn.credentials(customerId),
    ]);
    const synced = new Map(keys.map((k) => [k.factorId, k.backupEligible]));
    ctx.type = 'html';
    ctx.body = render('account-security', {
      title: 'Sign-in and security',
      username: customer?.username ?? '',
      notice: NOTICES.get(String(ctx.query.notice)),
      factors: enrolled.map((f) => ({
        id: f.id,
        label: f.label,
        kind: f.kind,
        tag: kindTag(f.kind, synced.get(f.id)),
        added: formatDateTime(f.createdAt),
        lastUsed: f.lastUsedAt ? formatDateTime(f.lastUsedAt) : 'never',
        heldUntil: f.heldUntil ? formatHoldEnd(f.heldUntil) : undefined,
      })),
      recoveryRemaining: remaining,
      recoveryHoldHours,
      csrf: csrf.token(ctx, DASHBOARD_CSRF_SCOPE),
      totpPath: TOTP_PATH,
      hasTotp: enrolled.some((f) => f.kind === 'totp'),
      webauthnPath: WEBAUTHN_PATH,
      portalPath: PORTAL_PATH,
    });
  });

  router.get(TOTP_PATH, signedIn, async (ctx) => {
    const { customerId } = sessionOf(ctx);
    const hasFactor = (await factors.list(customerId)).length > 0;
    if (needsFreshLogin(ctx, hasFactor, 'totp')) return;
    const customer = await customers.findById(customerId);
    await renderEnrolment(ctx, await totp.startEnrolment(customerId, customer?.username ?? customerId));
  });

  router.post(TOTP_PATH, signedIn, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const { customerId } = sessionOf(ctx);
    const factorId = field(form, 'factor_id');
    const hadFactor = (await factors.list(customerId)).length > 0;
    if (needsFreshLogin(ctx, hadFactor, 'totp')) return;
    if (!(await totp.confirmEnrolment(customerId, factorId, field(form, 'code'), helpers.holdSeconds(ctx)))) {
      const pending = await factors.get(customerId, factorId);
      if (!pending || pending.confirmedAt)
        throw new NotFound('This set-up has ended. Go back to your security settings and start again.');
      const secret = await factors.secret(pending.id);
      const customer = await customers.findById(customerId);
      const again = await totp.showEnrolment(pending.id, secret, customer?.username ?? customerId);
      ctx.status = 400;
      return renderEnrolment(
        ctx,
        again,
        'That code did not match. Check that your phone’s clock is right and enter the newest code.',
      );
    }
    await helpers.enrolled(ctx, customerId, { id: factorId, kind: 'totp' });
  });

  router.post(`${SECURITY_PATH}/factors/:id/remove`, signedIn, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const { customerId } = sessionOf(ctx);
    // Removing a factor needs SCA: a fresh sign-in that used a second factor.
    if (needsFreshLogin(ctx, true, 'security')) return;
    const factor = await factors.get(customerId, ctx.params.id as string);
    // The factor's WebAuthn credential (public key, counter) goes with it (ON DELETE CASCADE).
    if (!factor || !(await factors.remove(customerId, factor.id))) {
      throw new NotFound('You have no second factor with that reference. Go back to your security settings.');
    }
    // Recovery codes stand in for a possession factor; without any, they have nothing to recover.
    if ((await factors.list(customerId)).length === 0) await recoveryCodes.clear(customerId);
    await record(ctx, 'customer.factor_removed', customerId, { factor_id: factor.id, kind: factor.kind });
    seeOther(ctx, `${SECURITY_PATH}?notice=removed`);
  });

  router.post(`${SECURITY_PATH}/recovery-codes`, signedIn, async (ctx) => {
    const form = await readForm(ctx);
    csrf.verify(ctx, DASHBOARD_CSRF_SCOPE, field(form, CSRF_FIELD));
    const { customerId } = sessionOf(ctx);
    if (needsFreshLogin(ctx, true, 'security')) return;
    if ((await factors.list(customerId)).length === 0) throw new NotFound('Set up a second factor first.');
    const codes = await recoveryCodes.generate(customerId);
    await record(ctx, 'customer.recovery_codes_created', customerId, { count: codes.length });
    renderCodes(ctx, codes, undefined);
  });

  router.use(webauthnEnrolmentRoutes({ customers, webauthn, factors, csrf, sessions }, helpers).routes());
  return router;
}
