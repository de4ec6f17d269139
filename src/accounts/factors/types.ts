// What every second factor is to the login pages: a kind, how it shows on the choice page, which
// RFC 8176 method it adds to the password's `pwd`, whether it is a possession element that may
// complete SCA for a TPP (PSD2 RTS Art. 4 and 7), what its page needs, and how it is checked.
// WebAuthn, TOTP and recovery codes implement it.
import type { AuditEvent } from '../../security/audit.ts';

export type SecondFactorKind = 'totp' | 'webauthn' | 'recovery';

/** Form fields as readForm returns them. */
export type FormFields = Record<string, string | string[]>;

/**
 * A TPP's authorization request (SCA: possession factors only, none still held after a recovery
 * sign-in), or the bank's own dashboard (any enrolled factor, recovery codes too).
 */
export type FactorPurpose = 'authorization' | 'dashboard';

/** What the customer is authenticating for: the binding a factor may include in its challenge. */
export interface FactorContext {
  /** A TPP's authorization request, or the bank's own dashboard. */
  purpose: FactorPurpose;
  /** The canonical payment details shown beside the factor (RTS Art. 5), for a payment. */
  transaction?: string | undefined;
  /**
   * What a challenge of this attempt is bound to, one live challenge per attempt:
   * `interaction:<uid>` for a TPP's request, `portal:<sha256>` for a dashboard sign-in.
   */
  attempt: string;
  /** The request behind the answer, for the audit events a factor records itself. */
  request?: Pick<AuditEvent, 'requestId' | 'personal' | 'clientId'>;
}

export interface VerifiedFactor {
  kind: SecondFactorKind;
  /** The enrolled factor (a TOTP device, a WebAuthn credential); undefined for recovery codes. */
  factorId?: string;
  amr: string[];
  /** The server nonce the factor's signed challenge was derived from (WebAuthn); the payment's code reuses it. */
  nonce?: string;
  /** What the audit event of the authentication adds (never a secret), e.g. user verification. */
  details?: Record<string, unknown>;
  /**
   * The factor is still held after a recovery sign-in (only a dashboard sign-in gets this far): the
   * session it opens stands on the recovery code, and a factor enrolled in it is held too.
   */
  held?: boolean;
}

export interface SecondFactor {
  readonly kind: SecondFactorKind;
  /** Its name on the choice page, e.g. "Authenticator app". */
  readonly label: string;
  /** One line under the name on the choice page. */
  readonly hint: string;
  /** RFC 8176 methods it adds (`otp`, `hwk`/`swk`); recovery codes use the internal `rec`. */
  readonly amr: readonly string[];
  /**
   * A possession element (RTS Art. 7): it completes SCA for a TPP's request or a payment. Recovery
   * codes restore access to the dashboard but are never the possession factor of a payment.
   */
  readonly possession: boolean;
  /**
   * Whether the customer has one that may answer for this purpose (default `authorization`, the
   * stricter: a factor held after a recovery sign-in does not count for a TPP until its hold ends).
   */
  isEnrolled(customerId: string, purpose?: FactorPurpose): Promise<boolean>;
  /**
   * What the factor's page shows beyond the form, made afresh at every showing (WebAuthn: request
   * options with a new challenge for this attempt and payment); absent for factors that need none.
   */
  prompt?(customerId: string, context: FactorContext): Promise<Record<string, unknown>>;
  /** The factor's answer in the form; undefined when it is wrong, used up or replayed. */
  verify(customerId: string, form: FormFields, context: FactorContext): Promise<VerifiedFactor | undefined>;
}

export interface SecondFactors {
  get(kind: string): SecondFactor | undefined;
  /** The methods the customer can use for this purpose, in order of preference (first = the default). */
  available(customerId: string, purpose: FactorPurpose): Promise<SecondFactor[]>;
}

export function secondFactors(all: SecondFactor[]): SecondFactors {
  return {
    get: (kind) => all.find((f) => f.kind === kind),
    async available(customerId, purpose) {
      // PSD2 RTS Art. 4, 7: a TPP's request takes possession elements only.
      const usable = all.filter((f) => f.possession || purpose === 'dashboard');
      const enrolled = await Promise.all(usable.map((f) => f.isEnrolled(customerId, purpose)));
      return usable.filter((_, i) => enrolled[i]);
    },
  };
}
