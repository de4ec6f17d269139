// client_credentials: private_key_jwt (ES256) + DPoP -> a DPoP-bound JWT access token (ES256).
// Per request the server verifies two ES256 signatures, records two jtis against replay, and
// signs one JWT.
import { tokenRequests } from '../lib/requests.ts';
import { measureLoad, type ScenarioResult } from '../lib/scenario.ts';
import type { Side } from '../lib/side.ts';

export const clientCredentials = (side: Side): Promise<ScenarioResult> =>
  measureLoad({
    scenario: 'client_credentials',
    server: side.server,
    phase: side.phase,
    unit: 'token',
    target: side.target,
    observed: side.observed,
    estimate: 2000,
    expect: '"token_type":"DPoP"',
    build: (count) =>
      tokenRequests(side, count, () => ({ grant_type: 'client_credentials', scope: 'accounts', resource: side.jwtResource })),
  });
