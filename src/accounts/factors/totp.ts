// TOTP (RFC 6238) through otplib, with the parameters every authenticator app understands:
// SHA-1, 6 digits, 30-second steps. A code is accepted one step either side of now (clock drift)
// and once only: its time step is claimed atomically, so the same code, or an older one, never
// passes again (no replay inside its window).
import { generateSecret, generateURI, verify } from 'otplib';
import QRCode from 'qrcode';
import type { FactorStore } from './factor-store.ts';
import type { FactorPurpose, FormFields, SecondFactor } from './types.ts';

export const TOTP_PERIOD = 30;
export const TOTP_DIGITS = 6;
// One step back and one ahead: a phone a few seconds off, or a code typed as it rolls over.
const TOLERANCE_SECONDS = TOTP_PERIOD;
// 160-bit seeds, as RFC 4226 recommends.
const SECRET_BYTES = 20;
const CODE = /^\d{6}$/;
const DEFAULT_LABEL = 'Authenticator app';

export interface TotpEnrolment {
  factorId: string;
  /** Base32 seed, for typing into an app by hand. */
  secret: string;
  /** The otpauth:// URI the QR code carries. */
  uri: string;
  /** The QR code as a PNG data: URI (rendered here: no external service sees the seed). */
  qrDataUri: string;
}

export interface Totp extends SecondFactor {
  /** A new seed awaiting its first valid code (replaces an earlier unconfirmed one). */
  startEnrolment(customerId: string, accountName: string): Promise<TotpEnrolment>;
  /** The same pending seed shown again (after a mistyped first code). */
  showEnrolment(factorId: string, secret: string, accountName: string): Promise<TotpEnrolment>;
  /**
   * Confirms the pending factor with a first valid code, held for `holdSeconds` when given (set up
   * after a recovery sign-in); false when the code (or factor) is wrong.
   */
  confirmEnrolment(customerId: string, factorId: string, code: string, holdSeconds?: number): Promise<boolean>;
}

/** The digits of a typed code ("123 456" -> "123456"), or undefined when it cannot be one. */
export function normaliseCode(value: unknown): string | undefined {
  const code = typeof value === 'string' ? value.replace(/[\s-]/g, '') : '';
  return CODE.test(code) ? code : undefined;
}

/** "JBSW Y3DP EHPK 3PXP": the seed in groups of four, easier to copy by hand. */
export const groupSecret = (secret: string) => secret.replace(/(.{4})(?=.)/g, '$1 ');

export function createTotp(factors: FactorStore, issuer: string): Totp {
  /** The time step the code belongs to, when it is valid for this seed and newer than `after`. */
  const check = async (secret: string, code: string, after: number | null): Promise<number | undefined> => {
    const result = await verify({
      secret,
      token: code,
      period: TOTP_PERIOD,
      digits: TOTP_DIGITS,
      epochTolerance: TOLERANCE_SECONDS,
      ...(after === null ? {} : { afterTimeStep: after }),
    });
    // strategy 'totp' (the default): a valid result names its time step.
    return result.valid && 'timeStep' in result ? result.timeStep : undefined;
  };

  const showEnrolment = async (factorId: string, secret: string, accountName: string): Promise<TotpEnrolment> => {
    const uri = generateURI({ issuer, label: accountName, secret, period: TOTP_PERIOD, digits: TOTP_DIGITS });
    const qrDataUri = await QRCode.toDataURL(uri, { errorCorrectionLevel: 'M', margin: 2, width: 232 });
    return { factorId, secret, uri, qrDataUri };
  };

  /** The devices that may answer for this purpose: for a TPP, none still held (PSD2 RTS Art. 4, 7). */
  const usable = async (customerId: string, purpose: FactorPurpose) =>
    (await factors.list(customerId, 'totp')).filter((f) => purpose === 'dashboard' || !f.heldUntil);

  return {
    kind: 'totp',
    label: DEFAULT_LABEL,
    hint: 'Enter the 6-digit code your app shows.',
    amr: ['otp'],
    possession: true,
    async isEnrolled(customerId, purpose = 'authorization') {
      return (await usable(customerId, purpose)).length > 0;
    },
    async verify(customerId, form: FormFields, context) {
      const code = normaliseCode(form.code);
      if (!code) return undefined;
      // A held device's code is not even tried for a TPP: its time step stays unclaimed.
      for (const factor of await usable(customerId, context.purpose)) {
        const step = await check(await factors.secret(factor.id), code, factor.lastUsedStep);
        if (step !== undefined && (await factors.claimStep(factor.id, step))) {
          return { kind: 'totp', factorId: factor.id, amr: ['otp'], ...(factor.heldUntil ? { held: true } : {}) };
        }
      }
      return undefined;
    },
    async startEnrolment(customerId, accountName) {
      const secret = generateSecret({ length: SECRET_BYTES });
      const factor = await factors.createPending(customerId, 'totp', DEFAULT_LABEL, secret);
      return showEnrolment(factor.id, secret, accountName);
    },
    showEnrolment,
    async confirmEnrolment(customerId, factorId, typed, holdSeconds) {
      const code = normaliseCode(typed);
      const factor = await factors.get(customerId, factorId);
      if (!code || !factor || factor.kind !== 'totp' || factor.confirmedAt) return false;
      const step = await check(await factors.secret(factor.id), code, null);
      if (step === undefined) return false;
      // The enrolment code is used up like any other: it cannot sign in a second later.
      return (await factors.confirm(customerId, factorId, holdSeconds)) && (await factors.claimStep(factorId, step));
    },
  };
}
