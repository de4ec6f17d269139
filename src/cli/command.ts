// What every `portcullis` command is made of: its spec (name, usage, options), the parsed
// arguments it reads through typed accessors, and the output it writes (text or --json).
import { parseArgs } from 'node:util';
import type { CliContext } from './context.ts';

/** The operator typed something wrong: one line on stderr, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The command could not do what was asked (not found, conflict, database down): exit code 1. */
export class CommandFailed extends Error {
  override name = 'CommandFailed';
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  multiple?: boolean;
  short?: string;
  /** VALUE placeholder and one-line description, for --help. */
  help: string;
}

export interface CommandSpec {
  /** Words after `portcullis`, e.g. `admin-keys create`. */
  name: string;
  summary: string;
  /** Everything after the name in the usage line, e.g. `--name NAME [--json]`. */
  usage: string;
  /** Further lines shown by --help. */
  details?: string[];
  options?: Record<string, OptionSpec>;
  /** Names of the positional arguments, all required. */
  positionals?: string[];
  /** The command records its own, more detailed audit event; main records none for it. */
  selfAudited?: boolean;
  run(args: Args, ctx: CliContext, out: Output): Promise<void>;
}

export interface CommandGroup {
  name: string;
  summary: string;
  commands: CommandSpec[];
}

type Values = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Parsed arguments; every accessor turns a wrong value into a UsageError naming the option. */
export class Args {
  readonly values: Values;
  readonly positionals: string[];

  constructor(values: Values, positionals: string[]) {
    this.values = values;
    this.positionals = positionals;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    if (typeof value !== 'string') return undefined;
    if (value.trim() === '') throw new UsageError(`--${name} must not be empty`);
    return value;
  }

  required(name: string): string {
    const value = this.string(name);
    if (value === undefined) throw new UsageError(`missing required option --${name}`);
    return value;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return list.filter((v): v is string => typeof v === 'string');
  }

  /** An integer option within [min, max], or the fallback when absent. */
  integer<T extends number | undefined>(name: string, range: { min: number; max: number }, fallback: T): number | T {
    const text = this.string(name);
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text)) throw new UsageError(`--${name} must be a whole number of seconds, got "${text}"`);
    const value = Number(text);
    if (value < range.min || value > range.max) {
      throw new UsageError(`--${name} must be between ${range.min} and ${range.max}, got ${value}`);
    }
    return value;
  }

  /** One of a fixed set of values, or the fallback when absent. */
  choice<const T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const value = this.string(name) ?? fallback;
    if (!(choices as readonly string[]).includes(value)) {
      throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got "${value}"`);
    }
    return value as T;
  }
}

const COMMON_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', help: 'print the result as JSON' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** node:util parseArgs in strict mode; its errors become UsageErrors. */
export function parseCommandArgs(spec: CommandSpec, argv: string[]): Args {
  const options = Object.fromEntries(
    Object.entries({ ...spec.options, ...COMMON_OPTIONS }).map(([name, o]) => [
      name,
      { type: o.type, ...(o.multiple ? { multiple: true } : {}), ...(o.short ? { short: o.short } : {}) },
    ]),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true });
  } catch (err) {
    throw new UsageError(parseArgsMessage(err));
  }
  const args = new Args(parsed.values, parsed.positionals);
  if (args.flag('help')) return args;
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length < expected.length) {
    throw new UsageError(`missing ${expected.slice(parsed.positionals.length).join(' ')}`);
  }
  if (parsed.positionals.length > expected.length) {
    throw new UsageError(`unexpected argument "${parsed.positionals[expected.length]}"`);
  }
  return args;
}

/** node:util parseArgs messages, shortened to what the operator needs. */
function parseArgsMessage(err: unknown): string {
  const { code, message } = err as { code?: string; message?: string };
  const option = /'(-[^' ]+)'/.exec(message ?? '')?.[1] ?? /--[A-Za-z0-9-]+/.exec(message ?? '')?.[0];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option "${option}"`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) {
    return message?.includes('does not take') ? `option "${option}" takes no value` : `option "${option}" needs a value`;
  }
  return String(message ?? err);
}

export function commandHelp(spec: CommandSpec): string {
  const options = Object.entries({ ...spec.options, ...COMMON_OPTIONS }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}`;
    const [placeholder, description] = o.type === 'string' ? splitHelp(o.help) : ['', o.help];
    return `  ${`${flag} ${placeholder}`.trimEnd().padEnd(30)} ${description}`;
  });
  return [
    `Usage: portcullis ${spec.name} ${spec.usage}`.trimEnd(),
    '',
    spec.summary,
    ...(spec.details?.length ? ['', ...spec.details] : []),
    '',
    'Options:',
    ...options,
    '',
  ].join('\n');
}

/** "NAME  what it is" -> ["NAME", "what it is"]. */
function splitHelp(help: string): [string, string] {
  const space = help.indexOf(' ');
  return space === -1 ? [help, ''] : [help.slice(0, space), help.slice(space + 1).trim()];
}

/** Writes a command's result: human-readable lines, or with --json the value as JSON. */
export class Output {
  readonly json: boolean;

  constructor(json: boolean) {
    this.json = json;
  }

  /**
   * `lines` are printed as text; a secret the operator must copy goes alone on the last line,
   * so `... | tail -1` captures it.
   */
  emit(value: unknown, lines: string[]): void {
    process.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : lines.map((l) => `${l}\n`).join(''));
  }
}

/** Left-aligned columns; a dash for empty cells. */
export function table(headers: string[], rows: (string | null | undefined)[][]): string[] {
  const cells = rows.map((row) => row.map((cell) => (cell === null || cell === undefined || cell === '' ? '-' : cell)));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((row) => row[i]?.length ?? 0)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers.map((h) => h.toUpperCase())), ...cells.map(line)];
}
