// Configuration is validated at start-up, loudly: a bad value stops the process with the
// variable's name and the reason, production refuses unsafe settings, every setting is documented.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError, configDocs, configSchema, parseConfig } from '../src/config.ts';

const KEY = randomBytes(32).toString('base64');
const production = { NODE_ENV: 'production', ISSUER: 'https://bank.example', ENCRYPTION_KEY: KEY };

function refuses(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => parseConfig(env),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
      assert.match(err.message, new RegExp(`\\b${variable}\\b`), err.message);
      return true;
    },
  );
}

describe('configuration', () => {
  describe('parseConfig refuses bad values, naming the variable', () => {
    const cases: { name: string; env: Record<string, string>; variable: string }[] = [
      { name: 'a non-numeric PORT', env: { PORT: 'abc' }, variable: 'PORT' },
      { name: 'a PORT out of range', env: { PORT: '70000' }, variable: 'PORT' },
      { name: 'ACCESS_TOKEN_TTL of two hours', env: { ACCESS_TOKEN_TTL: '7200' }, variable: 'ACCESS_TOKEN_TTL' },
      {
        name: 'an ENCRYPTION_KEY of 16 bytes',
        env: { ENCRYPTION_KEY: randomBytes(16).toString('base64') },
        variable: 'ENCRYPTION_KEY',
      },
      {
        name: 'an ENCRYPTION_KEY of 33 bytes',
        env: { ENCRYPTION_KEY: randomBytes(33).toString('base64') },
        variable: 'ENCRYPTION_KEY',
      },
      { name: 'RS256 in SIGNING_ALGS', env: { SIGNING_ALGS: 'ES256,RS256' }, variable: 'SIGNING_ALGS' },
      { name: 'a non-postgres DATABASE_URL', env: { DATABASE_URL: 'mysql://db/portcullis' }, variable: 'DATABASE_URL' },
      { name: 'an ISSUER that is not a URL', env: { ISSUER: 'bank' }, variable: 'ISSUER' },
      { name: 'an unknown NODE_ENV', env: { NODE_ENV: 'staging' }, variable: 'NODE_ENV' },
      { name: 'a non-boolean DEMO_DATA', env: { DEMO_DATA: 'maybe' }, variable: 'DEMO_DATA' },
      { name: 'production with an http ISSUER', env: { ...production, ISSUER: 'http://bank.example' }, variable: 'ISSUER' },
      {
        name: 'production without ENCRYPTION_KEY',
        env: { NODE_ENV: 'production', ISSUER: 'https://bank.example' },
        variable: 'ENCRYPTION_KEY',
      },
      { name: 'production with DEMO_DATA=true', env: { ...production, DEMO_DATA: 'true' }, variable: 'DEMO_DATA' },
    ];
    for (const { name, env, variable } of cases) {
      test(`${name} -> ConfigError naming ${variable}`, () => refuses(env, variable));
    }

    test('every problem is reported at once', () => {
      assert.throws(
        () => parseConfig({ PORT: 'abc', ACCESS_TOKEN_TTL: '7200' }),
        (err: Error) => /PORT/.test(err.message) && /ACCESS_TOKEN_TTL/.test(err.message),
      );
    });
  });

  describe('defaults', () => {
    test('a safe production configuration is accepted', () => {
      const config = parseConfig(production);
      assert.equal(config.NODE_ENV, 'production');
      assert.equal(config.DEMO_DATA, false);
    });

    test('FAPI-relevant defaults: short tokens, FAPI algorithms, ES256 first', () => {
      const config = parseConfig({ NODE_ENV: 'test' });
      assert.equal(config.ACCESS_TOKEN_TTL, 300);
      assert.deepEqual(config.SIGNING_ALGS, ['ES256', 'PS256', 'EdDSA']);
      assert.equal(config.PORT, 3000);
      assert.equal(config.ISSUER, 'http://localhost:3000');
      assert.equal(config.DEMO_DATA, false);
    });

    test('demo data is on by default in development only, and an empty variable means unset', () => {
      assert.equal(parseConfig({}).DEMO_DATA, true);
      assert.equal(parseConfig({ NODE_ENV: 'development', DEMO_DATA: 'false' }).DEMO_DATA, false);
      assert.equal(parseConfig({ PORT: '' }).PORT, 3000);
    });

    test('a trailing slash on ISSUER is dropped', () => {
      assert.equal(parseConfig({ ISSUER: 'https://bank.example/' }).ISSUER, 'https://bank.example');
    });

    test('every setting has a one-line doc, and every doc a setting', () => {
      const settings = Object.keys(configSchema.shape).sort();
      assert.deepEqual(Object.keys(configDocs).sort(), settings);
      for (const name of settings) {
        const doc = configDocs[name] ?? '';
        assert.ok(doc.length > 10 && !doc.includes('\n'), `${name}: "${doc}"`);
      }
    });
  });

  describe('the server process', () => {
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const run = (env: Record<string, string>) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
        const child = spawn(process.execPath, [main], {
          env: { PATH: process.env.PATH ?? '', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.stderr.on('data', (chunk) => (stderr += chunk));
        const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
        child.once('error', reject);
        child.once('close', (code) => {
          clearTimeout(timer);
          resolve({ code, stdout, stderr });
        });
      });

    const cases: { name: string; env: Record<string, string>; variables: string[] }[] = [
      { name: 'PORT=abc', env: { PORT: 'abc' }, variables: ['PORT'] },
      {
        name: 'an unsafe production configuration',
        env: { NODE_ENV: 'production', ISSUER: 'http://bank.example', DEMO_DATA: 'true' },
        variables: ['ISSUER', 'ENCRYPTION_KEY', 'DEMO_DATA'],
      },
    ];
    for (const { name, env, variables } of cases) {
      test(`${name}: exits 1, stderr names ${variables.join(', ')}, no stack trace`, async () => {
        const { code, stdout, stderr } = await run(env);
        assert.equal(code, 1, stderr);
        for (const variable of variables) assert.match(stderr, new RegExp(`\\b${variable}\\b`), stderr);
        assert.doesNotMatch(stderr, /^\s+at /m, `stack trace on stderr:\n${stderr}`);
        assert.doesNotMatch(stderr, /node:internal|\.ts:\d+/, stderr);
        assert.equal(stdout, '');
      });
    }
  });
});
