#!/usr/bin/env node
// `portcullis`: the operator's command line. Exit codes: 0 done, 1 the operation failed,
// 2 the command line (or the configuration, or an input file) was wrong.
import { userInfo } from 'node:os';
import packageJson from '../../package.json' with { type: 'json' };
import { ConfigError } from '../config.ts';
import { HttpError } from '../http/errors.ts';
import {
  CommandFailed,
  type CommandGroup,
  type CommandSpec,
  commandHelp,
  Output,
  parseCommandArgs,
  UsageError,
} from './command.ts';
import { adminKeys } from './commands/admin-keys.ts';
import { audit } from './commands/audit.ts';
import { clients } from './commands/clients.ts';
import { iat } from './commands/iat.ts';
import { customers } from './commands/incidents.ts';
import { ipBlocks } from './commands/ip-blocks.ts';
import { keys } from './commands/keys.ts';
import { migrate } from './commands/migrate.ts';
import { resourceServers } from './commands/resource-servers.ts';
import { users } from './commands/users.ts';
import { createCliContext } from './context.ts';

const ENTRIES: (CommandSpec | CommandGroup)[] = [
  migrate,
  adminKeys,
  clients,
  resourceServers,
  iat,
  keys,
  users,
  customers,
  ipBlocks,
  audit,
];

const isGroup = (entry: CommandSpec | CommandGroup): entry is CommandGroup => 'commands' in entry;

/** The summary's first clause, for the command list. */
const brief = (spec: CommandSpec) => `  ${spec.name.padEnd(26)} ${spec.summary.split(/[.:;] /)[0]?.replace(/\.$/, '')}`;

function mainHelp(): string {
  const lines = ENTRIES.flatMap((entry) => (isGroup(entry) ? entry.commands.map(brief) : [brief(entry)]));
  return [
    'Usage: portcullis <command> [options]',
    '',
    'Operate a Portcullis authorization server: database, admin keys, clients, resource servers,',
    'signing keys and customers. Settings come from the same environment variables as the server',
    '(DATABASE_URL or DATA_DIR, ENCRYPTION_KEY, ...).',
    '',
    'Commands:',
    ...lines,
    `  ${'help [command]'.padEnd(26)} Show help for a command`,
    '',
    "Every command takes --help and --json. Run 'portcullis <command> --help' for its options.",
    'Exit codes: 0 success, 1 operation failed, 2 bad command line, configuration or input.',
    '',
  ].join('\n');
}

function groupHelp(group: CommandGroup): string {
  return [
    `Usage: portcullis ${group.name} <${group.commands.map((c) => c.name.split(' ')[1]).join('|')}> [options]`,
    '',
    `${group.summary}.`,
    '',
    'Commands:',
    ...group.commands.map((c) => `  ${c.name.padEnd(26)} ${c.summary}`),
    '',
  ].join('\n');
}

type Resolved = { help: string } | { spec: CommandSpec; argv: string[] };

/** Finds the command named by the leading words of argv. */
function resolve(argv: string[]): Resolved {
  const [first, second, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h') return { help: mainHelp() };
  if (first === 'help') return second === undefined ? { help: mainHelp() } : resolve([second, ...rest, '--help']);
  const entry = ENTRIES.find((e) => e.name === first);
  if (!entry) {
    throw new UsageError(first.startsWith('-') ? `unknown option "${first}"` : `unknown command "${first}"`);
  }
  if (!isGroup(entry)) return { spec: entry, argv: argv.slice(1) };
  if (second === undefined || second === '--help' || second === '-h') {
    if (second === undefined) {
      const names = entry.commands.map((c) => c.name.split(' ')[1]).join(', ');
      throw new UsageError(`"${entry.name}" needs a subcommand: ${names}`);
    }
    return { help: groupHelp(entry) };
  }
  const spec = entry.commands.find((c) => c.name === `${entry.name} ${second}`);
  if (!spec) throw new UsageError(`unknown command "${entry.name} ${second}"`);
  return { spec, argv: rest };
}

/** Commands that change nothing; every other successful command is recorded in the audit log. */
const READ_ONLY = new Set([
  'admin-keys list',
  'clients list',
  'clients show',
  'resource-servers list',
  'keys list',
  'audit verify',
  'audit export',
  'ip-blocks list',
  'migrate',
]);

async function auditCommand(ctx: ReturnType<typeof createCliContext>, spec: CommandSpec, argv: string[]): Promise<void> {
  const services = await ctx.services();
  await services.audit.record({
    type: `cli.${spec.name.replace(/ /g, '.')}`,
    outcome: 'success',
    actor: { type: 'admin', id: `cli:${userInfo().username}` },
    // Option names only: values may be names or paths, never needed to tell what was done.
    details: { command: spec.name, options: argv.filter((a) => a.startsWith('--')) },
  });
}

/** Returns the exit code. */
async function run(argv: string[]): Promise<number> {
  if (argv[0] === '--version' || argv[0] === '-v') {
    process.stdout.write(`portcullis ${packageJson.version}\n`);
    return 0;
  }
  const resolved = resolve(argv);
  if ('help' in resolved) {
    process.stdout.write(resolved.help);
    return 0;
  }
  const { spec } = resolved;
  const args = parseCommandArgs(spec, resolved.argv);
  if (args.flag('help')) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  const ctx = createCliContext();
  try {
    await spec.run(args, ctx, new Output(args.flag('json')));
    if (!READ_ONLY.has(spec.name) && !spec.selfAudited) await auditCommand(ctx, spec, resolved.argv);
    return 0;
  } finally {
    await ctx.close();
  }
}

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, ' ').trim();

/** The help to point at after a usage error: the command's, its group's, or the main one. */
function helpHint(argv: string[]): string {
  const entry = ENTRIES.find((e) => e.name === argv[0]);
  if (!entry) return 'portcullis --help';
  const spec = isGroup(entry) ? entry.commands.find((c) => c.name === `${entry.name} ${argv[1]}`) : entry;
  return `portcullis ${spec?.name ?? entry.name} --help`;
}

/** What to print and which exit code for an error a command threw. */
function failure(err: unknown, argv: string[]): { message: string; code: number } {
  if (err instanceof UsageError) {
    return { message: `${oneLine(err.message)} (see '${helpHint(argv)}')`, code: 2 };
  }
  if (err instanceof ConfigError) return { message: err.message, code: 2 };
  if (err instanceof CommandFailed) return { message: oneLine(err.message), code: 1 };
  // Validation by the admin API's schemas and client policy: the input given was wrong.
  if (err instanceof HttpError) {
    return { message: `${err.error}: ${oneLine(err.description)}`, code: err.status === 400 ? 2 : 1 };
  }
  const detail = (err as { error_description?: unknown })?.error_description;
  const message = err instanceof Error ? err.message : String(err);
  return { message: oneLine(`${message}${typeof detail === 'string' ? `: ${detail}` : ''}`), code: 1 };
}

const argv = process.argv.slice(2);
let code: number;
try {
  code = await run(argv);
} catch (err) {
  const { message, code: failed } = failure(err, argv);
  process.stderr.write(`portcullis: ${message}\n`);
  code = failed;
}
// Everything is closed by now; exiting explicitly keeps a stray timer in a dependency from
// holding the shell.
process.exitCode = code;
setTimeout(() => process.exit(code), 2000).unref();
