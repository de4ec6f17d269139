// Starts stock oidc-provider (server.ts) for the comparison, with its own keys and clients.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REDIRECT_URI } from '../lib/actors.ts';
import type { ServerProcess } from '../lib/server-process.ts';
import { freePort, startProcess } from '../lib/server-process.ts';
import { settings } from '../lib/settings.ts';
import type { Side } from '../lib/side.ts';
import { newKey } from '../lib/sign.ts';
import type { FlowSide } from '../scenarios/full-flow.ts';
import type { StockSetup } from './server.ts';

export const STOCK_ISSUER = 'https://stock.bench';

export async function startStock(): Promise<{ side: Side; flow: FlowSide; proc: ServerProcess }> {
  const port = await freePort();
  const signing = await newKey('stock-signing');
  const tppKey = await newKey('stock-tpp-1');
  const rsKey = await newKey('stock-rs-1');
  const secret = `rss_${randomBytes(32).toString('base64url')}`;
  const setup: StockSetup = {
    issuer: STOCK_ISSUER,
    port,
    signingJwk: signing.privateJwk,
    tpp: { clientId: 'stock-tpp', jwks: { keys: [tppKey.publicJwk] }, redirectUri: REDIRECT_URI },
    rsSecret: { clientId: 'stock-rs-secret', secret },
    rsKey: { clientId: 'stock-rs-key', jwks: { keys: [rsKey.publicJwk] } },
    resources: { opaque: ['https://api.bench/accounts', 'https://api.bench/payments'], jwt: 'https://api.bench/jwt' },
  };
  const file = join(mkdtempSync(join(tmpdir(), 'portcullis-bench-stock-')), 'setup.json');
  writeFileSync(file, JSON.stringify(setup));
  const proc = await startProcess({
    name: 'stock oidc-provider',
    args: [
      ...(settings.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${join(settings.cpuProfileDir, 'stock')}`] : []),
      new URL('./server.ts', import.meta.url).pathname,
      file,
    ],
    env: { ...(process.env as Record<string, string>), NODE_ENV: 'production' },
    ready: /stock oidc-provider listening/,
  });
  const target = { url: `http://127.0.0.1:${port}`, issuer: STOCK_ISSUER };
  const side: Side = {
    server: 'stock',
    phase: 'empty',
    target,
    observed: { serverPids: () => [proc.pid], workerPids: () => [proc.pid], databasePids: async () => [] },
    tpp: { clientId: setup.tpp.clientId, key: tppKey },
    dpopKey: await newKey('stock-dpop'),
    rsSecret: { clientId: setup.rsSecret.clientId, secret, resource: 'https://api.bench/accounts' },
    rsKey: { clientId: setup.rsKey.clientId, key: rsKey, resource: 'https://api.bench/payments' },
    jwtResource: setup.resources.jwt,
    async refreshTokens(count) {
      const response = await fetch(`${target.url}/bench/refresh-tokens?count=${count}`, { method: 'POST' });
      if (!response.ok) throw new Error(`stock refresh-token mint: ${response.status} ${await response.text()}`);
      return ((await response.json()) as { tokens: string[] }).tokens;
    },
  };
  const flow: FlowSide = {
    server: 'stock',
    target,
    observed: side.observed,
    client: {
      clientId: setup.tpp.clientId,
      redirectUri: REDIRECT_URI,
      resource: 'https://api.bench/accounts',
      scope: 'openid accounts',
      authorizationDetails: [{ type: 'account_information', permissions: ['balances', 'transactions'] }],
    },
    tppKey,
    dpopKey: side.dpopKey,
    // The development login page takes any name and password.
    customers: [{ username: 'customer-1', password: 'any' }],
    hashMs: 0,
  };
  return { side, flow, proc };
}
