// `portcullis ip-blocks block|unblock|list`: incident response against an address or a range,
// through the same block store as the admin API. Each change records its own audit event
// (ip.blocked / ip.unblocked) with the operator's login as the actor. Running servers apply a
// change within IP_BLOCK_CACHE_TTL_MS.
import type { BlockActor, IpBlock } from '../../security/ip-blocks.ts';
import { CommandFailed, type CommandGroup, type CommandSpec, table } from '../command.ts';
import { operatorActor } from '../operator.ts';

const operator = (): BlockActor => operatorActor();
const until = (block: IpBlock) => block.expires_at ?? 'until unblocked';

const block: CommandSpec = {
  name: 'ip-blocks block',
  summary: 'Block an address or CIDR range (IPv4 or IPv6): its requests get 403 on every endpoint.',
  usage: 'CIDR --reason TEXT [--expires-in SECONDS] [--json]',
  details: ['CIDR is an address (203.0.113.7, 2001:db8::1) or a range (203.0.113.0/24, 2001:db8::/48).'],
  positionals: ['CIDR'],
  options: {
    reason: { type: 'string', help: 'TEXT why, for the audit log and the next operator' },
    'expires-in': { type: 'string', help: 'SECONDS lift the block after this long (default: until unblocked)' },
  },
  selfAudited: true,
  async run(args, ctx, out) {
    const services = await ctx.services();
    const expiresIn = args.integer('expires-in', { min: 60, max: 365 * 24 * 3600 }, undefined);
    const created = await services.ipBlocks.block(
      { cidr: args.positionals[0] as string, reason: args.required('reason'), expiresInSeconds: expiresIn },
      operator(),
    );
    out.emit(created, [`Blocked ${created.cidr} (${until(created)}).`, created.id]);
  },
};

const unblock: CommandSpec = {
  name: 'ip-blocks unblock',
  summary: 'Lift a block by its id (see ip-blocks list).',
  usage: 'ID [--json]',
  positionals: ['ID'],
  selfAudited: true,
  async run(args, ctx, out) {
    const services = await ctx.services();
    const lifted = await services.ipBlocks.unblock(args.positionals[0] as string, operator());
    if (!lifted) throw new CommandFailed(`no block in force with id ${args.positionals[0]}`);
    out.emit(lifted, [`Unblocked ${lifted.cidr}.`]);
  },
};

const list: CommandSpec = {
  name: 'ip-blocks list',
  summary: 'List the blocks in force, newest first.',
  usage: '[--json]',
  async run(_args, ctx, out) {
    const services = await ctx.services();
    const blocks = await services.ipBlocks.listActive();
    out.emit(
      blocks,
      table(
        ['id', 'cidr', 'until', 'by', 'reason'],
        blocks.map((b) => [b.id, b.cidr, until(b), b.created_by, b.reason]),
      ),
    );
  },
};

export const ipBlocks: CommandGroup = {
  name: 'ip-blocks',
  summary: 'Block and unblock client addresses and ranges (incident response)',
  commands: [block, unblock, list],
};
