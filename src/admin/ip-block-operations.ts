// Blocking addresses in the admin API (incident response): block an address or CIDR range (IPv4
// or IPv6) until lifted or for `expires_in` seconds, list what is blocked, lift a block. The
// block store records `ip.blocked` / `ip.unblocked` itself with the admin key as the actor.
import type { Context } from 'koa';
import { z } from 'zod';
import { InvalidRequest, NotFound } from '../http/errors.ts';
import { requestContext } from '../security/audit.ts';
import { formatIp, parseIp, parseRange, rangeContains } from '../security/ip-address.ts';
import { type BlockActor, tooBroadProblem } from '../security/ip-blocks.ts';
import type { Services } from '../services.ts';
import type { AdminState } from './auth.ts';
import type { Operation } from './router.ts';
import { parseInput } from './validation.ts';

export const ipBlockInput = z.strictObject({
  cidr: z
    .string()
    .min(1)
    .max(64)
    .describe(
      'an IPv4 or IPv6 address, or a CIDR range such as 203.0.113.0/24 or 2001:db8::/48; at most an IPv4 /8 or an IPv6 /16, and never a range covering the address the request comes from (400 invalid_request)',
    ),
  reason: z.string().trim().min(1).max(500).describe('why, for the audit log and the next operator'),
  expires_in: z
    .number()
    .int()
    .min(60)
    .max(365 * 24 * 3600)
    .optional()
    .describe('seconds until the block lifts by itself; absent: until unblocked'),
});

export const ipBlockOutput = z.object({
  id: z.string(),
  cidr: z.string().describe('canonical network/prefix'),
  reason: z.string(),
  created_by: z.string().describe('admin:<key name>, cli:<user> or system:anomaly-detection'),
  created_at: z.string(),
  expires_at: z.string().nullable(),
  lifted_at: z.string().nullable(),
  lifted_by: z.string().nullable(),
});

const adminActor = (ctx: Context): BlockActor => ({ type: 'admin', id: (ctx.state as AdminState).adminKey.name });

/**
 * The admin API obeys blocks like every endpoint: a block covering the address an operator calls
 * from would lock that operator out, and only the CLI (database access) could lift it. Such a
 * block is refused here; one that is really meant is made with the CLI. A range too broad for any
 * block (0.0.0.0/0) is named as such first; the store refuses it for every caller.
 */
function assertSafeBlock(cidr: string, callerIp: string): void {
  const range = parseRange(cidr);
  const caller = parseIp(callerIp);
  if (!range || !caller) return;
  const broad = tooBroadProblem(range);
  if (broad) throw new InvalidRequest(broad);
  if (!rangeContains(range, caller)) return;
  throw new InvalidRequest(
    `cidr: ${range.cidr} covers ${formatIp(caller)}, the address this request comes from; the block would lock this admin API out (use \`portcullis ip-blocks block\` if it is really meant)`,
  );
}

export function ipBlockOperations(services: Services): Operation[] {
  const { ipBlocks } = services;
  return [
    {
      method: 'post',
      path: '/admin/ip-blocks',
      scope: 'incident:write',
      selfAudited: true,
      summary:
        'Block an address or CIDR range (IPv4 or IPv6): its requests get 403 on every endpoint, this API included (audited as ip.blocked). Refused: ranges broader than IPv4 /8 or IPv6 /16, and any range covering the address of the request itself',
      input: ipBlockInput,
      output: ipBlockOutput,
      status: 201,
      async handle(ctx, body) {
        const input = parseInput(ipBlockInput, body, 'generic');
        assertSafeBlock(input.cidr, ctx.ip);
        return ipBlocks.block(
          { cidr: input.cidr, reason: input.reason, expiresInSeconds: input.expires_in },
          adminActor(ctx),
          requestContext(ctx),
        );
      },
    },
    {
      method: 'get',
      path: '/admin/ip-blocks',
      scope: 'audit:read',
      summary: 'List the blocks in force (neither lifted nor expired), newest first',
      output: z.array(ipBlockOutput),
      status: 200,
      handle: () => ipBlocks.listActive(),
    },
    {
      method: 'delete',
      path: '/admin/ip-blocks/:id',
      scope: 'incident:write',
      selfAudited: true,
      summary: 'Lift a block (audited as ip.unblocked)',
      status: 204,
      async handle(ctx) {
        if (!(await ipBlocks.unblock(ctx.params.id as string, adminActor(ctx), requestContext(ctx)))) {
          throw new NotFound(`no block in force with id ${ctx.params.id}`);
        }
        return undefined;
      },
    },
  ];
}
