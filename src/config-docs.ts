// Renders the configuration reference (docs/configuration.md and README's table) from the one
// schema in config.ts, so the documentation cannot drift from what the server accepts.
import { configDocs, configSchema } from './config.ts';

const shown = (value: unknown): string => {
  if (value === undefined) return '(unset)';
  if (value === '') return '(empty)';
  if (Array.isArray(value)) return `\`${value.join(',')}\``;
  return `\`${String(value)}\``;
};

export function configTable(): string {
  const defaults = configSchema.parse({}) as Record<string, unknown>;
  const rows = Object.keys(configSchema.shape).map((name) => {
    const fallback =
      name === 'ISSUER'
        ? '`http://localhost:$PORT`'
        : name === 'DEMO_DATA'
          ? '`true` in development, else `false`'
          : shown(defaults[name]);
    return `| \`${name}\` | ${fallback} | ${configDocs[name] ?? ''} |`;
  });
  return ['| variable | default | meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export function configMarkdown(): string {
  return `# Configuration reference

Every setting is an environment variable, validated at start-up by the zod schema in
\`src/config.ts\`. An invalid value stops the process with the variable's name and the reason.
With \`NODE_ENV=production\` the server also refuses an http \`ISSUER\`, a missing
\`ENCRYPTION_KEY\` and \`DEMO_DATA=true\`. An empty variable counts as unset.

This file is generated from the schema (\`npm run docs:config\`); a test fails when it is stale.

${configTable()}
`;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(configMarkdown());
