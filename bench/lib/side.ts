// What a scenario needs from the server it measures, the same shape for Portcullis and for
// stock oidc-provider, so each scenario is written once.
import type { ResourceServerActor } from './actors.ts';
import type { Target } from './http.ts';
import type { Observed } from './load.ts';
import type { ServerName } from './scenario.ts';
import type { SigningKey } from './sign.ts';

export interface Side {
  server: ServerName;
  phase: 'empty' | 'scale';
  target: Target;
  observed: Observed;
  tpp: { clientId: string; key: SigningKey };
  dpopKey: SigningKey;
  /** Opaque tokens, resource server authenticating with client_secret_basic. */
  rsSecret: ResourceServerActor;
  /** Opaque tokens, resource server authenticating with private_key_jwt. */
  rsKey: ResourceServerActor;
  /** The resource whose access tokens are JWTs. */
  jwtResource: string;
  /** `count` unused refresh tokens of real grants, each to be used once. */
  refreshTokens(count: number): Promise<string[]>;
}
