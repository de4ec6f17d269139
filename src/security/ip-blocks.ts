// Blocked addresses and ranges (incident response): stored in `ip_blocks`, read on every request
// from a per-instance cache that is reloaded every IP_BLOCK_CACHE_TTL_MS (a block made on another
// instance takes effect here within that time; one made here, at once). Expiry is checked per
// request, so a block lifts on time whatever the cache age. Every block and unblock is audited
// here, whoever asks: an admin key, the CLI or anomaly detection.
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { Conflict, InvalidRequest } from '../http/errors.ts';
import type { ActorType, AuditLog } from './audit.ts';
import { type IpRange, type IpVersion, parseIp, parseRange, rangeContains } from './ip-address.ts';

export interface IpBlock {
  id: string;
  cidr: string;
  reason: string;
  created_by: string;
  created_at: string;
  expires_at: string | null;
  lifted_at: string | null;
  lifted_by: string | null;
}

export interface BlockActor {
  type: ActorType;
  id: string;
}

/** Where a change came from, for its audit event (request id, IP, user agent). */
export interface ChangeContext {
  requestId?: string | undefined;
  personal?: { ip?: string | undefined; userAgent?: string | undefined };
}

export interface IpBlockStore {
  /** Blocks a range (or one address) until lifted, or for `expiresInSeconds`. */
  block(
    input: { cidr: string; reason: string; expiresInSeconds?: number | undefined },
    actor: BlockActor,
    context?: ChangeContext,
  ): Promise<IpBlock>;
  /** Lifts an active block; undefined when there is none with that id. */
  unblock(id: string, actor: BlockActor, context?: ChangeContext): Promise<IpBlock | undefined>;
  /** Blocks in force now, newest first. */
  listActive(): Promise<IpBlock[]>;
  /** The block in force for this address, if any (from the cache). */
  match(ip: string): Promise<IpBlock | undefined>;
}

/**
 * The broadest range one block may cover. A block answers an incident on one network (a host, its
 * provider's range, at most a whole allocation), and a typo such as 0.0.0.0/0 must not shut every
 * client and operator out. IPv4 /8: the largest block ever held by a single organisation (the
 * legacy class A networks); anything broader spans many unrelated ones. IPv6 /16: the largest
 * single-network allocations RIRs make are around /19 (national carriers), so /16 blocks any one
 * of them with room to spare, while broader ranges approach the /12s IANA assigns to whole RIRs.
 */
export const BROADEST_BLOCK_PREFIX: Record<IpVersion, number> = { 4: 8, 6: 16 };

/** Why a range is too broad to block, or undefined. */
export function tooBroadProblem(range: IpRange): string | undefined {
  const prefix = Number(range.cidr.split('/')[1]);
  const broadest = BROADEST_BLOCK_PREFIX[range.version];
  if (prefix >= broadest) return undefined;
  return `cidr: ${range.cidr} is broader than /${broadest}, the widest IPv${range.version} range one block may cover; block the attacking networks one by one`;
}

const columns = ['id', 'cidr', 'reason', 'created_by', 'created_at', 'expires_at', 'lifted_at', 'lifted_by'];
const iso = (value: unknown) => (value ? new Date(value as string).toISOString() : null);

const toBlock = (row: Record<string, unknown>): IpBlock => ({
  id: row.id as string,
  cidr: parseRange(String(row.cidr))?.cidr ?? String(row.cidr),
  reason: row.reason as string,
  created_by: row.created_by as string,
  created_at: iso(row.created_at) as string,
  expires_at: iso(row.expires_at),
  lifted_at: iso(row.lifted_at),
  lifted_by: (row.lifted_by as string | null) ?? null,
});

const inForce = (block: IpBlock, now = Date.now()) =>
  !block.lifted_at && (!block.expires_at || new Date(block.expires_at).getTime() > now);

interface Cached {
  entries: { range: IpRange; block: IpBlock }[];
  until: number;
}

export function createIpBlockStore(knex: Knex, audit: AuditLog, logger: Logger, cacheTtlMs: number): IpBlockStore {
  let cache: Cached | undefined;
  let loading: Promise<Cached> | undefined;

  const active = () =>
    knex('ip_blocks')
      .select(columns)
      .whereNull('lifted_at')
      .where((q) => q.whereNull('expires_at').orWhere('expires_at', '>', knex.fn.now()));

  const load = async (): Promise<Cached> => {
    const rows = (await active()).map(toBlock);
    const entries = rows.flatMap((block) => {
      const range = parseRange(block.cidr);
      return range ? [{ range, block }] : [];
    });
    return { entries, until: Date.now() + cacheTtlMs };
  };

  const current = async (): Promise<Cached> => {
    if (cache && cache.until > Date.now()) return cache;
    loading ??= load()
      .then((fresh) => {
        cache = fresh;
        return fresh;
      })
      .catch((err) => {
        // Keep enforcing what we knew rather than failing every request while the database is away.
        logger.error({ err }, 'could not reload IP blocks; keeping the previous list');
        if (cache) cache.until = Date.now() + Math.min(cacheTtlMs, 5000);
        return cache ?? { entries: [], until: 0 };
      })
      .finally(() => {
        loading = undefined;
      });
    return loading;
  };

  const record = (type: string, block: IpBlock, actor: BlockActor, context: ChangeContext = {}) =>
    audit.record({
      type,
      outcome: 'success',
      actor,
      requestId: context.requestId,
      personal: context.personal,
      details: { block_id: block.id, cidr: block.cidr, reason: block.reason, expires_at: block.expires_at },
    });

  return {
    async block(input, actor, context) {
      const range = parseRange(input.cidr);
      if (!range) throw new InvalidRequest(`cidr: "${input.cidr}" is not an IPv4 or IPv6 address or CIDR range`);
      const broad = tooBroadProblem(range);
      if (broad) throw new InvalidRequest(broad);
      const existing = await active().where('cidr', range.cidr).first();
      if (existing) throw new Conflict(`${range.cidr} is already blocked (block ${existing.id})`);
      const expiresAt = input.expiresInSeconds ? new Date(Date.now() + input.expiresInSeconds * 1000) : null;
      const [row] = await knex('ip_blocks')
        .insert({
          id: randomUUID(),
          cidr: range.cidr,
          reason: input.reason,
          created_by: `${actor.type}:${actor.id}`,
          expires_at: expiresAt,
        })
        .returning(columns);
      const block = toBlock(row);
      cache = undefined;
      await record('ip.blocked', block, actor, context);
      return block;
    },

    async unblock(id, actor, context) {
      const [row] = await knex('ip_blocks')
        .where({ id })
        .whereNull('lifted_at')
        .update({ lifted_at: knex.fn.now(), lifted_by: `${actor.type}:${actor.id}` })
        .returning(columns);
      if (!row) return undefined;
      const block = toBlock(row);
      cache = undefined;
      await record('ip.unblocked', block, actor, context);
      return block;
    },

    async listActive() {
      return (await active().orderBy('created_at', 'desc')).map(toBlock);
    },

    async match(text) {
      const ip = parseIp(text);
      if (!ip) return undefined;
      const now = Date.now();
      return (await current()).entries.find((e) => rangeContains(e.range, ip) && inForce(e.block, now))?.block;
    },
  };
}
