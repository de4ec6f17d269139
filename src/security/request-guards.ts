// What stands in front of every route of a running server, in order: the IP block list, then the
// rate limiter (which feeds anomaly detection). Built once per server (the CLI needs none of it)
// and closed at shutdown (the Redis connection, the counter sweep, the audit subscription).

import type { Middleware } from 'koa';
import compose from 'koa-compose';
import { metrics } from '../observability/metrics.ts';
import { sharedSecret } from '../oidc/server-secrets.ts';
import type { Services } from '../services.ts';
import { type AnomalyDetector, createAnomalyDetector } from './anomalies/detector.ts';
import { effectiveRules } from './anomalies/rules.ts';
import { createWebhook } from './anomalies/webhook.ts';
import { ipBlockGuard } from './ip-block-guard.ts';
import { customerKeyer } from './rate-limit/identity.ts';
import { rateLimiter } from './rate-limit/middleware.ts';
import { effectivePolicy } from './rate-limit/overrides.ts';
import { createLimiterStore, type StoreKind } from './rate-limit/store.ts';
import { createTierLookup } from './rate-limit/tiers.ts';

export interface RequestGuards {
  middleware: Middleware;
  anomalies: AnomalyDetector;
  store: StoreKind;
  close(): Promise<void>;
}

export async function startRequestGuards(services: Services): Promise<RequestGuards> {
  const { config, db, logger, audit } = services;
  const store = await createLimiterStore(config, db, logger);
  const anomalies = createAnomalyDetector({
    rules: effectiveRules(config.ANOMALY_THRESHOLDS),
    audit,
    ipBlocks: services.ipBlocks,
    logger,
    blockMinutes: config.ANOMALY_BLOCK_MINUTES,
    webhook: createWebhook(config.ANOMALY_WEBHOOK_URL, logger),
    issuer: config.ISSUER,
  });
  const stopCounting = anomalies.onAnomaly((anomaly) => metrics.anomalies.inc({ rule: anomaly.rule }));
  const limiter = rateLimiter({
    policy: effectivePolicy(config),
    store,
    keyPrefix: config.RATE_LIMIT_KEY_PREFIX,
    tierOf: createTierLookup(services.clients, config.CLIENT_CACHE_TTL_MS),
    customerKey: customerKeyer(await sharedSecret(db.knex, services.cipher, 'rate_limit_key')),
    audit,
    logger,
    hooks: {
      rejected: (family, dimension) => metrics.rateLimitRejections.inc({ family, dimension }),
      credentialAttempt: (attempt, ctx) => anomalies.credentialAttempt(attempt, ctx),
      tokenRequest: (clientId, ctx) => anomalies.tokenRequest(clientId, ctx),
    },
  });
  logger.info({ store: store.kind }, 'rate limits active');
  return {
    middleware: compose([ipBlockGuard(services.ipBlocks, logger), limiter]),
    anomalies,
    store: store.kind,
    async close() {
      stopCounting();
      anomalies.stop();
      await store.close();
    },
  };
}
