// `npm run bench`: Portcullis (production mode, one worker per core, PostgreSQL) and stock
// oidc-provider (in-memory) under the same load, then Portcullis again on 1,000,000 token rows.
// Prints a table and writes bench/results/<date>.json. Settings: bench/lib/settings.ts.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { setupWorld, type World } from './lib/actors.ts';
import { flowMaterials, runFlow } from './lib/flow.ts';
import { type Portcullis, startPortcullis } from './lib/portcullis.ts';
import { machine, ratioToEmpty, ratioToStock, table, targets, writeResults } from './lib/report.ts';
import { mintAccessTokens } from './lib/requests.ts';
import { log, type ScenarioResult } from './lib/scenario.ts';
import { settings, wanted } from './lib/settings.ts';
import type { Side } from './lib/side.ts';
import { stopSigners } from './lib/sign.ts';
import { clientCredentials } from './scenarios/client-credentials.ts';
import { fullFlow, hashCpuMs } from './scenarios/full-flow.ts';
import { introspection } from './scenarios/introspection.ts';
import { passwordLogin } from './scenarios/password-login.ts';
import { refresh } from './scenarios/refresh.ts';
import { explainAdapterQueries, fillTokenRows, type Plan } from './scenarios/scale.ts';
import { startStock } from './stock/stock.ts';

// Each customer signs in at most once per TOTP step (30 s): more customers than logins per step.
const CUSTOMERS = 3000;

/** Single-use copies of real refresh tokens (same grant, consent and payload; a new id each). */
async function cloneRefreshTokens(knex: Knex, templates: string[], count: number): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomBytes(32).toString('base64url'));
  const per = Math.ceil(count / templates.length);
  for (let t = 0; t < templates.length; t++) {
    const slice = ids.slice(t * per, (t + 1) * per);
    if (!slice.length) break;
    await knex.raw(
      `INSERT INTO oidc_payloads (model, id, payload, grant_id, expires_at)
       SELECT 'RefreshToken', x.id, p.payload || jsonb_build_object('jti', x.id), p.grant_id, p.expires_at
       FROM unnest(?::text[]) AS x(id)
       CROSS JOIN (SELECT payload, grant_id, expires_at FROM oidc_payloads WHERE model = 'RefreshToken' AND id = ?) p`,
      [slice, templates[t] as string],
    );
  }
  return ids;
}

/** Complete code flows whose grants, consents and tokens the other scenarios use. */
async function completedFlows(server: Portcullis, world: World, count: number) {
  const materials = await flowMaterials(server.issuer, world.flowClient, world.tpp.key, world.dpopKey, world.customers, count);
  const tokens: { access_token: string; refresh_token?: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < materials.length) {
      const material = materials[next++];
      if (material) tokens.push((await runFlow(server, world.flowClient, material)).tokens);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return tokens;
}

function portcullisSide(server: Portcullis, world: World, refreshTemplates: string[]): Side {
  return {
    server: 'portcullis',
    phase: 'empty',
    target: server,
    observed: server.observed,
    tpp: world.tpp,
    dpopKey: world.dpopKey,
    rsSecret: world.rsSecret,
    rsKey: world.rsKey,
    jwtResource: world.rsJwt.resource,
    refreshTokens: (count) => cloneRefreshTokens(server.db.knex, refreshTemplates, count),
  };
}

async function benchPortcullis(results: ScenarioResult[]): Promise<{ postgres: string; scale?: Record<string, unknown> }> {
  log(`Portcullis: production mode, ${settings.workers} workers, fresh PostgreSQL database`);
  const server = await startPortcullis();
  try {
    const postgres = String((await server.db.knex.raw('SHOW server_version')).rows[0].server_version);
    const world = await setupWorld(server, CUSTOMERS);
    log(`setup: TPP, resource servers and ${CUSTOMERS} customers registered; 64 code flows for grants to refresh`);
    const flows = await completedFlows(server, world, 64);
    const side = portcullisSide(
      server,
      world,
      flows.map((f) => f.refresh_token as string),
    );
    const tokensSecret = await mintAccessTokens(side, world.rsSecret.resource, 256);
    const tokensKey = await mintAccessTokens(side, world.rsKey.resource, 256);
    const consentTokens = flows.map((f) => f.access_token);

    if (wanted('client_credentials')) results.push(await clientCredentials(side));
    if (wanted('introspection_secret')) results.push(await introspection(side, 'secret', tokensSecret));
    if (wanted('introspection_private_key_jwt')) results.push(await introspection(side, 'key', tokensKey));
    if (wanted('introspection_consent'))
      results.push(await introspection(side, 'secret', consentTokens, 'introspection_consent'));
    if (wanted('refresh_token')) results.push(await refresh(side));
    if (wanted('password_login')) results.push(await passwordLogin(server, world, side));
    if (wanted('full_flow')) {
      results.push(
        await fullFlow({
          server: 'portcullis',
          target: server,
          observed: server.observed,
          client: world.flowClient,
          tppKey: world.tpp.key,
          dpopKey: world.dpopKey,
          customers: world.customers,
          hashMs: await hashCpuMs(server),
        }),
      );
    }

    let scale: Record<string, unknown> | undefined;
    if (settings.scaleRows > 0 && wanted('scale')) {
      log(`scale: filling ${settings.scaleRows.toLocaleString('en')} token rows`);
      const fill = await fillTokenRows(server.db.knex, settings.scaleRows);
      const plans: Plan[] = await explainAdapterQueries(server.db.knex);
      for (const p of plans) log(`scale: plan of ${p.query}: ${p.plan[0]}${p.indexBound ? '' : ' (SEQUENTIAL SCAN)'}`);
      const big: Side = { ...side, phase: 'scale' };
      results.push(await introspection(big, 'secret', tokensSecret));
      results.push(await clientCredentials(big));
      results.push(await refresh(big));
      const rows = await server.db.knex('oidc_payloads').count<{ count: number }[]>('* as count');
      scale = { rows: settings.scaleRows, fillSeconds: fill.seconds, tableMiB: fill.tableMiB, rowsAfter: rows[0]?.count, plans };
    }
    return { postgres, ...(scale ? { scale } : {}) };
  } catch (err) {
    process.stderr.write(`\nPortcullis log tail:\n${server.proc.tail()}\n`);
    throw err;
  } finally {
    await server.stop();
  }
}

async function benchStock(results: ScenarioResult[]): Promise<void> {
  log('stock oidc-provider: one process, in-memory adapter');
  const { side, flow, proc } = await startStock();
  try {
    const tokensSecret = await mintAccessTokens(side, side.rsSecret.resource, 256);
    const tokensKey = await mintAccessTokens(side, side.rsKey.resource, 256);
    if (wanted('client_credentials')) results.push(await clientCredentials(side));
    if (wanted('introspection_secret')) results.push(await introspection(side, 'secret', tokensSecret));
    if (wanted('introspection_private_key_jwt')) results.push(await introspection(side, 'key', tokensKey));
    if (wanted('refresh_token')) results.push(await refresh(side));
    if (wanted('full_flow')) results.push(await fullFlow(flow));
  } catch (err) {
    process.stderr.write(`\nstock log tail:\n${proc.tail()}\n`);
    throw err;
  } finally {
    await proc.stop();
  }
}

async function main(): Promise<void> {
  const started = Date.now();
  const results: ScenarioResult[] = [];
  const { postgres, scale } = settings.portcullis ? await benchPortcullis(results) : { postgres: 'n/a', scale: undefined };
  if (settings.stock) await benchStock(results);
  stopSigners();

  const document = {
    date: new Date().toISOString(),
    machine: machine(postgres),
    settings: { ...settings, adminDatabaseUrl: undefined, databaseUrl: settings.databaseUrl ? '(set)' : undefined },
    notes: [
      'The load generator (autocannon, one process) runs on the same cores as the server and PostgreSQL.',
      'Signed client assertions and DPoP proofs are generated before each measured phase, never during it.',
      'CPU ms/op: user+system CPU of all server processes (cluster primary and workers) per successful operation; PG ms/op: CPU of the PostgreSQL backends serving the server.',
      'Stock oidc-provider runs as one process (its in-memory adapter cannot be shared between workers).',
    ],
    results: results.map((r) => ({
      ...r,
      ratioToStock: ratioToStock(results, r),
      ratioToEmptyDatabase: ratioToEmpty(results, r),
    })),
    targets: targets(results),
    ...(scale ? { scale } : {}),
    wallSeconds: (Date.now() - started) / 1000,
  };
  const path = writeResults(document);
  process.stdout.write(`\n${table(results)}\n\n`);
  for (const t of document.targets) {
    process.stdout.write(`${t.met ? 'met    ' : 'NOT met'}  ${t.what}: ${t.goal} -- ${t.measured}\n`);
  }
  process.stdout.write(`\nresults: ${path} (${document.wallSeconds.toFixed(0)} s)\n`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
