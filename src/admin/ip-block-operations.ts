// Blocking addresses in the admin API (incident response): block an address or CIDR range (IPv4
// or IPv6) until lifted or for `expires_in` seconds, list what is blocked, lift a block. The
// block store records `ip.blocked` / `ip.unblocked` itself with the admin key as the actor.
import type { Context } from 'koa';
import { z } from 'zod';
import { NotFound } from '../http/errors.ts';
import { requestContext } from '../security/audit.ts';
import type { BlockActor } from '../security/ip-blocks.ts';
import type { Services } from '../services.ts';
import type { AdminState } from './auth.ts';
import type { Operation } from './router.ts';
import { parseInput } from './validation.ts';

export const ipBlockInput = z.strictObject({
  cidr: z.string().min(1).max(64).describe('an IPv4 or IPv6 address, or a CIDR range such as 203.0.113.0/24 or 2001:db8::/48'),
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

export function ipBlockOperations(services: Services): Operation[] {
  const { ipBlocks } = services;
  return [
    {
      method: 'post',
      path: '/admin/ip-blocks',
      scope: 'incident:write',
      selfAudited: true,
      summary: 'Block an address or CIDR range (IPv4 or IPv6): its requests get 403 on every endpoint (audited as ip.blocked)',
      input: ipBlockInput,
      output: ipBlockOutput,
      status: 201,
      async handle(ctx, body) {
        const input = parseInput(ipBlockInput, body, 'generic');
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
