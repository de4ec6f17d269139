// Signs a batch of ES256 JWTs, each with a fresh jti and iat (see sign.ts).
import { createPrivateKey, randomUUID, sign } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { SignBatch } from './sign.ts';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

parentPort?.on('message', ({ id, batch }: { id: number; batch: SignBatch }) => {
  const key = createPrivateKey({ key: batch.privateJwk, format: 'jwk' });
  const header = b64(batch.header);
  const out: string[] = [];
  const iat = Math.floor(Date.now() / 1000);
  for (let i = 0; i < batch.count; i++) {
    const claims = { ...batch.claims, jti: randomUUID(), iat, ...(batch.expIn ? { exp: iat + batch.expIn } : {}) };
    const input = `${header}.${b64(claims)}`;
    const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
    out.push(`${input}.${signature}`);
  }
  parentPort?.postMessage({ id, jwts: out });
});
