// refresh_token grant with DPoP and rotation: each pre-minted refresh token of a real grant is
// used once; the answer carries a new refresh token (rotation), a DPoP-bound access token and,
// for an openid grant, an ID token.
import { tokenRequests } from '../lib/requests.ts';
import { measureLoad, type ScenarioResult } from '../lib/scenario.ts';
import type { Side } from '../lib/side.ts';

export const refresh = (side: Side): Promise<ScenarioResult> =>
  measureLoad({
    scenario: 'refresh_token',
    server: side.server,
    phase: side.phase,
    unit: 'refresh',
    target: side.target,
    observed: side.observed,
    estimate: 1000,
    expect: '"refresh_token"',
    async build(count) {
      const tokens = await side.refreshTokens(count);
      return tokenRequests(side, count, (i) => ({ grant_type: 'refresh_token', refresh_token: tokens[i] as string }));
    },
  });
