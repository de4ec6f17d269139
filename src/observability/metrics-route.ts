// GET /metrics in the Prometheus text format. On the internal admin listener (ADMIN_PORT) it is
// open, as scrapers expect; on the public listener it needs an admin key with `metrics:read`
// (BRIEF, data protection: metrics stay away from the public OAuth endpoints). Scrapes are not
// written to the audit log (one every few seconds would bury the events that matter); the key's
// last use is still stamped.
import Router from '@koa/router';
import type { AdminKeyStore } from '../admin/admin-keys.ts';
import { type AdminState, requireAdmin, requireScope } from '../admin/auth.ts';
import { registry } from './metrics.ts';

export function metricsRouter(options: { adminKeys: AdminKeyStore; requireKey: boolean }): Router<AdminState> {
  const router = new Router<AdminState>();
  const guards = options.requireKey ? [requireAdmin(options.adminKeys), requireScope('metrics:read')] : [];
  router.get('/metrics', ...guards, async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = registry.contentType;
    ctx.body = await registry.metrics();
  });
  return router;
}
