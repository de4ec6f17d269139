// The whole suite, twice: on the PostgreSQL server (a fresh database per test file) and on the
// embedded PGlite. `npm test` runs this after the type check and the linter.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const files = (dir: string): string[] =>
  readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(dir, entry.name)) : entry.name.endsWith('.test.ts') ? [join(dir, entry.name)] : [],
  );

const only = process.argv.slice(2);
const selected = only.length ? only : files('test').sort();
const targets = (process.env.TEST_DATABASES ?? 'postgresql,pglite').split(',');

let failed = false;
for (const target of targets) {
  process.stdout.write(`\n=== test suite on ${target} (${selected.length} files) ===\n`);
  const result = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...selected], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TEST_DATABASE: target },
  });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
