// The container files, checked without a container engine: compose.yaml parsed with `yaml` and
// held against the configuration schema, the Dockerfile, the CLI and README; the Dockerfile's
// paths held against the repository.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { configSchema } from '../src/config.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface Service {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Service>; volumes?: object };
const services = compose.services;
const dockerfile = read('Dockerfile');
const settings = new Set(Object.keys(configSchema.shape));
const PORTCULLIS = ['migrate', 'portcullis'] as const;
const service = (name: string): Service => {
  const found = services[name];
  assert.ok(found, `compose.yaml has no service ${name}`);
  return found;
};

describe('compose.yaml', () => {
  test('PostgreSQL, Redis, a one-shot migration and Portcullis built from this Dockerfile', () => {
    assert.deepEqual(Object.keys(services).sort(), ['migrate', 'portcullis', 'postgres', 'redis']);
    assert.match(service('postgres').image ?? '', /^postgres:\d+/);
    assert.match(service('redis').image ?? '', /^redis:\d+/);
    for (const name of PORTCULLIS) {
      assert.equal(service(name).build, '.', `${name} is built from the Dockerfile here`);
      assert.equal(service(name).image, service('portcullis').image);
    }
    // The migration runs the CLI's `migrate` command, the file the image's `portcullis` link names.
    const command = service('migrate').command ?? [];
    assert.deepEqual(command, ['node', 'src/cli/main.ts', 'migrate']);
    assert.ok(existsSync(new URL(command[1] as string, root)));
    assert.match(read('src/cli/commands/migrate.ts'), /name: 'migrate'/);
    assert.equal(service('portcullis').environment?.MIGRATE_ON_START, 'false', 'the server leaves migrating to the job');
  });

  test('every Portcullis variable is a setting of the configuration schema', () => {
    for (const name of PORTCULLIS) {
      const env = service(name).environment ?? {};
      assert.ok(Object.keys(env).length >= 4, `${name} has its environment`);
      for (const key of Object.keys(env)) assert.ok(settings.has(key), `${name}: ${key} is not in src/config.ts`);
    }
  });

  test('required values come from the environment (the :? form, failing with a message); no secret is in the file', () => {
    for (const name of PORTCULLIS) {
      const env = service(name).environment ?? {};
      assert.match(env.ENCRYPTION_KEY ?? '', /^\$\{ENCRYPTION_KEY:\?.+\}$/);
      assert.match(env.ISSUER ?? '', /^\$\{ISSUER:\?.+\}$/);
      assert.match(env.DATABASE_URL ?? '', /^postgres:\/\/portcullis:\$\{POSTGRES_PASSWORD:\?[^}]+\}@postgres:5432\/portcullis$/);
    }
    assert.match(service('postgres').environment?.POSTGRES_PASSWORD ?? '', /^\$\{POSTGRES_PASSWORD:\?.+\}$/);
    const text = read('compose.yaml');
    assert.doesNotMatch(text, /[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=/, 'no base64 key');
    assert.doesNotMatch(text, /(PASSWORD|KEY|SECRET)\s*[:=]\s*["']?[^$\s"'{?][^\s"']*/i, 'no literal secret value');
  });

  test('health checks, and start order by condition: database and Redis healthy, migration done', () => {
    for (const name of ['postgres', 'redis', 'portcullis']) assert.ok(service(name).healthcheck?.test?.length, name);
    assert.match(service('postgres').healthcheck?.test.join(' ') ?? '', /pg_isready/);
    assert.match(service('redis').healthcheck?.test.join(' ') ?? '', /redis-cli ping/);
    assert.match(service('portcullis').healthcheck?.test.join(' ') ?? '', /\/readyz/);
    assert.deepEqual(service('migrate').depends_on, { postgres: { condition: 'service_healthy' } });
    assert.deepEqual(service('portcullis').depends_on, {
      postgres: { condition: 'service_healthy' },
      redis: { condition: 'service_healthy' },
      migrate: { condition: 'service_completed_successfully' },
    });
    // Addresses name the services, and Redis is what the instances share rate-limit counters in.
    assert.equal(service('portcullis').environment?.REDIS_URL, 'redis://redis:6379');
  });

  test('the published port is the one the server listens on, the image exposes and the health checks ask', () => {
    const env = service('portcullis').environment ?? {};
    const [published] = service('portcullis').ports ?? [];
    const [, containerPort] = (published ?? '').split(':');
    assert.equal(containerPort, env.PORT);
    assert.equal(env.HOST, '0.0.0.0');
    assert.match(dockerfile, new RegExp(`^EXPOSE ${env.PORT}$`, 'm'));
    assert.match(dockerfile, new RegExp(`PORT=${env.PORT}\\b`));
    assert.match(service('portcullis').healthcheck?.test.join(' ') ?? '', new RegExp(`127\\.0\\.0\\.1:${env.PORT}/readyz`));
  });
});

describe('Dockerfile', () => {
  test('every path it copies and the command it runs exist in the repository', () => {
    for (const [, sources] of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
      for (const source of (sources as string).split(/\s+/)) assert.ok(existsSync(new URL(source, root)), `COPY ${source}`);
    }
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    assert.equal(cmd[0], 'node');
    assert.ok(existsSync(new URL(cmd[1] as string, root)), cmd.join(' '));
    // `portcullis` on the PATH is a link to the CLI, which must be executable (it has a shebang).
    const link = /ln -s \/app\/(\S+) \/usr\/local\/bin\/portcullis/.exec(dockerfile)?.[1];
    assert.ok(link && existsSync(new URL(link, root)), 'the CLI link target exists');
    assert.ok(statSync(new URL(link, root)).mode & 0o111, `${link} is executable`);
    assert.match(read(link), /^#!\/usr\/bin\/env node/);
  });

  test('the build context leaves out local data (the development key), dependencies and test output', () => {
    const ignored = read('.dockerignore').split('\n');
    for (const entry of ['data', 'node_modules', '.git', 'test-results', '.env']) assert.ok(ignored.includes(entry), entry);
  });
});

test('README explains running with containers, naming every required variable', () => {
  const readme = read('README.md');
  const section = /^## Run with containers\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  assert.ok(section, 'README has a "Run with containers" section');
  assert.match(section, /docker compose up/);
  for (const name of ['ENCRYPTION_KEY', 'ISSUER', 'POSTGRES_PASSWORD']) assert.match(section, new RegExp(name));
  assert.match(section, /compose\.yaml/);
});
