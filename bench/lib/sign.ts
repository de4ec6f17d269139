// Pre-generation of signed JWTs (client assertions, DPoP proofs) before any timing starts, on
// every core, so the load generator's own crypto never counts in the server's figures.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { exportJWK, generateKeyPair, type JWK } from 'jose';

export interface SignBatch {
  privateJwk: JWK;
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  count: number;
  /** Seconds from now to `exp` (client assertions); absent for DPoP proofs. */
  expIn?: number;
}

let pool: Worker[] | undefined;

const workers = () => {
  pool ??= Array.from({ length: availableParallelism() }, () => {
    const worker = new Worker(new URL('./sign-worker.ts', import.meta.url));
    worker.unref();
    return worker;
  });
  return pool;
};

let nextId = 0;
const waiting = new Map<number, (jwts: string[]) => void>();

function run(worker: Worker, batch: SignBatch): Promise<string[]> {
  if (!worker.listenerCount('message')) {
    worker.on('message', ({ id, jwts }: { id: number; jwts: string[] }) => {
      waiting.get(id)?.(jwts);
      waiting.delete(id);
    });
  }
  // Batches from concurrent callers interleave on one worker: each answer names its batch.
  const id = nextId++;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker.postMessage({ id, batch });
  });
}

/** `count` JWTs over the same claims, each with its own jti and a current iat. */
export async function signMany(batch: SignBatch): Promise<string[]> {
  const all = workers();
  const per = Math.ceil(batch.count / all.length);
  const parts = await Promise.all(
    all.map((worker, i) => run(worker, { ...batch, count: Math.max(0, Math.min(per, batch.count - i * per)) })),
  );
  return parts.flat();
}

export function stopSigners(): void {
  for (const worker of pool ?? []) void worker.terminate();
  pool = undefined;
}

export interface SigningKey {
  kid: string;
  privateJwk: JWK;
  publicJwk: JWK;
}

export async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const meta = { kid, alg: 'ES256', use: 'sig' };
  return { kid, privateJwk: await exportJWK(privateKey), publicJwk: { ...(await exportJWK(publicKey)), ...meta } };
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** RFC 7523 client assertions: iss = sub = client_id, aud = the issuer (FAPI 2.0). */
export function assertions(key: SigningKey, clientId: string, issuer: string, count: number): Promise<string[]> {
  // Valid long enough to cover pre-generation, warm-up and the measured run.
  return signMany({
    privateJwk: key.privateJwk,
    header: { alg: 'ES256', kid: key.kid, typ: 'JWT' },
    claims: { iss: clientId, sub: clientId, aud: issuer },
    count,
    expIn: 300,
  });
}

/** RFC 9449 DPoP proofs for one endpoint (htm/htu), each with a unique jti. */
export function dpopProofs(key: SigningKey, htm: string, htu: string, count: number): Promise<string[]> {
  const { kid: _kid, alg: _alg, use: _use, ...jwk } = key.publicJwk;
  return signMany({ privateJwk: key.privateJwk, header: { alg: 'ES256', typ: 'dpop+jwt', jwk }, claims: { htm, htu }, count });
}
