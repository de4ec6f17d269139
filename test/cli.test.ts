// The `portcullis` command as an operator runs it: a real process, real stdin/stdout/stderr and
// exit codes, on the embedded PGlite (DATA_DIR) and on a PostgreSQL server (DATABASE_URL).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { exportJWK, generateKeyPair } from 'jose';
import { createTestDatabase, type TestDatabase, testDatabaseKind } from './support/database.ts';

const MAIN = new URL('../src/cli/main.ts', import.meta.url).pathname;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

function portcullis(db: TestDatabase | undefined, args: string[], input?: string): Promise<Run> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    NODE_ENV: 'test',
    ENCRYPTION_KEY: ENCRYPTION_KEY,
    DATA_DIR: db?.dataDir ?? '/nonexistent',
    ...(db?.url ? { DATABASE_URL: db.url } : {}),
  };
  const child = spawn(process.execPath, [MAIN, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  child.stdin.end(input ?? '');
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, lines: stdout.trimEnd().split('\n') }));
  });
}

const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const lastLine = (run: Run) => run.lines.at(-1) ?? '';

function assertOk(run: Run): void {
  assert.equal(run.code, 0, `exit ${run.code}\nstdout: ${run.stdout}\nstderr: ${run.stderr}`);
}

/** A usage error: exit 2 and exactly one line on stderr, nothing on stdout. */
function assertUsageError(run: Run, pattern: RegExp): void {
  assert.equal(run.code, 2, `exit ${run.code}, stderr: ${run.stderr}`);
  assert.equal(run.stdout, '');
  assert.equal(run.stderr.trimEnd().split('\n').length, 1, run.stderr);
  assert.match(run.stderr, pattern);
}

test('--help lists every command and exits 0', async () => {
  const run = await portcullis(undefined, ['--help']);
  assertOk(run);
  for (const command of [
    'migrate',
    'admin-keys create',
    'admin-keys list',
    'admin-keys revoke',
    'clients create',
    'clients suspend',
    'resource-servers create',
    'iat create',
    'keys list',
    'keys rotate',
    'users create',
    'users unlock',
    'users release-hold',
  ]) {
    assert.match(run.stdout, new RegExp(`^  ${command} `, 'm'));
  }
  const sub = await portcullis(undefined, ['keys', 'rotate', '--help']);
  assertOk(sub);
  assert.match(sub.stdout, /--publish-delay SECONDS/);
  assert.deepEqual((await portcullis(undefined, ['help', 'keys', 'rotate'])).stdout, sub.stdout);
});

test('--version prints the package version', async () => {
  const run = await portcullis(undefined, ['--version']);
  assertOk(run);
  assert.match(run.stdout, /^portcullis \d+\.\d+\.\d+\n$/);
});

test('bad command lines exit 2 with one line on stderr', async () => {
  const cases: [string[], RegExp][] = [
    [['admin-keys', 'create', '--bogus'], /unknown option "--bogus"/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['admin-keys'], /needs a subcommand/],
    [['admin-keys', 'create', '--scope', 'keys:read'], /missing required option --name/],
    [['admin-keys', 'create', '--name', 'x', '--scope', 'root'], /unknown scope "root"/],
    [['admin-keys', 'revoke'], /missing NAME_OR_ID/],
    [['keys', 'rotate', '--publish-delay', 'soon'], /--publish-delay must be a whole number/],
    [['resource-servers', 'create', '--resource', 'https://api.example', '--name', 'x'], /missing required option --scope/],
  ];
  for (const [args, pattern] of cases) assertUsageError(await portcullis(undefined, args), pattern);
});

test('a bad configuration exits 2 naming the variable', async () => {
  const child = spawn(process.execPath, [MAIN, 'admin-keys', 'list'], {
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ACCESS_TOKEN_TTL: 'forever' },
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 2);
  assert.match(stderr, /ACCESS_TOKEN_TTL/);
});

// One database for the operator's session below; PGlite unless the suite runner picks a target.
let db: TestDatabase;
before(async () => {
  db = await createTestDatabase(process.env.TEST_DATABASE ? testDatabaseKind() : 'pglite');
});
after(async () => {
  await db?.drop();
});

test('migrate applies the migrations once', async () => {
  const first = await portcullis(db, ['migrate', '--json']);
  assertOk(first);
  const { applied } = JSON.parse(first.stdout) as { applied: string[] };
  // Other commands may already have migrated (MIGRATE_ON_START); a second run applies nothing.
  const second = await portcullis(db, ['migrate']);
  assertOk(second);
  assert.match(second.stdout, /up to date/);
  assert.ok(Array.isArray(applied));
});

test('admin-keys: create prints the key last, list never shows it, revoke disables it', async () => {
  const created = await portcullis(db, [
    'admin-keys',
    'create',
    '--name',
    'ops',
    '--scope',
    'clients:read',
    '--scope',
    'keys:read',
  ]);
  assertOk(created);
  const key = lastLine(created);
  assert.match(key, /^pcak_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);

  const listed = await portcullis(db, ['admin-keys', 'list']);
  assertOk(listed);
  assert.match(listed.stdout, /^ops\s+[0-9a-f]{16}\s+clients:read,keys:read\s/m);
  // The secret is everything after "pcak_<id>_" (base64url: it may itself contain "_").
  const secret = key.replace(/^pcak_[0-9a-f]{16}_/, '');
  assert.equal(secret.length, 43);
  assert.ok(!listed.stdout.includes(secret), 'the secret part of the key must not be listed');

  const json = JSON.parse((await portcullis(db, ['admin-keys', 'list', '--json'])).stdout) as Record<string, unknown>[];
  assert.equal(json.length, 1);
  assert.deepEqual(Object.keys(json[0] ?? {}).sort(), ['created_at', 'id', 'last_used_at', 'name', 'revoked_at', 'scopes']);

  const duplicate = await portcullis(db, ['admin-keys', 'create', '--name', 'ops', '--scope', 'all']);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /already exists/);

  assertOk(await portcullis(db, ['admin-keys', 'revoke', 'ops']));
  const revokedList = JSON.parse((await portcullis(db, ['admin-keys', 'list', '--json'])).stdout) as { revoked_at: string }[];
  assert.ok(revokedList[0]?.revoked_at);
  const again = await portcullis(db, ['admin-keys', 'revoke', 'ops']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /no active admin key/);

  const all = await portcullis(db, ['admin-keys', 'create', '--name', 'root', '--scope', 'all', '--json']);
  assertOk(all);
  const record = JSON.parse(all.stdout) as { key: string; scopes: string[] };
  assert.match(record.key, /^pcak_/);
  assert.ok(record.scopes.includes('admin-keys:write') && record.scopes.includes('keys:rotate'));
});

test('users create reads the password from stdin', async () => {
  const created = await portcullis(db, ['users', 'create', '--username', 'Alice'], 'correct horse battery\n');
  assertOk(created);
  assert.match(lastLine(created), /^[0-9a-f-]{36}$/);
  assert.match(created.stdout, /"alice"/);

  assertUsageError(await portcullis(db, ['users', 'create', '--username', 'bob'], 'short\n'), /at least 8 characters/);
  assertUsageError(await portcullis(db, ['users', 'create', '--username', 'bob'], ''), /no password/);
  const taken = await portcullis(db, ['users', 'create', '--username', 'alice'], 'another password\n');
  assert.equal(taken.code, 1);
  assert.match(taken.stderr, /taken/);
});

test('users release-hold: a customer without a held factor is told so; an unknown user exits 1', async () => {
  const created = await portcullis(db, ['users', 'create', '--username', 'carol'], 'correct horse battery\n');
  assertOk(created);
  const released = await portcullis(db, ['users', 'release-hold', '--username', 'Carol', '--json']);
  assertOk(released);
  assert.deepEqual(JSON.parse(released.stdout), { id: lastLine(created), username: 'carol', factors_released: [] });
  const text = await portcullis(db, ['users', 'release-hold', '--username', 'carol']);
  assertOk(text);
  assert.equal(text.stdout, 'User "carol" has no held factor.\n');
  const unknown = await portcullis(db, ['users', 'release-hold', '--username', 'nobody']);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /there is no user "nobody"/);
  assertUsageError(await portcullis(db, ['users', 'release-hold']), /missing required option --username/);
});

test('keys: three active keys, and a rotation retires them', async () => {
  const before = JSON.parse((await portcullis(db, ['keys', 'list', '--json'])).stdout) as {
    kid: string;
    alg: string;
    state: string;
  }[];
  assert.deepEqual(before.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'PS256']);
  assert.ok(before.every((k) => k.state === 'active'));
  const text = await portcullis(db, ['keys', 'list']);
  assert.match(text.stdout, /^KID\s+ALG\s+STATE\s+ACTIVATES AT\s+RETIRES AT$/m);

  assertOk(await portcullis(db, ['keys', 'rotate', '--publish-delay', '0']));
  const rotated = JSON.parse((await portcullis(db, ['keys', 'list', '--json'])).stdout) as {
    kid: string;
    alg: string;
    state: string;
    retires_at: string | null;
  }[];
  assert.equal(rotated.length, 6);
  for (const old of before) {
    const now = rotated.find((k) => k.kid === old.kid);
    assert.equal(now?.state, 'retired', `${old.alg} key ${old.kid}`);
    assert.ok(now?.retires_at);
  }
  const fresh = rotated.filter((k) => !before.some((b) => b.kid === k.kid));
  assert.deepEqual(fresh.map((k) => `${k.alg}:${k.state}`).sort(), ['ES256:active', 'EdDSA:active', 'PS256:active']);

  // Default delay: 2 x KEY_REFRESH_SECONDS, so the newest keys are published but not yet signing.
  const delayed = JSON.parse((await portcullis(db, ['keys', 'rotate', '--json'])).stdout) as { state: string }[];
  assert.equal(delayed.filter((k) => k.state === 'next').length, 3);
});

test('resource-servers create prints the secret last; list shows it registered', async () => {
  const created = await portcullis(db, [
    'resource-servers',
    'create',
    '--resource',
    'https://api.bank.example/accounts',
    '--name',
    'Accounts API',
    '--scope',
    'accounts',
    '--scope',
    'payments',
    '--ttl',
    '120',
  ]);
  assertOk(created);
  assert.match(lastLine(created), /^rss_[A-Za-z0-9_-]{43}$/);
  const clientId = /client_id: (rs_\S+)/.exec(created.stdout)?.[1];
  assert.ok(clientId);

  const listed = await portcullis(db, ['resource-servers', 'list']);
  assertOk(listed);
  assert.match(
    listed.stdout,
    new RegExp(`https://api.bank.example/accounts\\s+Accounts API\\s+${clientId}\\s+accounts payments\\s+opaque\\s+120`),
  );
  assert.ok(!listed.stdout.includes(lastLine(created)));

  const duplicate = await portcullis(db, [
    'resource-servers',
    'create',
    '--resource',
    'https://api.bank.example/accounts',
    '--name',
    'again',
    '--scope',
    'accounts',
  ]);
  assert.equal(duplicate.code, 1);
  assert.match(duplicate.stderr, /already registered/);

  assertUsageError(
    await portcullis(db, [
      'resource-servers',
      'create',
      '--resource',
      'https://x.example',
      '--name',
      'x',
      '--scope',
      'a',
      '--auth',
      'private_key_jwt',
    ]),
    /--jwks-file/,
  );
});

test('iat create prints an initial access token last, bounded to the --type values', async () => {
  const created = await portcullis(db, ['iat', 'create', '--type', 'account_information', '--ttl', '600']);
  assertOk(created);
  assert.match(lastLine(created), /^[A-Za-z0-9_-]{43}$/);
  const json = JSON.parse(
    (await portcullis(db, ['iat', 'create', '--type', 'payment_initiation,account_information', '--json'])).stdout,
  ) as { expires_in: number; authorization_details_types: string[] };
  assert.equal(json.expires_in, 86400);
  assert.deepEqual(json.authorization_details_types, ['payment_initiation', 'account_information']);
  assertUsageError(await portcullis(db, ['iat', 'create', '--type', 'account_information', '--ttl', '5']), /ttl/);
  // OWASP API5: the operator must say what the TPP may register.
  assertUsageError(await portcullis(db, ['iat', 'create']), /--type/);
  assertUsageError(await portcullis(db, ['iat', 'create', '--type', 'card_payments']), /authorization_details_types/);
});

test('clients: create from a metadata file, show, suspend, activate; bad metadata exits 2', async () => {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const file = join(db.dataDir, 'client.json');
  writeFileSync(
    file,
    JSON.stringify({
      client_name: 'Fintech One',
      redirect_uris: ['https://fintech.example/cb'],
      token_endpoint_auth_method: 'private_key_jwt',
      jwks: { keys: [jwk] },
      scope: 'openid accounts',
      trust_tier: 'partner',
    }),
  );
  const created = await portcullis(db, ['clients', 'create', '--file', file]);
  assertOk(created);
  const clientId = lastLine(created);
  assert.match(clientId, /^[0-9a-f-]{36}$/);

  const shown = JSON.parse((await portcullis(db, ['clients', 'show', clientId, '--json'])).stdout) as {
    trust_tier: string;
    metadata: Record<string, unknown>;
  };
  assert.equal(shown.trust_tier, 'partner');
  assert.equal(shown.metadata.require_pushed_authorization_requests, true);

  assertOk(await portcullis(db, ['clients', 'suspend', clientId]));
  assert.match((await portcullis(db, ['clients', 'list', '--status', 'suspended'])).stdout, new RegExp(clientId));
  assertOk(await portcullis(db, ['clients', 'activate', clientId]));
  assert.match(
    (await portcullis(db, ['clients', 'list', '--status', 'active'])).stdout,
    new RegExp(`${clientId}\\s+Fintech One`),
  );

  const missing = await portcullis(db, ['clients', 'show', 'no-such-client']);
  assert.equal(missing.code, 1);

  writeFileSync(file, JSON.stringify({ client_name: 'Bad', redirect_uris: ['https://x.example/cb'], client_secret: 'x' }));
  assertUsageError(await portcullis(db, ['clients', 'create', '--file', file]), /client_secret/);
  writeFileSync(file, '{not json');
  assertUsageError(await portcullis(db, ['clients', 'create', '--file', file]), /not valid JSON/);
  writeFileSync(file, '{"client_name":"a\\ud800b","redirect_uris":["https://x.example/cb"]}');
  assertUsageError(await portcullis(db, ['clients', 'create', '--file', file]), /must be Unicode text without NUL/);
});

test('on a PostgreSQL server (DATABASE_URL)', async () => {
  const pgDb = await createTestDatabase('postgresql');
  try {
    const migrated = await portcullis(pgDb, ['migrate']);
    assertOk(migrated);
    assert.match(migrated.stdout, /postgresql/);
    const created = await portcullis(pgDb, ['admin-keys', 'create', '--name', 'pg-ops', '--scope', 'all']);
    assertOk(created);
    assert.match(lastLine(created), /^pcak_/);
    const keys = JSON.parse((await portcullis(pgDb, ['keys', 'list', '--json'])).stdout) as { state: string }[];
    assert.equal(keys.filter((k) => k.state === 'active').length, 3);
    const iat = await portcullis(pgDb, ['iat', 'create', '--type', 'account_information']);
    assertOk(iat);
  } finally {
    await pgDb.drop();
  }
});
