// Password login alone, at the OWASP argon2id parameters (m=19 MiB, t=2, p=1): the login form
// POST of prepared interactions (PAR, authorize and the login page are done before timing),
// each answered with a 303 onwards. Beside it runs a probe: client_credentials at a fixed low
// rate, whose p99 shows whether signing queues behind hashing (it is first measured alone).
import { availableParallelism } from 'node:os';
import type { World } from '../lib/actors.ts';
import { authorizePath, firstForm, flowMaterials, pushAuthorization } from '../lib/flow.ts';
import { CookieJar, localPath, proxyHeaders, send } from '../lib/http.ts';
import { type BenchRequest, runLoad } from '../lib/load.ts';
import type { Portcullis } from '../lib/portcullis.ts';
import { tokenRequests } from '../lib/requests.ts';
import { formBody, log, measureLoad, type ScenarioResult } from '../lib/scenario.ts';
import { settings } from '../lib/settings.ts';
import type { Side } from '../lib/side.ts';

const PROBE_RATE = 50;

/** `count` interactions waiting at the login page, as login POSTs ready to send. */
async function preparedLogins(server: Portcullis, world: World, count: number): Promise<BenchRequest[]> {
  const materials = await flowMaterials(server.issuer, world.flowClient, world.tpp.key, world.dpopKey, world.customers, count);
  const out: BenchRequest[] = [];
  let next = 0;
  const worker = async () => {
    while (next < materials.length) {
      const material = materials[next++];
      if (!material) return;
      const requestUri = await pushAuthorization(server, world.flowClient, material);
      const jar = new CookieJar();
      const authorize = await send(server, authorizePath(world.flowClient, requestUri), { jar });
      const page = await send(server, localPath(server, authorize.headers.get('location') ?? '') ?? '/', { jar });
      const form = firstForm(page.text);
      if (!form?.fields.some((f) => f.name === 'password'))
        throw new Error(`expected the login page: ${page.text.slice(0, 300)}`);
      const fields: Record<string, string> = {};
      for (const field of form.fields) if (field.type === 'hidden') fields[field.name] = field.value;
      out.push({
        method: 'POST',
        path: localPath(server, form.action) ?? form.action,
        headers: { ...proxyHeaders(server), 'content-type': 'application/x-www-form-urlencoded', cookie: jar.header() },
        body: formBody({ ...fields, username: material.username, password: material.password }),
      });
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

export async function passwordLogin(server: Portcullis, world: World, side: Side): Promise<ScenarioResult> {
  const probe = async (duration: number) =>
    runLoad(
      {
        url: server.url,
        connections: 4,
        duration,
        overallRate: PROBE_RATE,
        expect: '"token_type":"DPoP"',
        requests: await tokenRequests(side, Math.ceil(PROBE_RATE * (duration + 2)), () => ({
          grant_type: 'client_credentials',
          scope: 'accounts',
          resource: side.jwtResource,
        })),
      },
      server.observed,
    );
  log(`password_login [portcullis]: signing probe alone (${PROBE_RATE} client_credentials/s)`);
  const alone = await probe(Math.max(3, Math.min(settings.duration, 5)));
  const probeCpuPerOp = alone.serverCpuMs / Math.max(1, alone.load.good);
  const probeRequests = await tokenRequests(side, Math.ceil(PROBE_RATE * (settings.duration + 2)), () => ({
    grant_type: 'client_credentials',
    scope: 'accounts',
    resource: side.jwtResource,
  }));
  let underLoad: Awaited<ReturnType<typeof probe>> | undefined;
  const result = await measureLoad({
    scenario: 'password_login',
    server: 'portcullis',
    phase: 'empty',
    unit: 'login',
    target: server,
    observed: server.observed,
    estimate: 40,
    expectStatus: 303,
    connections: 16,
    build: (count) => preparedLogins(server, world, count),
    alongside: async () => {
      underLoad = await runLoad(
        {
          url: server.url,
          connections: 4,
          duration: settings.duration,
          overallRate: PROBE_RATE,
          expect: '"token_type":"DPoP"',
          requests: probeRequests,
        },
        server.observed,
      );
      return undefined;
    },
  });
  // The probe's own CPU ran in the same window: take it out of the per-login figure.
  const logins = Math.max(1, result.good);
  const probeCpu = (underLoad?.load.good ?? 0) * probeCpuPerOp;
  log(
    `password_login [portcullis]: signing probe p99 ${alone.load.latencyMs.p99} ms alone, ` +
      `${underLoad?.load.latencyMs.p99 ?? '?'} ms under login load`,
  );
  return {
    ...result,
    serverCpuMsPerOp: Math.max(0, result.serverCpuMsPerOp - probeCpu / logins),
    extra: {
      signingProbe: {
        rate: PROBE_RATE,
        aloneP50Ms: alone.load.latencyMs.p50,
        aloneP99Ms: alone.load.latencyMs.p99,
        underLoginLoadP50Ms: underLoad?.load.latencyMs.p50,
        underLoginLoadP99Ms: underLoad?.load.latencyMs.p99,
        bad: underLoad?.load.bad,
      },
      argon2: {
        memoryKiB: server.config.ARGON2_MEMORY_KIB,
        timeCost: server.config.ARGON2_TIME_COST,
        parallelism: server.config.ARGON2_PARALLELISM,
        // The whole server's allowance (src/accounts/hash-permits.ts): the setting, or every core but one.
        maxConcurrency: Number(settings.serverEnv.ARGON2_MAX_CONCURRENCY ?? Math.max(1, availableParallelism() - 1)),
      },
    },
  };
}
