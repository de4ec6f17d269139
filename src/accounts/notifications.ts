// Alerts to the customer about their own security (PSD2 RTS Art. 4(3)(b): the payer is alerted
// when access is blocked; and a second factor added after a recovery sign-in). Every alert is
// logged; with NOTIFY_WEBHOOK_URL it is also POSTed as JSON to the bank's messaging system (https
// in production, a short timeout, no redirects). A failed delivery is logged, never thrown: the
// login answer must not depend on it.
import type { Logger } from 'pino';

export type CustomerAlert = LockedAlert | FactorHeldAlert;

interface LockedAlert {
  type: 'customer.locked';
  customerId: string;
  username: string;
  /** When the block ends; null when only an operator can lift it. */
  lockedUntil: string | null;
  occurredAt: string;
}

/**
 * A second factor was added in a session opened with a recovery code: the customer hears of it at
 * once (it may be someone holding their password and a code) and learns when it starts to confirm
 * payments (PSD2 RTS Art. 4, 7).
 */
interface FactorHeldAlert {
  type: 'customer.factor_held';
  customerId: string;
  username: string;
  factorKind: 'totp' | 'webauthn';
  heldUntil: string;
  occurredAt: string;
}

export interface Notifier {
  /** Sends in the background; the promise (for tests and shutdown) never rejects. */
  notify(alert: CustomerAlert): Promise<void>;
}

const TIMEOUT_MS = 3000;

export function createNotifier(options: { logger: Logger; webhookUrl?: string | undefined }): Notifier {
  const { logger, webhookUrl } = options;
  return {
    async notify(alert) {
      logger.warn({ event: 'customer.alert', alert_type: alert.type, customer_id: alert.customerId }, 'customer alerted');
      if (!webhookUrl) return;
      try {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alert),
          redirect: 'error',
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
        if (!response.ok) logger.error({ status: response.status, alert_type: alert.type }, 'notification webhook refused');
        await response.body?.cancel();
      } catch (err) {
        logger.error({ err: String(err), alert_type: alert.type }, 'notification webhook failed');
      }
    },
  };
}
