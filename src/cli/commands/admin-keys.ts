// `portcullis admin-keys`: keys for the admin API. A key is shown once, at creation; only its
// SHA-256 is stored, so a lost key is revoked and replaced, never recovered.
import { ADMIN_SCOPES, type AdminScope } from '../../admin/admin-keys.ts';
import { adminKeyInput } from '../../admin/schemas.ts';
import { parseInput } from '../../admin/validation.ts';
import { CommandFailed, type CommandGroup, type CommandSpec, table, UsageError } from '../command.ts';
import { isUniqueViolation } from './errors.ts';

/** `--scope a --scope b,c` or `--scope all`; every scope must be a known admin scope. */
function parseScopes(given: string[]): AdminScope[] {
  const scopes = given
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.length === 0) throw new UsageError('missing required option --scope');
  if (scopes.includes('all')) return [...ADMIN_SCOPES];
  for (const scope of scopes) {
    if (!(ADMIN_SCOPES as readonly string[]).includes(scope)) {
      throw new UsageError(`unknown scope "${scope}"; use all or any of ${ADMIN_SCOPES.join(', ')}`);
    }
  }
  return [...new Set(scopes)] as AdminScope[];
}

const create: CommandSpec = {
  name: 'admin-keys create',
  summary: 'Create an admin API key. The key is printed once, alone on the last line.',
  usage: '--name NAME --scope SCOPE [--scope SCOPE ...] [--json]',
  details: [
    `Scopes: ${ADMIN_SCOPES.join(', ')}, or "all" for every one of them.`,
    'Example: portcullis admin-keys create --name ops --scope clients:read --scope clients:write | tail -1',
  ],
  options: {
    name: { type: 'string', help: 'NAME unique name of the key (who or what uses it)' },
    scope: { type: 'string', multiple: true, help: 'SCOPE a scope the key grants (repeatable, or comma-separated)' },
  },
  async run(args, ctx, out) {
    // The admin API's own schema, so both paths accept exactly the same keys.
    const { name, scopes } = parseInput(
      adminKeyInput,
      { name: args.required('name'), scopes: parseScopes(args.strings('scope')) },
      'generic',
    );
    const services = await ctx.services();
    try {
      const { key, record } = await services.adminKeys.create(name, scopes);
      out.emit({ ...record, key }, [
        `Created admin key "${record.name}" (id ${record.id}) with scopes ${record.scopes.join(' ')}.`,
        'Store it now: it is not shown again. The key:',
        key,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandFailed(`an admin key named "${name}" already exists`);
      throw err;
    }
  },
};

const list: CommandSpec = {
  name: 'admin-keys list',
  summary: 'List admin API keys (never the keys themselves).',
  usage: '[--json]',
  async run(_args, ctx, out) {
    const keys = await (await ctx.services()).adminKeys.list();
    out.emit(
      keys,
      keys.length
        ? table(
            ['name', 'id', 'scopes', 'created', 'last used', 'revoked'],
            keys.map((k) => [k.name, k.id, k.scopes.join(','), k.created_at, k.last_used_at, k.revoked_at]),
          )
        : ['No admin keys.'],
    );
  },
};

const revoke: CommandSpec = {
  name: 'admin-keys revoke',
  summary: 'Revoke an admin API key by name or id; it stops working at once.',
  usage: 'NAME_OR_ID [--json]',
  positionals: ['NAME_OR_ID'],
  async run(args, ctx, out) {
    const nameOrId = args.positionals[0] as string;
    const revoked = await (await ctx.services()).adminKeys.revoke(nameOrId);
    if (!revoked) throw new CommandFailed(`no active admin key has the name or id "${nameOrId}"`);
    out.emit({ revoked: nameOrId }, [`Revoked admin key "${nameOrId}".`]);
  },
};

export const adminKeys: CommandGroup = {
  name: 'admin-keys',
  summary: 'Create, list and revoke admin API keys',
  commands: [create, list, revoke],
};
