// A customer's authenticator app in tests: computes codes with otplib from the seed, as a phone
// does. The server accepts each time step once (no replay), one step either side of now; a test
// that signs in often takes the next unused step and, like a person, waits for the next code
// once those are spent.
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'otplib';
import { TOTP_PERIOD } from '../../src/accounts/factors/totp.ts';
import type { TestServer } from './server.ts';

const stepOf = (ms: number) => Math.floor(ms / 1000 / TOTP_PERIOD);

export class TotpDevice {
  readonly secret: string;
  private lastStep = -1;

  constructor(secret: string) {
    this.secret = secret;
  }

  /** The code of a time step (for tests that replay or forge codes). */
  codeAt(step: number): Promise<string> {
    return generate({ secret: this.secret, epoch: step * TOTP_PERIOD });
  }

  /** The code of the current step, whether or not it was used (replay tests). */
  current(): Promise<string> {
    return this.codeAt(stepOf(Date.now()));
  }

  /**
   * A code the server has not seen yet: the next unused step within its window, waiting if need
   * be. The previous step is taken only early in the current one, so that it stays in the
   * server's window for at least 20 s however slowly the code travels to it.
   */
  async next(): Promise<string> {
    let now = stepOf(Date.now());
    const early = Date.now() - now * TOTP_PERIOD * 1000 < (TOTP_PERIOD * 1000) / 3;
    const step = Math.max(this.lastStep + 1, early ? now - 1 : now);
    while (step > now + 1) {
      await sleep((now + 1) * TOTP_PERIOD * 1000 - Date.now() + 50);
      now = stepOf(Date.now());
    }
    this.lastStep = step;
    return this.codeAt(step);
  }

  /** A code was used outside this device's knowledge (e.g. typed by a test): skip past it. */
  used(step = stepOf(Date.now())): void {
    this.lastStep = Math.max(this.lastStep, step);
  }
}

/** Gives the customer a confirmed authenticator app (as if enrolled on the dashboard). */
export async function enrolTotp(server: TestServer, customerId: string): Promise<TotpDevice> {
  const { factors } = server.server.services.authentication;
  const { generateSecret } = await import('otplib');
  const secret = generateSecret({ length: 20 });
  const factor = await factors.createPending(customerId, 'totp', 'Test phone', secret);
  await factors.confirm(customerId, factor.id);
  return new TotpDevice(secret);
}
