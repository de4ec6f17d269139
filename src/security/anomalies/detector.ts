// Anomaly detection over what the server sees: credential steps and their outcomes (from the rate
// limiter, which already knows the address and the hashed username), authenticated token requests,
// and refresh-token reuse (from the audit log). A rule that fires raises one `anomaly` audit event,
// tells the listeners (metrics), calls the webhook, and, for address rules when
// ANOMALY_BLOCK_MINUTES > 0, blocks the address (its IPv6 /64) for that long. A rule fires at most
// once per key and window.
//
// The windows are per instance: behind a load balancer each instance judges its own share, so
// thresholds are per instance (docs/rate-limits.md).
import type { Logger } from 'pino';
import { type AuditEvent, type AuditLog, requestContext } from '../audit.ts';
import type { BlockActor, ChangeContext, IpBlockStore } from '../ip-blocks.ts';
import { type Rule, type RuleName, VELOCITY_FACTOR, VELOCITY_WARMUP_MINUTES } from './rules.ts';
import type { Webhook } from './webhook.ts';
import { DistinctWindow, EventWindow, RateNorm } from './windows.ts';

export interface Anomaly {
  rule: RuleName;
  /** What the rule counted: an address key, a client id, a grant id, or `all`. */
  subject: string;
  count: number;
  threshold: number;
  windowSeconds: number;
  ip?: string | undefined;
  clientId?: string | undefined;
  action: 'alert' | 'ip_blocked';
  blockedUntil?: string | undefined;
}

type RequestLike = Parameters<typeof requestContext>[0];

export interface AnomalyDetector {
  /** A credential step was answered (address key, hashed username if any). */
  credentialAttempt(
    attempt: { ip: string; account?: string | undefined; outcome: 'success' | 'failure' },
    ctx?: RequestLike,
  ): Promise<void>;
  /** An authenticated client was answered at the token endpoint. */
  tokenRequest(clientId: string, ctx?: RequestLike): Promise<void>;
  onAnomaly(listener: (anomaly: Anomaly) => void): () => void;
  stop(): void;
}

export interface DetectorDependencies {
  rules: Record<RuleName, Rule>;
  audit: AuditLog;
  ipBlocks: IpBlockStore;
  logger: Logger;
  blockMinutes: number;
  webhook?: Webhook | undefined;
  issuer: string;
}

const SYSTEM: BlockActor = { type: 'system', id: 'anomaly-detection' };

export function createAnomalyDetector(deps: DetectorDependencies): AnomalyDetector {
  const { rules, audit, ipBlocks, logger } = deps;
  const listeners = new Set<(anomaly: Anomaly) => void>();
  const ms = (rule: RuleName) => rules[rule].windowSeconds * 1000;
  const failuresByIp = new EventWindow(ms('login_failures_ip'), rules.login_failures_ip.threshold);
  const failuresAll = new EventWindow(ms('login_failures_global'), rules.login_failures_global.threshold);
  const accountsByIp = new DistinctWindow(ms('credential_stuffing'), rules.credential_stuffing.threshold);
  const tokenRates = new RateNorm();
  const quietUntil = new Map<string, number>();

  /** True once per rule, subject and window. */
  const firstInWindow = (rule: RuleName, subject: string) => {
    const key = `${rule}:${subject}`;
    const now = Date.now();
    if ((quietUntil.get(key) ?? 0) > now) return false;
    if (quietUntil.size > 10_000) quietUntil.clear();
    quietUntil.set(key, now + Math.max(ms(rule), 60_000));
    return true;
  };

  const blockAddress = async (ip: string, rule: RuleName, context: ChangeContext | undefined) => {
    if (!deps.blockMinutes || !rules[rule].blocksIp) return undefined;
    if (await ipBlocks.match(ip.replace(/\/64$/, ''))) return undefined;
    const block = await ipBlocks.block(
      { cidr: ip, reason: `anomaly: ${rule}`, expiresInSeconds: deps.blockMinutes * 60 },
      SYSTEM,
      context,
    );
    return block.expires_at ?? undefined;
  };

  const raise = async (
    rule: RuleName,
    found: { subject: string; count: number; ip?: string; clientId?: string | undefined },
    context?: ChangeContext,
  ) => {
    let blockedUntil: string | undefined;
    try {
      if (found.ip) blockedUntil = await blockAddress(found.ip, rule, context);
    } catch (err) {
      logger.error({ err, rule }, 'automatic IP block failed');
    }
    const anomaly: Anomaly = {
      rule,
      subject: found.subject,
      count: found.count,
      threshold: rules[rule].threshold,
      windowSeconds: rules[rule].windowSeconds,
      ip: found.ip,
      clientId: found.clientId,
      action: blockedUntil ? 'ip_blocked' : 'alert',
      blockedUntil,
    };
    logger.warn(
      { event: 'anomaly', rule, count: anomaly.count, action: anomaly.action, client_id: found.clientId },
      'anomaly detected',
    );
    for (const listener of listeners) {
      try {
        listener(anomaly);
      } catch (err) {
        logger.error({ err }, 'anomaly listener failed');
      }
    }
    deps.webhook?.({ type: 'portcullis.anomaly', issuer: deps.issuer, occurred_at: new Date().toISOString(), ...anomaly });
    await audit
      .record({
        type: 'anomaly',
        outcome: 'failure',
        actor: { type: 'system', id: 'anomaly-detection' },
        clientId: found.clientId,
        requestId: context?.requestId,
        // The address goes with the erasable personal data, like every address in the log.
        personal: { ip: found.ip ?? context?.personal?.ip },
        details: {
          rule,
          count: anomaly.count,
          threshold: anomaly.threshold,
          window_seconds: anomaly.windowSeconds,
          action: anomaly.action,
          ...(blockedUntil ? { blocked_until: blockedUntil } : {}),
          ...(rule === 'refresh_reuse' ? { grant_id: found.subject } : {}),
        },
      })
      .catch((err) => logger.error({ err }, 'audit event lost: anomaly'));
  };

  const unsubscribe = audit.onRecord((event: AuditEvent) => {
    if (event.type !== 'refresh_token.reuse_detected') return;
    const grantId = String((event.details?.grant_id as string | undefined) ?? 'unknown');
    // After the current record() has queued its own row.
    setImmediate(() => {
      void raise(
        'refresh_reuse',
        { subject: grantId, count: 1, clientId: event.clientId },
        { requestId: event.requestId, personal: { ip: event.personal?.ip, userAgent: event.personal?.userAgent } },
      );
    });
  });

  return {
    async credentialAttempt({ ip, account, outcome }, ctx) {
      const context = ctx ? requestContext(ctx) : undefined;
      if (account) {
        const accounts = accountsByIp.add(ip, account);
        if (accounts >= rules.credential_stuffing.threshold && firstInWindow('credential_stuffing', ip)) {
          await raise('credential_stuffing', { subject: ip, count: accounts, ip }, context);
        }
      }
      if (outcome !== 'failure') return;
      const fromIp = failuresByIp.add(ip);
      if (fromIp >= rules.login_failures_ip.threshold && firstInWindow('login_failures_ip', ip)) {
        await raise('login_failures_ip', { subject: ip, count: fromIp, ip }, context);
      }
      const all = failuresAll.add('all');
      if (all >= rules.login_failures_global.threshold && firstInWindow('login_failures_global', 'all')) {
        await raise('login_failures_global', { subject: 'all', count: all }, context);
      }
    },

    async tokenRequest(clientId, ctx) {
      const { current, norm, minutes } = tokenRates.add(clientId);
      const rule = rules.token_velocity;
      const expected = minutes >= VELOCITY_WARMUP_MINUTES ? VELOCITY_FACTOR * norm : 0;
      if (current >= Math.max(rule.threshold, expected) && firstInWindow('token_velocity', clientId)) {
        await raise('token_velocity', { subject: clientId, count: current, clientId }, ctx ? requestContext(ctx) : undefined);
      }
    },

    onAnomaly(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    stop: () => {
      unsubscribe();
    },
  };
}
