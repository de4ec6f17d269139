// Customer authentication for the TPP login and the dashboard alike: the password, then a second
// factor, each failure counted towards the lockout (PSD2 RTS Art. 4(3)(b)). Every failure looks
// the same to the caller (undefined), whether the username is unknown, the password or the code
// is wrong, or the customer is blocked: the pages say one thing for all (RTS Art. 4(2)), and an
// unknown username runs the same statements and a dummy argon2 verification.
import type { Customer, CustomerStore } from './customers.ts';
import type { FactorContext, FormFields, SecondFactor, VerifiedFactor } from './factors/types.ts';
import type { LockContext, Lockout } from './lockout.ts';

/** The one failure message of every login page (PSD2 RTS Art. 4(2): never which factor was wrong). */
export const LOGIN_FAILED = 'We could not sign you in with those details.';

export interface Authenticator {
  /** The first factor; undefined for any failure. */
  password(username: string, password: string, context: LockContext): Promise<Customer | undefined>;
  /** A second factor of a customer whose password passed; undefined for any failure. */
  secondFactor(
    customerId: string,
    factor: SecondFactor,
    form: FormFields,
    context: LockContext & { factor: FactorContext },
  ): Promise<VerifiedFactor | undefined>;
  /** Every factor the login needed has passed: the consecutive-failure count starts again. */
  completed(customerId: string): Promise<void>;
}

// No customer id has this shape: the statements for an unknown username change no row.
const NOBODY = '';

export function createAuthenticator(deps: { customers: CustomerStore; lockout: Lockout }): Authenticator {
  const { customers, lockout } = deps;
  return {
    async password(username, password, context) {
      const checked = username && password ? await customers.checkPassword(username, password) : undefined;
      const id = checked?.customer.id ?? NOBODY;
      if (await lockout.isBlocked(id)) return undefined;
      if (!checked?.passwordOk) {
        await lockout.recordFailure(id, context);
        return undefined;
      }
      return checked.customer.status === 'active' ? checked.customer : undefined;
    },
    async secondFactor(customerId, factor, form, context) {
      if (await lockout.isBlocked(customerId)) return undefined;
      const { requestId, personal, clientId } = context;
      const verified = await factor.verify(customerId, form, { ...context.factor, request: { requestId, personal, clientId } });
      if (!verified) await lockout.recordFailure(customerId, context);
      return verified;
    },
    completed: (customerId) => lockout.recordSuccess(customerId),
  };
}
