// Introspection (RFC 7662) of opaque DPoP-bound access tokens by a resource server, with either
// authentication method: a secret (stored as SHA-256; requests may repeat) or private_key_jwt
// (a fresh assertion per request). Every answer must say `"active":true`.
import { introspectionRequests } from '../lib/requests.ts';
import { measureLoad, type ScenarioResult } from '../lib/scenario.ts';
import type { Side } from '../lib/side.ts';

export const introspection = (
  side: Side,
  auth: 'secret' | 'key',
  tokens: string[],
  scenario = `introspection_${auth === 'secret' ? 'secret' : 'private_key_jwt'}`,
): Promise<ScenarioResult> =>
  measureLoad({
    scenario,
    server: side.server,
    phase: side.phase,
    unit: 'introspection',
    target: side.target,
    observed: side.observed,
    estimate: auth === 'secret' ? 5000 : 2500,
    expect: '"active":true',
    repeat: auth === 'secret',
    build: (count) => introspectionRequests(side, auth, tokens, count),
  });
