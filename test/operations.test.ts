// Operations basics: health and readiness, graceful shutdown, the development start-up that
// README's first command performs (embedded database, demo data printed).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { freePort, startTestServer, type TestServer } from './support/server.ts';

describe('health and readiness', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  test('/healthz and /readyz answer, with a request id', async () => {
    const health = await fetch(`${server.issuer}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    assert.match(health.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
    const ready = await fetch(`${server.issuer}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { status: string }).status, 'ready');
  });

  test('a safe incoming X-Request-Id is kept, an unsafe one replaced', async () => {
    const kept = await fetch(`${server.issuer}/healthz`, { headers: { 'x-request-id': 'trace-123' } });
    assert.equal(kept.headers.get('x-request-id'), 'trace-123');
    const replaced = await fetch(`${server.issuer}/healthz`, { headers: { 'x-request-id': 'bad id <script>' } });
    assert.notEqual(replaced.headers.get('x-request-id'), 'bad id <script>');
  });

  test('/readyz is 503 when the database does not answer', async () => {
    await server.server.services.db.knex.destroy();
    const ready = await fetch(`${server.issuer}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { status: 'unavailable', database: 'unreachable' });
    await server.restart();
  });
});

function waitForOutput(child: ChildProcess, pattern: RegExp, timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${seen}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        resolve(seen);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', () => {
      clearTimeout(timer);
      if (!pattern.test(seen)) reject(new Error(`process exited before ${pattern}; output:\n${seen}`));
    });
  });
}

describe('development start-up (README: npm start)', () => {
  test('starts on PGlite with demo data, serves FAPI discovery, stops cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'portcullis-start-'));
    const port = await freePort();
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      PORT: String(port),
      DATA_DIR: dataDir,
    };
    const child = spawn(process.execPath, ['src/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const output = await waitForOutput(child, /Portcullis is listening/);
      assert.match(output, /demo TPP\s+client_id=demo-tpp/);
      assert.match(output, /demo customer\s+username=demo\s+password=\S+/);
      assert.match(output, /ENCRYPTION_KEY is not set/);
      const credentials = JSON.parse(readFileSync(join(dataDir, 'demo-credentials.json'), 'utf8'));
      assert.equal(credentials.client_id, 'demo-tpp');
      assert.equal(credentials.client_private_jwk.kty, 'EC');

      const metadata = (await (await fetch(`http://localhost:${port}/.well-known/openid-configuration`)).json()) as Record<
        string,
        unknown
      >;
      assert.equal(metadata.issuer, `http://localhost:${port}`);
      assert.equal(metadata.require_pushed_authorization_requests, true);
      assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);

      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('production refuses unsafe settings, naming each, without a stack trace', async () => {
    const child = spawn(process.execPath, ['src/main.ts'], {
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production', ISSUER: 'http://bank.example', DEMO_DATA: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 1);
    assert.match(stderr, /ISSUER: must be an https URL in production/);
    assert.match(stderr, /ENCRYPTION_KEY: is required in production/);
    assert.match(stderr, /DEMO_DATA: demo data is refused in production/);
    assert.doesNotMatch(stderr, /\n\s+at /);
  });
});
