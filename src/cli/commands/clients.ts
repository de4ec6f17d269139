// `portcullis clients`: TPP clients. Registration goes through the same service as the admin
// API (zod-strict RFC 7591 metadata, FAPI client policy, oidc-provider's own validation).
import { findTppClient, registerClient } from '../../admin/clients-service.ts';
import type { ClientRecord } from '../../oidc/clients.ts';
import { type Args, type CommandGroup, type CommandSpec, table } from '../command.ts';
import { readJsonFile } from '../input.ts';
import { clientsRevokeAll } from './incidents.ts';

function describe(client: ClientRecord): string[] {
  const m = client.metadata;
  return [
    `client_id            ${client.client_id}`,
    `client_name          ${String(m.client_name ?? '-')}`,
    `status               ${client.status}`,
    `trust_tier           ${client.trust_tier}`,
    `auth_method          ${String(m.token_endpoint_auth_method ?? 'private_key_jwt')}`,
    `redirect_uris        ${((m.redirect_uris as string[] | undefined) ?? []).join(' ') || '-'}`,
    `dynamically_registered ${client.dynamically_registered}`,
    `created_at           ${client.created_at}`,
    `updated_at           ${client.updated_at}`,
  ];
}

/** TPP clients only, as in the admin API: resource-server clients are managed as resource servers. */
const tppClient = findTppClient;

const create: CommandSpec = {
  name: 'clients create',
  summary: 'Register a TPP client from a JSON file of RFC 7591 client metadata. Prints the client_id last.',
  usage: '--file FILE [--json]',
  details: [
    'The file holds client metadata as the admin API takes it (POST /admin/clients), e.g.',
    '  {"client_name": "Fintech", "redirect_uris": ["https://app.example/cb"],',
    '   "token_endpoint_auth_method": "private_key_jwt", "jwks": {"keys": [...]}, "trust_tier": "standard"}',
    'FAPI 2.0 rules apply: private_key_jwt or mTLS, sender-constrained tokens, PAR, https redirect URIs.',
  ],
  options: { file: { type: 'string', help: 'FILE JSON file with the client metadata' } },
  async run(args, ctx, out) {
    const input = await readJsonFile(args.required('file'), 'file');
    const services = await ctx.services();
    const client = await registerClient(services, await ctx.provider(), input);
    out.emit(client, [`Registered client "${String(client.metadata.client_name ?? client.client_id)}".`, client.client_id]);
  },
};

const list: CommandSpec = {
  name: 'clients list',
  summary: 'List TPP clients.',
  usage: '[--status active|suspended] [--json]',
  options: { status: { type: 'string', help: 'STATUS only clients in this status (active or suspended)' } },
  async run(args, ctx, out) {
    const status = args.string('status') === undefined ? undefined : args.choice('status', ['active', 'suspended'], 'active');
    const clients = await (await ctx.services()).clients.list({ kind: 'tpp', ...(status ? { status } : {}) });
    out.emit(
      clients,
      clients.length
        ? table(
            ['client_id', 'name', 'status', 'trust tier', 'created'],
            clients.map((c) => [c.client_id, String(c.metadata.client_name ?? ''), c.status, c.trust_tier, c.created_at]),
          )
        : ['No clients.'],
    );
  },
};

const show: CommandSpec = {
  name: 'clients show',
  summary: 'Show one TPP client and its full metadata.',
  usage: 'CLIENT_ID [--json]',
  positionals: ['CLIENT_ID'],
  async run(args, ctx, out) {
    const client = await tppClient(await ctx.services(), args.positionals[0] as string);
    out.emit(client, [...describe(client), 'metadata:', ...JSON.stringify(client.metadata, null, 2).split('\n')]);
  },
};

function statusCommand(verb: 'suspend' | 'activate', status: 'suspended' | 'active', summary: string): CommandSpec {
  return {
    name: `clients ${verb}`,
    summary,
    usage: 'CLIENT_ID [--json]',
    details: ['Running servers see the change within CLIENT_CACHE_TTL_MS (their client cache).'],
    positionals: ['CLIENT_ID'],
    async run(args: Args, ctx, out) {
      const services = await ctx.services();
      const clientId = args.positionals[0] as string;
      await tppClient(services, clientId);
      const client = (await services.clients.setStatus(clientId, status)) as ClientRecord;
      out.emit(client, [`Client ${client.client_id} is now ${client.status}.`]);
    },
  };
}

export const clients: CommandGroup = {
  name: 'clients',
  summary: 'Register, list, show, suspend and reactivate TPP clients; revoke everything of one',
  commands: [
    create,
    list,
    show,
    statusCommand(
      'suspend',
      'suspended',
      'Suspend a client: it can no longer authenticate and its tokens stop introspecting as active.',
    ),
    statusCommand('activate', 'active', 'Lift the suspension of a client.'),
    clientsRevokeAll,
  ],
};
