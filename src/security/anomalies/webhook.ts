// Anomalies pushed to an operator-configured URL (ANOMALY_WEBHOOK_URL: a SIEM, a chat hook) as
// JSON. Fire and forget: a slow or failing receiver delays nothing and loses only its copy (the
// audit log has every anomaly). No redirects are followed and the request gives up after 3 s.
import type { Logger } from 'pino';

const TIMEOUT_MS = 3000;

export type Webhook = (payload: Record<string, unknown>) => void;

export function createWebhook(url: string | undefined, logger: Logger): Webhook | undefined {
  if (!url) return undefined;
  return (payload) => {
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'portcullis-anomaly-webhook' },
      body: JSON.stringify(payload),
      redirect: 'error',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
      .then(async (response) => {
        await response.body?.cancel();
        if (!response.ok) logger.warn({ status: response.status }, 'anomaly webhook refused the event');
      })
      .catch((err) => logger.warn({ err: { message: (err as Error).message } }, 'anomaly webhook unreachable'));
  };
}
