// Hand-built FAPI messages for the negative cases a compliant client library never sends: client
// assertions with a bad `aud`, algorithm or lifetime, replayed `jti`s, and raw form posts carrying
// a valid DPoP proof, so each test isolates exactly one fault.
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import type { KeyPair, Tpp } from './tpp.ts';

export interface DPoPKey {
  privateKey: CryptoKey;
  publicJwk: JWK;
  /** RFC 7638 thumbprint of the public key: what `cnf.jkt` must carry. */
  jkt: string;
  pair: CryptoKeyPair;
}

export async function dpopKey(): Promise<DPoPKey> {
  const pair = (await generateKeyPair('ES256', { extractable: false })) as CryptoKeyPair;
  const publicJwk = await exportJWK(pair.publicKey);
  return { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk), pair };
}

/** A fresh DPoP proof (RFC 9449 section 4.2) for one request. */
export async function dpopProof(key: DPoPKey, htm: string, htu: string, extra: JWTPayload = {}): Promise<string> {
  return new SignJWT({ htm, htu, jti: randomUUID(), ...extra })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk })
    .setIssuedAt()
    .sign(key.privateKey);
}

export interface AssertionOptions {
  /** Defaults to the issuer (FAPI 2.0 SP 5.3.2.1-8: the issuer as a string). */
  aud?: string | string[];
  alg?: string;
  /** The key that signs; defaults to the TPP's registered key. */
  key?: Pick<KeyPair, 'privateKey' | 'kid'>;
  jti?: string;
  /** Seconds relative to now. */
  iat?: number;
  nbf?: number;
  exp?: number;
}

const now = () => Math.floor(Date.now() / 1000);

/** An RFC 7523 private_key_jwt client assertion, every claim overridable. */
export async function clientAssertion(issuer: string, tpp: Tpp, options: AssertionOptions = {}): Promise<string> {
  const key = options.key ?? tpp.key;
  const alg = options.alg ?? 'ES256';
  return new SignJWT({
    iss: tpp.clientId,
    sub: tpp.clientId,
    aud: options.aud ?? issuer,
    jti: options.jti ?? randomUUID(),
    iat: now() + (options.iat ?? 0),
    exp: now() + (options.exp ?? 60),
    ...(options.nbf !== undefined ? { nbf: now() + options.nbf } : {}),
  })
    .setProtectedHeader({ alg, kid: key.kid })
    .sign(key.privateKey);
}

/** An unsigned (`alg: none`) JWT, which jose refuses to produce. */
export function unsignedAssertion(issuer: string, tpp: Tpp): string {
  const encode = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = { iss: tpp.clientId, sub: tpp.clientId, aud: issuer, jti: randomUUID(), iat: now(), exp: now() + 60 };
  return `${encode({ alg: 'none' })}.${encode(claims)}.`;
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface FormResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POSTs a form and parses the JSON answer. */
export async function postForm(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<FormResponse> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form),
  });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { raw: text };
  }
  return { status: response.status, headers: response.headers, body };
}

/** A client_credentials token request with this assertion and (unless `dpop: null`) a fresh DPoP proof. */
export async function tokenRequest(
  issuer: string,
  assertion: string,
  options: { dpop?: DPoPKey | null; params?: Record<string, string> } = {},
): Promise<FormResponse> {
  const url = `${issuer}/token`;
  const key = options.dpop === undefined ? await dpopKey() : options.dpop;
  return postForm(
    url,
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: assertion,
      ...options.params,
    },
    key ? { dpop: await dpopProof(key, 'POST', url) } : {},
  );
}

/** A PKCE pair with an S256 challenge. */
export async function pkce(): Promise<{ verifier: string; challenge: string }> {
  const verifier = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier));
  return { verifier, challenge: Buffer.from(digest).toString('base64url') };
}
