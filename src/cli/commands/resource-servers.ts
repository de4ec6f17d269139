// `portcullis resource-servers`: the APIs tokens are issued for (RFC 8707 resource indicators),
// validated with the admin API's schema. A secret is shown once and stored only as SHA-256.
import { resourceServerInput } from '../../admin/schemas.ts';
import { parseInput } from '../../admin/validation.ts';
import { CommandFailed, type CommandGroup, type CommandSpec, table, UsageError } from '../command.ts';
import { readJsonFile } from '../input.ts';
import { isUniqueViolation } from './errors.ts';

const create: CommandSpec = {
  name: 'resource-servers create',
  summary: 'Register a resource server (API). Prints its client_id and, for secret auth, the secret alone on the last line.',
  usage:
    '--resource URI --name NAME --scope SCOPE [--scope SCOPE ...] [--format opaque|jwt] [--ttl SECONDS] ' +
    '[--auth secret|private_key_jwt --jwks-file FILE] [--json]',
  details: [
    'The resource server authenticates at introspection and revocation with its client_id and either',
    'the generated secret (HTTP Basic) or private_key_jwt with the public keys in --jwks-file.',
    'Opaque tokens can be introspected and revoked; JWT access tokens cannot (keep their TTL short).',
  ],
  options: {
    resource: { type: 'string', help: 'URI resource indicator of the API (absolute URI, no fragment)' },
    name: { type: 'string', help: 'NAME display name' },
    scope: { type: 'string', multiple: true, help: 'SCOPE a scope the API accepts (repeatable, or comma-separated)' },
    format: { type: 'string', help: 'FORMAT access token format: opaque (default) or jwt' },
    ttl: { type: 'string', help: 'SECONDS access token lifetime for this API (30-3600; default ACCESS_TOKEN_TTL)' },
    auth: { type: 'string', help: 'METHOD secret (default) or private_key_jwt' },
    'jwks-file': { type: 'string', help: 'FILE JSON Web Key Set of the public keys (with --auth private_key_jwt)' },
  },
  async run(args, ctx, out) {
    const auth = args.choice('auth', ['secret', 'private_key_jwt'], 'secret');
    const jwksFile = args.string('jwks-file');
    if (auth === 'private_key_jwt' && !jwksFile) throw new UsageError('--auth private_key_jwt needs --jwks-file');
    if (auth === 'secret' && jwksFile) throw new UsageError('--jwks-file is only for --auth private_key_jwt');
    const scopes = args
      .strings('scope')
      .flatMap((s) => s.split(','))
      .filter(Boolean);
    if (scopes.length === 0) throw new UsageError('missing required option --scope');
    const ttl = args.integer('ttl', { min: 30, max: 3600 }, undefined);
    const input = parseInput(
      resourceServerInput,
      {
        resource: args.required('resource'),
        name: args.required('name'),
        scopes,
        access_token_format: args.choice('format', ['opaque', 'jwt'], 'opaque'),
        ...(ttl === undefined ? {} : { access_token_ttl: ttl }),
        auth_method: auth === 'secret' ? 'client_secret_basic' : 'private_key_jwt',
        ...(jwksFile ? { jwks: await readJsonFile(jwksFile, 'jwks-file') } : {}),
      },
      'generic',
    );
    const services = await ctx.services();
    try {
      const { resourceServer, clientSecret } = await services.resourceServers.create({
        ...input,
        auth: input.jwks ? { method: 'private_key_jwt', jwks: input.jwks } : { method: 'client_secret_basic' },
      });
      const lines = [
        `Registered resource server "${resourceServer.name}" for ${resourceServer.resource}.`,
        `client_id: ${resourceServer.client_id}`,
      ];
      out.emit(
        { ...resourceServer, ...(clientSecret ? { client_secret: clientSecret } : {}) },
        clientSecret ? [...lines, 'Store the client secret now: it is not shown again. The secret:', clientSecret] : lines,
      );
    } catch (err) {
      if (isUniqueViolation(err)) throw new CommandFailed(`resource ${input.resource} is already registered`);
      throw err;
    }
  },
};

const list: CommandSpec = {
  name: 'resource-servers list',
  summary: 'List resource servers.',
  usage: '[--json]',
  async run(_args, ctx, out) {
    const servers = await (await ctx.services()).resourceServers.list();
    out.emit(
      servers,
      servers.length
        ? table(
            ['resource', 'name', 'client_id', 'scopes', 'format', 'ttl', 'created'],
            servers.map((s) => [
              s.resource,
              s.name,
              s.client_id,
              s.scopes.join(' '),
              s.access_token_format,
              s.access_token_ttl === null ? null : String(s.access_token_ttl),
              s.created_at,
            ]),
          )
        : ['No resource servers.'],
    );
  },
};

export const resourceServers: CommandGroup = {
  name: 'resource-servers',
  summary: 'Register and list resource servers (the APIs tokens are for)',
  commands: [create, list],
};
