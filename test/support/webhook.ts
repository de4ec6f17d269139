// A webhook receiver on loopback, standing in for the bank's messaging or SIEM system: collects
// the JSON bodies POSTed to it (customer alerts, anomaly alerts) and answers 204.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './server.ts';

export interface WebhookReceiver<T> {
  /** Where to point NOTIFY_WEBHOOK_URL or ANOMALY_WEBHOOK_URL. */
  url: string;
  /** Every body received so far, oldest first. */
  received: T[];
  /** The first body received that matches, waiting up to `ms` for it. */
  arrival(matches?: (body: T) => boolean, ms?: number): Promise<T>;
  close(): Promise<void>;
}

export async function webhookReceiver<T = Record<string, unknown>>(): Promise<WebhookReceiver<T>> {
  const received: T[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push(JSON.parse(body) as T);
      res.writeHead(204).end();
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    async arrival(matches = () => true, ms = 5000) {
      const end = Date.now() + ms;
      for (;;) {
        const found = received.find(matches);
        if (found) return found;
        if (Date.now() > end) throw new Error(`no matching webhook call within ${ms} ms`);
        await sleep(25);
      }
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
