// The FAPI 2.0 authorization-code flow over plain HTTP, as a TPP and a customer's browser drive
// it: PAR (private_key_jwt, PKCE S256, DPoP), the authorization redirect, the bank's own HTML
// forms (login, second factor when asked, consent, account choice: each with its CSRF field),
// the code back at the redirect URI, and the token request with DPoP. Signed material comes
// pre-generated (FlowMaterial) so the driver itself only does HTTP and HTML.
import { createHash, randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { CookieJar, localPath, type Reply, send, type Target } from './http.ts';
import { ASSERTION_TYPE, assertions, dpopProofs, type SigningKey } from './sign.ts';

export interface FlowClient {
  clientId: string;
  redirectUri: string;
  resource: string;
  scope: string;
  authorizationDetails: unknown[];
}

export interface FlowMaterial {
  parAssertion: string;
  parDpop: string;
  tokenAssertion: string;
  tokenDpop: string;
  verifier: string;
  challenge: string;
  state: string;
  username: string;
  password: string;
  /** The customer's authenticator app: answers the second-factor form when SCA is asked. */
  totpSecret?: string;
}

export interface FlowResult {
  tokens: { access_token: string; refresh_token?: string; id_token?: string };
  /** Milliseconds per step (summed when a step repeats). */
  steps: Record<string, number>;
}

export interface Customer {
  username: string;
  password: string;
  totpSecret?: string;
}

// Customers are handed out round-robin across every batch of flows in the run: with enough of
// them, no customer signs in twice within one TOTP time step (each step is accepted once).
let customerCursor = 0;

/** Pre-generates the signed parts of `count` flows (one DPoP key for all, bound at PAR). */
export async function flowMaterials(
  issuer: string,
  client: FlowClient,
  clientKey: SigningKey,
  dpopKey: SigningKey,
  customers: Customer[],
  count: number,
): Promise<FlowMaterial[]> {
  const [parAssertions, tokenAssertions, parProofs, tokenProofs] = await Promise.all([
    assertions(clientKey, client.clientId, issuer, count),
    assertions(clientKey, client.clientId, issuer, count),
    dpopProofs(dpopKey, 'POST', `${issuer}/request`, count),
    dpopProofs(dpopKey, 'POST', `${issuer}/token`, count),
  ]);
  return Array.from({ length: count }, (_, i) => {
    const verifier = randomBytes(32).toString('base64url');
    const customer = customers[customerCursor++ % customers.length] as Customer;
    return {
      parAssertion: parAssertions[i] as string,
      parDpop: parProofs[i] as string,
      tokenAssertion: tokenAssertions[i] as string,
      tokenDpop: tokenProofs[i] as string,
      verifier,
      challenge: createHash('sha256').update(verifier).digest('base64url'),
      state: randomBytes(16).toString('base64url'),
      username: customer.username,
      password: customer.password,
      ...(customer.totpSecret ? { totpSecret: customer.totpSecret } : {}),
    };
  });
}

export interface Form {
  action: string;
  fields: { name: string; value: string; type: string }[];
  buttons: { name: string; value: string }[];
}

const decode = (value: string) =>
  value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

const attribute = (tag: string, name: string) => {
  const match = new RegExp(`\\s${name}="([^"]*)"`).exec(tag);
  return match ? decode(match[1] as string) : undefined;
};

function forms(html: string): Form[] {
  return [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)].map((m) => {
    const [, open = '', inner = ''] = m;
    return {
      action: attribute(open, 'action') ?? '',
      fields: [...inner.matchAll(/<input\b[^>]*>/g)].map(([tag]) => ({
        name: attribute(tag, 'name') ?? '',
        value: attribute(tag, 'value') ?? '',
        type: attribute(tag, 'type') ?? 'text',
      })),
      buttons: [...inner.matchAll(/<button\b[^>]*>/g)].map(([tag]) => ({
        name: attribute(tag, 'name') ?? '',
        value: attribute(tag, 'value') ?? '',
      })),
    };
  });
}

/** What this driver types into a bank form, or undefined for a form it does not know. */
async function fill(form: Form, material: FlowMaterial): Promise<{ step: string; body: URLSearchParams } | undefined> {
  const body = new URLSearchParams();
  const names = new Set(form.fields.map((f) => f.name));
  for (const field of form.fields) if (field.type === 'hidden') body.append(field.name, field.value);
  if (names.has('password')) {
    // The bank's form names it `username`; oidc-provider's development form `login`.
    body.set(names.has('login') ? 'login' : 'username', material.username);
    body.set('password', material.password);
    return { step: 'login_post', body };
  }
  if (material.totpSecret && names.has('code')) {
    // The code of the current 30-second step, computed as the phone would, when it is typed.
    body.set('code', await generate({ secret: material.totpSecret }));
    return { step: 'factor_post', body };
  }
  if (/\/accounts$/.test(form.action)) {
    const account = form.fields.find((f) => f.name === 'account' && (f.type === 'checkbox' || f.type === 'radio'));
    if (account) body.append('account', account.value);
    return { step: 'accounts_post', body };
  }
  if (/\/consent$/.test(form.action) && form.buttons.some((b) => b.name === 'action' && b.value === 'accept')) {
    body.set('action', 'accept');
    return { step: 'consent_post', body };
  }
  // oidc-provider's development consent page (stock): hidden `prompt=consent` and a button.
  if (names.has('prompt') && form.fields.every((f) => f.type === 'hidden')) return { step: 'consent_post', body };
  return undefined;
}

const pageStep = (path: string) => {
  if (/^\/interaction\/[^/]+\/accounts/.test(path)) return 'accounts_page';
  if (/^\/interaction\/[^/]+\/factor/.test(path)) return 'factor_page';
  if (/^\/interaction\/[^/]+\/?$/.test(path)) return 'interaction_page';
  if (path.startsWith('/auth')) return 'authorize';
  return 'other_get';
};

export class FlowError extends Error {
  override name = 'FlowError';
}

type Timed = (step: string, work: () => Promise<Reply>) => Promise<Reply>;

const untimed: Timed = (_step, work) => work();

/** PAR with PKCE S256, DPoP and private_key_jwt; returns the request_uri. */
export async function pushAuthorization(
  target: Target,
  client: FlowClient,
  material: FlowMaterial,
  timed: Timed = untimed,
): Promise<string> {
  const par = await timed('par', () =>
    send(target, '/request', {
      headers: { dpop: material.parDpop },
      form: {
        response_type: 'code',
        client_id: client.clientId,
        redirect_uri: client.redirectUri,
        scope: client.scope,
        resource: client.resource,
        authorization_details: JSON.stringify(client.authorizationDetails),
        code_challenge: material.challenge,
        code_challenge_method: 'S256',
        state: material.state,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: material.parAssertion,
      },
    }),
  );
  if (par.status !== 201) throw new FlowError(`PAR: ${par.status} ${par.text.slice(0, 300)}`);
  return (JSON.parse(par.text) as { request_uri: string }).request_uri;
}

export const authorizePath = (client: FlowClient, requestUri: string) =>
  `/auth?${new URLSearchParams({ client_id: client.clientId, request_uri: requestUri }).toString()}`;

/** A bank page's first form, its action and its fields (hidden ones with their values). */
export function firstForm(html: string): Form | undefined {
  return forms(html)[0];
}

/** One complete flow; throws FlowError with the page or response that stopped it. */
export async function runFlow(target: Target, client: FlowClient, material: FlowMaterial): Promise<FlowResult> {
  const steps: Record<string, number> = {};
  const timed: Timed = async (step, work) => {
    const started = performance.now();
    const reply = await work();
    steps[step] = (steps[step] ?? 0) + performance.now() - started;
    return reply;
  };
  const { issuer } = target;
  const requestUri = await pushAuthorization(target, client, material, timed);

  const jar = new CookieJar();
  let path: string | undefined = authorizePath(client, requestUri);
  let callback: URL | undefined;
  for (let hops = 0; hops < 30 && path; hops++) {
    const current: string = path;
    let reply = await timed(pageStep(current), () => send(target, current, { jar }));
    // Each page with a form is answered; each redirect followed, until the TPP's redirect URI.
    while (reply.status === 200) {
      const form = (await Promise.all(forms(reply.text).map(async (f) => ({ f, filled: await fill(f, material) })))).find(
        (x) => x.filled,
      );
      if (!form?.filled) throw new FlowError(`no form to answer at ${current}: ${reply.text.slice(0, 400)}`);
      const action = localPath(target, form.f.action) ?? form.f.action;
      const { step, body } = form.filled;
      reply = await timed(step, () => send(target, action, { jar, form: body }));
      if (reply.status === 200) throw new FlowError(`${step} was not accepted: ${reply.text.slice(0, 400)}`);
    }
    if (reply.status !== 302 && reply.status !== 303) {
      throw new FlowError(`${current}: ${reply.status} ${reply.text.slice(0, 400)}`);
    }
    const location = reply.headers.get('location') as string;
    path = localPath(target, location);
    if (!path) callback = new URL(location, issuer);
  }
  if (!callback?.href.startsWith(client.redirectUri)) throw new FlowError(`flow ended at ${callback?.href ?? path}`);
  const code = callback.searchParams.get('code');
  if (!code) throw new FlowError(`no code: ${callback.search}`);
  if (callback.searchParams.get('iss') !== issuer || callback.searchParams.get('state') !== material.state) {
    throw new FlowError(`authorization response iss/state mismatch: ${callback.search}`);
  }

  const token = await timed('token', () =>
    send(target, '/token', {
      headers: { dpop: material.tokenDpop },
      form: {
        grant_type: 'authorization_code',
        code,
        redirect_uri: client.redirectUri,
        code_verifier: material.verifier,
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: material.tokenAssertion,
      },
    }),
  );
  if (token.status !== 200) throw new FlowError(`token: ${token.status} ${token.text.slice(0, 300)}`);
  return { tokens: JSON.parse(token.text) as FlowResult['tokens'], steps };
}
