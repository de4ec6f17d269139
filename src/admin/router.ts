// The admin API under /admin. Every operation is declared once in `operations`: the router is
// built from that table and so is /admin/openapi.json, with the same zod schemas. The admin key
// is checked before routing (auth.ts `adminGate`, mounted by app.ts), so the document and the
// route map it describes are only for holders of a key.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { readJson } from '../http/body.ts';
import { Conflict, InvalidRequest, NotFound } from '../http/errors.ts';
import type { ProviderHolder } from '../oidc/provider.ts';
import { retireAfterSeconds } from '../oidc/provider.ts';
import { mintInitialAccessToken } from '../oidc/registration-bound.ts';
import { requestContext } from '../security/audit.ts';
import type { Services } from '../services.ts';
import type { AdminScope } from './admin-keys.ts';
import { type AdminState, requireAdminKey, requireScope } from './auth.ts';
import { findTppClient, registerClient, replaceClient } from './clients-service.ts';
import { customerDataOperations } from './customer-data-operations.ts';
import { incidentOperations } from './incident-operations.ts';
import { ipBlockOperations } from './ip-block-operations.ts';
import { openApiDocument } from './openapi.ts';
import {
  adminKeyInput,
  adminKeyOutput,
  auditEventOutput,
  auditQuery,
  clientCreateInput,
  clientOutput,
  factorHoldReleaseOutput,
  initialAccessTokenInput,
  initialAccessTokenOutput,
  keyRotateInput,
  resourceServerInput,
  resourceServerOutput,
  signingKeyOutput,
  userCreateInput,
  userOutput,
} from './schemas.ts';
import { parseInput } from './validation.ts';

export interface Operation {
  method: 'get' | 'post' | 'put' | 'delete';
  path: string;
  scope: AdminScope;
  /** The audit event a successful call records; reads record `admin_key.used`. */
  audit?: string;
  /** The handler records its own, more detailed audit event; the router records none. */
  selfAudited?: boolean;
  /** What the router's audit event records of the result, beside the operation and its path parameters. */
  auditDetails?(result: unknown): Record<string, unknown>;
  summary: string;
  input?: z.ZodType;
  /** Query-string parameters, documented in OpenAPI. */
  query?: z.ZodObject;
  output?: z.ZodType;
  status: number;
  handle(ctx: Context, body: unknown): Promise<unknown>;
}

const isUniqueViolation = (err: unknown) => (err as { code?: string })?.code === '23505';

export function adminOperations(services: Services, holder: ProviderHolder): Operation[] {
  const { clients, resourceServers, adminKeys, keys, customers, config } = services;
  const tppClient = (id: string) => findTppClient(services, id);
  const setStatus = async (id: string, status: 'active' | 'suspended') => {
    await tppClient(id);
    return clients.setStatus(id, status);
  };

  return [
    {
      method: 'post',
      path: '/admin/clients',
      audit: 'client.created',
      scope: 'clients:write',
      summary: 'Register a TPP client (RFC 7591 metadata, FAPI 2.0 rules)',
      input: clientCreateInput,
      output: clientOutput,
      status: 201,
      handle: (_ctx, body) => registerClient(services, holder, body),
    },
    {
      method: 'get',
      path: '/admin/clients',
      scope: 'clients:read',
      summary: 'List TPP clients',
      output: z.array(clientOutput),
      status: 200,
      handle: () => clients.list({ kind: 'tpp' }),
    },
    {
      method: 'get',
      path: '/admin/clients/:id',
      scope: 'clients:read',
      summary: 'Read one TPP client',
      output: clientOutput,
      status: 200,
      handle: (ctx) => tppClient(ctx.params.id),
    },
    {
      method: 'put',
      path: '/admin/clients/:id',
      audit: 'client.changed',
      scope: 'clients:write',
      summary: "Replace a TPP client's metadata",
      input: clientCreateInput,
      output: clientOutput,
      status: 200,
      handle: (ctx, body) => replaceClient(services, holder, ctx.params.id, body),
    },
    {
      method: 'post',
      path: '/admin/clients/:id/suspend',
      audit: 'client.suspended',
      scope: 'clients:write',
      summary: 'Suspend a client: it can no longer authenticate and its tokens stop introspecting as active',
      output: clientOutput,
      status: 200,
      handle: (ctx) => setStatus(ctx.params.id, 'suspended'),
    },
    {
      method: 'post',
      path: '/admin/clients/:id/activate',
      audit: 'client.activated',
      scope: 'clients:write',
      summary: 'Lift a suspension',
      output: clientOutput,
      status: 200,
      handle: (ctx) => setStatus(ctx.params.id, 'active'),
    },
    {
      method: 'delete',
      path: '/admin/clients/:id',
      audit: 'client.deleted',
      scope: 'clients:write',
      summary: 'Delete a client',
      status: 204,
      async handle(ctx) {
        await tppClient(ctx.params.id);
        await clients.remove(ctx.params.id);
        return undefined;
      },
    },
    {
      method: 'post',
      path: '/admin/resource-servers',
      audit: 'resource_server.created',
      scope: 'resource-servers:write',
      summary: 'Register a resource server (API): its resource indicator, scopes and token format',
      input: resourceServerInput,
      output: resourceServerOutput,
      status: 201,
      async handle(_ctx, body) {
        const input = parseInput(resourceServerInput, body, 'generic');
        if (input.auth_method === 'private_key_jwt' && !input.jwks) {
          throw new InvalidRequest('jwks: is required when auth_method is private_key_jwt');
        }
        try {
          const { resourceServer, clientSecret } = await resourceServers.create({
            ...input,
            auth:
              input.auth_method === 'private_key_jwt' && input.jwks
                ? { method: 'private_key_jwt', jwks: input.jwks }
                : { method: 'client_secret_basic' },
          });
          return { ...resourceServer, ...(clientSecret ? { client_secret: clientSecret } : {}) };
        } catch (err) {
          if (isUniqueViolation(err)) throw new Conflict(`resource ${input.resource} is already registered`);
          throw err;
        }
      },
    },
    {
      method: 'get',
      path: '/admin/resource-servers',
      scope: 'clients:read',
      summary: 'List resource servers',
      output: z.array(resourceServerOutput),
      status: 200,
      handle: () => resourceServers.list(),
    },
    {
      method: 'delete',
      path: '/admin/resource-servers/:id',
      audit: 'resource_server.deleted',
      scope: 'resource-servers:write',
      summary: 'Delete a resource server',
      status: 204,
      async handle(ctx) {
        if (!(await resourceServers.remove(ctx.params.id))) throw new NotFound(`no resource server ${ctx.params.id}`);
        return undefined;
      },
    },
    {
      method: 'post',
      path: '/admin/initial-access-tokens',
      audit: 'initial_access_token.created',
      scope: 'clients:write',
      summary:
        'Mint an initial access token for RFC 7591 dynamic registration, bounding the authorization_details types the TPP may register',
      input: initialAccessTokenInput,
      output: initialAccessTokenOutput,
      status: 201,
      async handle(_ctx, body) {
        const { ttl, authorization_details_types: types } = parseInput(initialAccessTokenInput, body ?? {}, 'generic');
        const token = await mintInitialAccessToken(holder.current, ttl, types);
        return { initial_access_token: token, expires_in: ttl, authorization_details_types: types };
      },
      auditDetails: (result) => {
        const { expires_in, authorization_details_types } = result as z.infer<typeof initialAccessTokenOutput>;
        return { expires_in, authorization_details_types };
      },
    },
    {
      method: 'get',
      path: '/admin/keys',
      scope: 'keys:read',
      summary: 'List signing keys and their states',
      output: z.array(signingKeyOutput),
      status: 200,
      handle: () => keys.list(),
    },
    {
      method: 'post',
      path: '/admin/keys/rotate',
      audit: 'signing_keys.rotated',
      scope: 'keys:rotate',
      summary: 'Rotate signing keys: publish new keys, promote them after the delay, retire the old ones',
      input: keyRotateInput,
      output: z.array(signingKeyOutput),
      status: 200,
      async handle(_ctx, body) {
        const { publish_delay } = parseInput(keyRotateInput, body ?? {}, 'generic');
        const listed = await keys.rotate(config.SIGNING_ALGS, {
          publishDelaySeconds: publish_delay ?? config.KEY_REFRESH_SECONDS * 2,
          retireAfterSeconds: retireAfterSeconds(config),
        });
        await holder.refresh();
        return listed;
      },
    },
    {
      method: 'post',
      path: '/admin/users',
      audit: 'customer.created',
      scope: 'users:write',
      summary: 'Create a bank customer (password hashed with argon2id)',
      input: userCreateInput,
      output: userOutput,
      status: 201,
      async handle(_ctx, body) {
        const { username, password } = parseInput(userCreateInput, body, 'generic');
        try {
          return await customers.create(username, password);
        } catch (err) {
          if (isUniqueViolation(err)) throw new Conflict('that username is taken');
          throw err;
        }
      },
    },
    {
      method: 'post',
      path: '/admin/users/:id/unlock',
      audit: 'customer.unlocked',
      scope: 'users:write',
      summary: 'Lift a lockout after failed sign-in attempts (PSD2 RTS Art. 4(3)(b)): counts reset, any block ended',
      output: userOutput,
      status: 200,
      async handle(ctx) {
        if (!(await services.authentication.lockout.unlock(ctx.params.id))) throw new NotFound(`no user ${ctx.params.id}`);
        return customers.findById(ctx.params.id);
      },
    },
    {
      method: 'post',
      path: '/admin/users/:id/release-factor-hold',
      audit: 'customer.factor_hold_released',
      scope: 'users:write',
      summary:
        'End the hold on second factors enrolled after a recovery sign-in (RECOVERY_FACTOR_HOLD_HOURS), once the customer is verified by other means',
      output: factorHoldReleaseOutput,
      status: 200,
      async handle(ctx) {
        const customer = await customers.findById(ctx.params.id);
        if (!customer) throw new NotFound(`no user ${ctx.params.id}`);
        const released = await services.authentication.factors.releaseHolds(customer.id);
        return { id: customer.id, username: customer.username, factors_released: released };
      },
      auditDetails: (result) => ({
        factors_released: (result as z.infer<typeof factorHoldReleaseOutput>).factors_released,
      }),
    },
    {
      method: 'get',
      path: '/admin/audit',
      scope: 'audit:read',
      summary: 'Read the audit log, oldest first, filtered by time, event type, customer or client; page with after_id',
      query: auditQuery,
      output: z.array(auditEventOutput),
      status: 200,
      async handle(ctx) {
        const q = parseInput(auditQuery, ctx.query, 'generic');
        return services.audit.query({
          since: q.since ? new Date(q.since) : undefined,
          until: q.until ? new Date(q.until) : undefined,
          type: q.type,
          customerId: q.customer_id,
          clientId: q.client_id,
          afterId: q.after_id,
          limit: q.limit,
        });
      },
    },
    {
      method: 'get',
      path: '/admin/admin-keys',
      scope: 'admin-keys:write',
      summary: 'List admin keys (never the keys themselves)',
      output: z.array(adminKeyOutput),
      status: 200,
      handle: () => adminKeys.list(),
    },
    {
      method: 'post',
      path: '/admin/admin-keys',
      audit: 'admin_key.created',
      scope: 'admin-keys:write',
      summary: 'Create an admin key; the key is in the response once',
      input: adminKeyInput,
      output: adminKeyOutput,
      status: 201,
      async handle(_ctx, body) {
        const { name, scopes } = parseInput(adminKeyInput, body, 'generic');
        try {
          const { key, record } = await adminKeys.create(name, scopes);
          return { ...record, key };
        } catch (err) {
          if (isUniqueViolation(err)) throw new Conflict(`an admin key named ${name} exists`);
          throw err;
        }
      },
    },
    {
      method: 'delete',
      path: '/admin/admin-keys/:name',
      audit: 'admin_key.revoked',
      scope: 'admin-keys:write',
      summary: 'Revoke an admin key by name or id',
      status: 204,
      async handle(ctx) {
        if (!(await adminKeys.revoke(ctx.params.name))) throw new NotFound(`no active admin key ${ctx.params.name}`);
        return undefined;
      },
    },
  ];
}

export function createAdminRouter(services: Services, holder: ProviderHolder): Router<AdminState> {
  const router = new Router<AdminState>();
  const operations = [
    ...adminOperations(services, holder),
    ...incidentOperations(services, holder),
    ...customerDataOperations(services, holder),
    ...ipBlockOperations(services),
  ];
  const document = openApiDocument(operations, services.config.ISSUER);

  router.use(requireAdminKey);
  router.get('/admin/openapi.json', (ctx) => {
    ctx.body = document;
  });

  for (const op of operations) {
    router[op.method](op.path, requireScope(op.scope), async (ctx) => {
      const sent = Boolean(ctx.request.length || ctx.get('transfer-encoding'));
      const body = op.input && sent ? await readJson(ctx, services.config.BODY_LIMIT_BYTES) : undefined;
      const result = await op.handle(ctx as unknown as Context, body);
      const target = (result as { client_id?: string } | undefined)?.client_id;
      if (!op.selfAudited)
        await services.audit.record({
          type: op.audit ?? 'admin_key.used',
          outcome: 'success',
          actor: { type: 'admin', id: ctx.state.adminKey.name },
          clientId: op.path.startsWith('/admin/clients') ? (ctx.params.id ?? target) : undefined,
          customerId: op.path.startsWith('/admin/users') ? (ctx.params.id ?? (result as { id?: string })?.id) : undefined,
          ...requestContext(ctx),
          details: { operation: `${op.method.toUpperCase()} ${op.path}`, ...ctx.params, ...op.auditDetails?.(result) },
        });
      ctx.status = op.status;
      // The body is what the schema documents (and OpenAPI publishes), nothing more.
      if (op.status !== 204) ctx.body = op.output ? op.output.parse(result) : result;
    });
  }
  return router;
}
