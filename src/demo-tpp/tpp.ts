// The demo third party itself: a real OAuth client built with openid-client, talking to this
// server over HTTP exactly as an outside TPP would. FAPI 2.0 all the way: PAR, PKCE S256,
// private_key_jwt with its own ES256 key, DPoP-bound tokens with a fresh key per flow. It also
// plays the demo resource server, introspecting the access token with its own credentials.
import { importJWK, type JWK } from 'jose';
import * as client from 'openid-client';
import type { DemoCredentials } from '../demo.ts';
import { type Flow, flowRequest } from './flows.ts';
import type { PendingFlow } from './pending.ts';

/** A step of the flow failed; `step` says which, in words a newcomer understands. */
export class DemoStepError extends Error {
  readonly step: string;
  constructor(step: string, cause: unknown) {
    super(`demo TPP: ${step} failed`, { cause });
    this.step = step;
  }
}

// The ID token should say how the customer was authenticated. oidc-provider (conformIdTokenClaims)
// adds acr, amr and auth_time only when asked; an essential acr is also what makes the bank insist
// on PSD2 customer authentication (one factor at least; the bank performs SCA where the RTS needs
// it, and the ID token then says `sca`).
const ID_TOKEN_CLAIMS = JSON.stringify({
  id_token: {
    acr: { essential: true, values: ['urn:openbanking:psd2:sca', 'urn:openbanking:psd2:ca'] },
    amr: null,
    auth_time: { essential: true },
  },
});

async function step<T>(name: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    // The customer's own answer (a decline) is an outcome, not a failure of the step.
    if (err instanceof client.AuthorizationResponseError) throw err;
    throw new DemoStepError(name, err);
  }
}

export interface Authorised {
  outcome: 'authorised';
  tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
  introspection: client.IntrospectionResponse;
  dpopPublicKey: CryptoKey;
}

export interface Refused {
  outcome: 'refused';
  error: string;
  description?: string;
  /** The issuer the response came from (RFC 9207), already checked against ours. */
  iss: string | null;
}

export interface DemoTpp {
  /** Pushes the flow's authorization request (PAR) and says where to send the browser. */
  start(flow: Flow): Promise<{ pending: PendingFlow; authorizationUrl: URL }>;
  /** Redeems the authorization response at the token endpoint, then introspects the access token. */
  finish(callbackUrl: URL, pending: PendingFlow): Promise<Authorised | Refused>;
}

interface Clients {
  tpp: client.Configuration;
  resourceServer: client.Configuration;
}

export function createDemoTpp(issuer: string, credentials: DemoCredentials): DemoTpp {
  const insecure = new URL(issuer).protocol === 'http:';
  let clients: Promise<Clients> | undefined;

  // Discovery needs this server to be listening, so it happens on first use, not at start-up;
  // a failure is not cached, so the next click tries again.
  const discover = async (): Promise<Clients> => {
    const key = (await importJWK(credentials.client_private_jwk as JWK, 'ES256')) as CryptoKey;
    const kid = credentials.client_private_jwk.kid as string | undefined;
    const tpp = await client.discovery(
      new URL(issuer),
      credentials.client_id,
      undefined,
      client.PrivateKeyJwt(kid ? { key, kid } : key),
      insecure ? { execute: [client.allowInsecureRequests] } : undefined,
    );
    const resourceServer = new client.Configuration(
      tpp.serverMetadata(),
      credentials.resource_server_client_id,
      undefined,
      client.ClientSecretBasic(credentials.resource_server_client_secret),
    );
    if (insecure) client.allowInsecureRequests(resourceServer);
    return { tpp, resourceServer };
  };
  const configured = () => {
    clients ??= discover().catch((err) => {
      clients = undefined;
      throw err;
    });
    return step('discovering the authorization server', () => clients as Promise<Clients>);
  };

  return {
    async start(flow) {
      const { tpp } = await configured();
      const request = flowRequest(flow);
      const codeVerifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const dpopKeys = await client.randomDPoPKeyPair('ES256');
      const authorizationUrl = await step('pushing the authorization request (PAR)', async () =>
        client.buildAuthorizationUrlWithPAR(
          tpp,
          {
            redirect_uri: credentials.redirect_uri,
            scope: request.scope,
            state,
            code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
            code_challenge_method: 'S256',
            resource: credentials.resource,
            authorization_details: JSON.stringify(request.authorizationDetails),
            claims: ID_TOKEN_CLAIMS,
          },
          // DPoP at PAR binds the future code to this key (RFC 9449 section 10, dpop_jkt).
          { DPoP: client.getDPoPHandle(tpp, dpopKeys) },
        ),
      );
      return { pending: { flow, state, codeVerifier, dpopKeys }, authorizationUrl };
    },

    async finish(callbackUrl, pending) {
      const { tpp, resourceServer } = await configured();
      let tokens: Authorised['tokens'];
      try {
        tokens = await step('redeeming the authorization code at the token endpoint', () =>
          // openid-client retries once by itself when the server answers use_dpop_nonce.
          client.authorizationCodeGrant(
            tpp,
            callbackUrl,
            { pkceCodeVerifier: pending.codeVerifier, expectedState: pending.state, idTokenExpected: true },
            { resource: credentials.resource },
            { DPoP: client.getDPoPHandle(tpp, pending.dpopKeys) },
          ),
        );
      } catch (err) {
        // Thrown only after openid-client checked `iss` (RFC 9207) and `state` of the response.
        if (!(err instanceof client.AuthorizationResponseError)) throw err;
        return {
          outcome: 'refused',
          error: err.error,
          ...(err.error_description ? { description: err.error_description } : {}),
          iss: callbackUrl.searchParams.get('iss'),
        };
      }
      const introspection = await step('introspecting the access token as the resource server', () =>
        client.tokenIntrospection(resourceServer, tokens.access_token),
      );
      return { outcome: 'authorised', tokens, introspection, dpopPublicKey: pending.dpopKeys.publicKey };
    },
  };
}
