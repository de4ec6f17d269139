// Everything customer authentication is made of, built once from the database and the config:
// second factors (WebAuthn, TOTP, recovery codes), the lockout with its alerts, the
// password-then-factor authenticator, and logins waiting for their second factor.
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import type { AuditLog } from '../security/audit.ts';
import type { FieldCipher } from '../security/encryption.ts';
import { type Authenticator, createAuthenticator } from './authentication.ts';
import type { CustomerStore } from './customers.ts';
import { createFactorStore, type FactorStore } from './factors/factor-store.ts';
import { createRecoveryCodes, type RecoveryCodes } from './factors/recovery-codes.ts';
import { createTotp, type Totp } from './factors/totp.ts';
import { type SecondFactors, secondFactors } from './factors/types.ts';
import { createWebAuthn, type WebAuthn } from './factors/webauthn.ts';
import { relyingPartyOf, usableRpId } from './factors/webauthn-relying-party.ts';
import { createWebAuthnStore, type WebAuthnStore } from './factors/webauthn-store.ts';
import { createLockout, type Lockout } from './lockout.ts';
import { createNotifier, type Notifier } from './notifications.ts';
import { createPendingLogins, type PendingLogins } from './pending-logins.ts';

export interface CustomerAuthentication {
  factors: FactorStore;
  totp: Totp;
  webauthn: WebAuthn;
  /** WebAuthn credentials and pending challenges (the janitor sweeps expired challenges). */
  webauthnStore: WebAuthnStore;
  recoveryCodes: RecoveryCodes;
  /** Every second factor, in order of preference. */
  secondFactors: SecondFactors;
  lockout: Lockout;
  notifier: Notifier;
  authenticator: Authenticator;
  pendingLogins: PendingLogins;
}

// The name authenticator apps show above the code, and browsers beside a passkey.
const TOTP_ISSUER = 'Portcullis';
const WEBAUTHN_RP_NAME = 'Portcullis';

export function createCustomerAuthentication(deps: {
  knex: Knex;
  cipher: FieldCipher;
  customers: CustomerStore;
  audit: AuditLog;
  logger: Logger;
  config: Config;
}): CustomerAuthentication {
  const { knex, cipher, customers, audit, logger, config } = deps;
  const factors = createFactorStore(knex, cipher);
  const totp = createTotp(factors, TOTP_ISSUER);
  const recoveryCodes = createRecoveryCodes(knex);
  const notifier = createNotifier({ logger, webhookUrl: config.NOTIFY_WEBHOOK_URL });
  const lockout = createLockout({ knex, audit, notifier });
  const rp = relyingPartyOf(config.ISSUER, WEBAUTHN_RP_NAME);
  if (!usableRpId(rp)) {
    logger.warn(
      { issuer: config.ISSUER },
      'ISSUER is an IP address: browsers refuse it as a WebAuthn relying party, so security keys and passkeys cannot be used',
    );
  }
  const webauthnStore = createWebAuthnStore(knex);
  const webauthn = createWebAuthn({ store: webauthnStore, audit, rp });
  return {
    factors,
    totp,
    webauthn,
    webauthnStore,
    recoveryCodes,
    // A phishing-resistant key first: the page a customer with one sees unless they choose another.
    secondFactors: secondFactors([webauthn, totp, recoveryCodes]),
    lockout,
    notifier,
    authenticator: createAuthenticator({ customers, lockout }),
    pendingLogins: createPendingLogins(knex),
  };
}
