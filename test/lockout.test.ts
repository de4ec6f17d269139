// PSD2 RTS Art. 4(3)(b): five consecutive failed attempts on any factor block the customer, for 15
// minutes, then an hour, then until an operator unlocks (CLI or admin API). The block is an audit
// event and an alert (webhook); the pages never say which factor was wrong or whether the user
// exists; an attempt with the right factors during the block is refused too.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { LOGIN_FAILED } from '../src/accounts/authentication.ts';
import {
  CODE_LABEL,
  createCustomer,
  interceptCallback,
  launchBrowser,
  newPage,
  startAuthorization,
  submitForStatus,
  type TestCustomer,
} from './support/browser.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import type { TotpDevice } from './support/totp.ts';
import { type ResourceServer, registerResourceServer, registerTpp, type Tpp } from './support/tpp.ts';
import { type WebhookReceiver, webhookReceiver } from './support/webhook.ts';

const EVERYDAY = { iban: 'DE89370400440532013000', name: 'Everyday account', currency: 'EUR' };
const PAYMENT = {
  type: 'payment_initiation',
  instructedAmount: { amount: '9.99', currency: 'EUR' },
  creditorName: 'Corner Shop GmbH',
  creditorAccount: { iban: 'GB82WEST12345698765432' },
};
const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;

/** The text the customer sees in an element (rendered, so hidden markup never counts). */
// biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText is the rendered text, what a customer reads.
const rendered = (locator: Locator) => locator.innerText();

/** A 6-digit code that is none of the codes valid around now. */
async function wrongCode(device: TotpDevice): Promise<string> {
  const step = Math.floor(Date.now() / 30_000);
  const valid = new Set(await Promise.all([-1, 0, 1, 2].map((d) => device.codeAt(step + d))));
  let code = 123456;
  while (valid.has(String(code))) code++;
  return String(code);
}

describe('lockout after failed attempts', () => {
  let server: TestServer;
  let rs: ResourceServer;
  let tpp: Tpp;
  let browser: Browser;
  let hook: WebhookReceiver<Record<string, unknown>>;

  const services = () => server.server.services;
  const knex = () => services().db.knex;
  const customerRow = (id: string) => knex()('customers').where({ id }).first();

  before(async () => {
    // The bank's messaging system, receiving the customer alerts.
    hook = await webhookReceiver();
    server = await startTestServer({ env: { NOTIFY_WEBHOOK_URL: hook.url } });
    rs = await registerResourceServer(server);
    tpp = await registerTpp(server, { authorization_details_types: ['payment_initiation'], client_name: 'Demo Fintech' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
    await hook?.close();
  });

  async function loginPage(page: Page) {
    const started = await startAuthorization(server, tpp, {
      authorization_details: [PAYMENT],
      scope: 'openid payments',
      resource: rs.resource,
    });
    const { received } = await interceptCallback(page);
    await page.goto(started.url);
    // Wrapped: an async function returning the bare promise would wait for the callback.
    return { received };
  }

  /** Submits a form on the page; the status and the alert text the customer sees. */
  async function submit(page: Page, path: RegExp, button: string | RegExp) {
    const status = await submitForStatus(page, page.getByRole('button', { name: button }), path);
    const alert = status === 401 ? await rendered(page.getByRole('alert')) : undefined;
    return { status, alert };
  }

  async function password(page: Page, username: string, secret: string) {
    await page.getByLabel('Username').fill(username);
    await page.getByLabel('Password').fill(secret);
    return submit(page, /\/login$/, 'Sign in');
  }

  async function code(page: Page, value: string) {
    await page.getByLabel(CODE_LABEL).fill(value);
    return submit(page, /\/factor$/, /^Confirm/);
  }

  test('five wrong codes block the customer; the same message for a wrong password, a wrong code and an unknown user', async () => {
    const psu: TestCustomer = await createCustomer(server, [EVERYDAY], undefined, undefined, { totp: true });
    const device = psu.totp as TotpDevice;
    const since = new Date();
    const { context, page } = await newPage(browser);
    await loginPage(page);
    // Another customer's wrong password (this one's count stays for its codes), and an unknown user.
    const other = await createCustomer(server, [EVERYDAY]);
    const wrongPassword = await password(page, other.username, 'not-the-password');
    const unknown = await password(page, 'nobody-by-this-name', 'whatever-password');
    assert.equal((await password(page, psu.username, psu.password)).status, 303);
    const wrongCodes = [];
    for (let i = 0; i < 4; i++) wrongCodes.push(await code(page, await wrongCode(device)));
    assert.equal((await customerRow(psu.customer.id)).locked_until, null, 'four failures do not block');
    wrongCodes.push(await code(page, await wrongCode(device)));
    // A right password followed by a wrong code is a failure: only a complete authentication resets the count.
    for (const failure of [wrongPassword, unknown, ...wrongCodes])
      assert.deepEqual(failure, { status: 401, alert: LOGIN_FAILED });

    const row = await customerRow(psu.customer.id);
    const minutes = (new Date(row.locked_until).getTime() - Date.now()) / 60_000;
    assert.ok(minutes > 14 && minutes <= 15, `blocked for 15 minutes, got ${minutes}`);
    const [locked] = await services().audit.query({ type: 'customer.locked', since, limit: 10 });
    assert.equal(locked?.customer_id, psu.customer.id);
    assert.equal(locked?.details.block, 1);
    assert.equal(locked?.details.until_unlocked, false);
    const alert = await hook.arrival((body) => body.customerId === psu.customer.id);
    assert.deepEqual(
      { ...alert, occurredAt: undefined, lockedUntil: undefined },
      {
        type: 'customer.locked',
        customerId: psu.customer.id,
        username: psu.username,
        occurredAt: undefined,
        lockedUntil: undefined,
      },
    );

    // The sixth attempt, with the right code, is refused like the others.
    assert.deepEqual(await code(page, await device.next()), { status: 401, alert: LOGIN_FAILED });
    await context.close();
    // So is the right password, in a new sign-in.
    const second = await newPage(browser);
    await loginPage(second.page);
    assert.deepEqual(await password(second.page, psu.username, psu.password), { status: 401, alert: LOGIN_FAILED });
    assert.equal(await second.page.getByLabel('Password').inputValue(), '');
    assert.doesNotMatch(await rendered(second.page.locator('main')), /locked|blocked|wrong|unknown|code/i);

    // Once the block ends, the right factors sign in again.
    await knex()('customers')
      .where({ id: psu.customer.id })
      .update({ locked_until: knex().raw("now() - interval '1 second'") });
    assert.equal((await password(second.page, psu.username, psu.password)).status, 303);
    assert.equal((await code(second.page, await device.next())).status, 303);
    await second.page.getByRole('button', { name: 'Allow' }).waitFor();
    const reset = await customerRow(psu.customer.id);
    assert.equal(reset.failed_attempts, 0);
    assert.equal(reset.lockouts, 0, 'a complete authentication ends the escalation');
    await second.context.close();
  });

  test('the dashboard login counts too: five wrong passwords, then the right one is refused', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const attempt = async (username: string, secret: string) => {
      const page = await fetch(`${server.issuer}/account/login`);
      const cookie = page.headers
        .getSetCookie()
        .map((c) => c.split(';')[0])
        .join('; ');
      const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())?.[1] ?? '';
      const response = await fetch(`${server.issuer}/account/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams({ csrf, username, password: secret }),
      });
      const html = await response.text();
      return { status: response.status, message: /role="alert"[^>]*>([^<]*)</.exec(html)?.[1] };
    };
    const unknown = await attempt('nobody-by-this-name', 'whatever-password');
    for (let i = 0; i < 5; i++) assert.deepEqual(await attempt(psu.username, `wrong-${i}`), unknown);
    assert.deepEqual(unknown, { status: 401, message: LOGIN_FAILED });
    assert.deepEqual(await attempt(psu.username, psu.password), unknown, 'blocked: the right password is refused the same way');
    assert.ok((await customerRow(psu.customer.id)).locked_until);
  });

  test('blocks grow (15 min, 1 h, then until unlocked); the admin API unlocks', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { lockout } = services().authentication;
    const blockFor = async () => {
      for (let i = 0; i < 5; i++) await lockout.recordFailure(psu.customer.id, {});
      const row = await customerRow(psu.customer.id);
      const minutes = row.locked_until ? Math.round((new Date(row.locked_until).getTime() - Date.now()) / 60_000) : null;
      await knex()('customers')
        .where({ id: psu.customer.id })
        .update({ locked_until: knex().raw("now() - interval '1 second'") });
      return { minutes, status: row.status };
    };
    assert.deepEqual(await blockFor(), { minutes: 15, status: 'active' });
    assert.deepEqual(await blockFor(), { minutes: 60, status: 'active' });
    assert.deepEqual(await blockFor(), { minutes: null, status: 'locked' });
    assert.equal(await lockout.isBlocked(psu.customer.id), true);
    const events = await services().audit.query({ type: 'customer.locked', customerId: psu.customer.id, limit: 10 });
    assert.deepEqual(
      events.map((e) => [e.details.block, e.details.until_unlocked]),
      [
        [1, false],
        [2, false],
        [3, true],
      ],
    );

    const response = await server.admin('POST', `/admin/users/${psu.customer.id}/unlock`);
    assert.equal(response.status, 200);
    assert.equal(((await response.json()) as { status: string }).status, 'active');
    assert.equal(await lockout.isBlocked(psu.customer.id), false);
    const [unlocked] = await services().audit.query({ type: 'customer.unlocked', customerId: undefined, limit: 100 });
    assert.ok(unlocked);
    assert.equal((await server.admin('POST', '/admin/users/no-such-user/unlock')).status, 404);
  });

  test('`portcullis users unlock --username` lifts a block until unlocked', async () => {
    const psu = await createCustomer(server, [EVERYDAY]);
    const { lockout } = services().authentication;
    for (let block = 0; block < 3; block++) {
      for (let i = 0; i < 5; i++) await lockout.recordFailure(psu.customer.id, {});
      await knex()('customers').where({ id: psu.customer.id }).update({ locked_until: null });
    }
    assert.equal((await customerRow(psu.customer.id)).status, 'locked');
    // The CLI opens the database itself: PGlite allows one process at a time.
    await server.stop();
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [MAIN, 'users', 'unlock', '--username', psu.username.toUpperCase()], {
        env: {
          PATH: process.env.PATH ?? '',
          NODE_ENV: 'test',
          ENCRYPTION_KEY: server.config.ENCRYPTION_KEY as string,
          DATA_DIR: server.database.dataDir,
          ...(server.database.url ? { DATABASE_URL: server.database.url } : {}),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => {
        stdout += c;
      });
      child.stderr.on('data', (c) => {
        stderr += c;
      });
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    await server.restart();
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`Unlocked user "${psu.username}" \\(status: active\\)`));
    assert.equal((await customerRow(psu.customer.id)).status, 'active');
    assert.equal(await services().authentication.lockout.isBlocked(psu.customer.id), false);
    const [event] = await services().audit.query({ type: 'customer.unlocked', customerId: psu.customer.id, limit: 5 });
    assert.match(String(event?.actor_id), /^cli:/);
  });
});
