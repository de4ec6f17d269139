// Which family a request belongs to, from its method and path alone (nothing is parsed yet).
// oidc-provider's routes are its defaults (configuration.ts does not move them). A POST to an
// interaction step is a credential step (the stricter `login` family) unless it is one of the
// steps known to check no credential: a new second-factor step is limited as a login by default.
// The path is read as the routers read it (http/route-path.ts): `/TOKEN/` is served by the token
// endpoint, so it is counted (and fails closed) as the token endpoint.
import { routePath, isUnder as under } from '../../http/route-path.ts';
import type { Family } from './policy.ts';

/** Never limited: orchestrators probe these, and refusing them turns a limit into an outage. */
const EXEMPT = new Set(['/healthz', '/readyz']);

const NON_CREDENTIAL_STEPS = new Set(['consent', 'accounts', 'abort', 'cancel']);

function isCredentialStep(method: string, path: string): boolean {
  if (method !== 'POST') return false;
  if (/^\/account\/login(\/|$)/.test(path)) return true;
  const step = /^\/interaction\/[^/]+\/([^/]+)/.exec(path)?.[1];
  return step !== undefined && !NON_CREDENTIAL_STEPS.has(step);
}

/** `rawPath` is `ctx.path`, as the client spelled it. */
export function familyOf(method: string, rawPath: string): Family | undefined {
  const path = routePath(rawPath);
  if (EXEMPT.has(path)) return undefined;
  if (path === '/request') return 'par';
  if (path === '/token') return 'token';
  if (path === '/token/introspection') return 'introspection';
  if (path === '/token/revocation') return 'revocation';
  if (under(path, '/reg')) return 'registration';
  if (isCredentialStep(method, path)) return 'login';
  if (under(path, '/auth') || under(path, '/interaction') || under(path, '/account') || under(path, '/session/end')) {
    return 'pages';
  }
  if (under(path, '/admin')) return 'admin';
  if (path.startsWith('/.well-known/') || path === '/jwks') return 'metadata';
  return 'other';
}

/** Families whose form body names the caller (a client, or a customer's username). */
export const READS_FORM: ReadonlySet<Family> = new Set(['par', 'token', 'introspection', 'revocation', 'login']);
