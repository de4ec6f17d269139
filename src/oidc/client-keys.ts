// The keys a client may hold in its JWKS (registered by value or served at its jwks_uri).
// FAPI 2.0 SP 5.4 (cryptography): PS256, ES256 and EdDSA only, RSA keys of at least 2048 bits,
// elliptic-curve keys no weaker than P-256. Of the curves, only those of the allowed algorithms
// are usable: P-256 (ES256) and Ed25519 (EdDSA); a P-384, secp256k1 or X25519 key could only
// serve an algorithm the server refuses. A client's JWKS is public: symmetric keys and private
// members are refused (they would be stored or fetched in the clear).
import { createPublicKey } from 'node:crypto';
import { errors } from 'oidc-provider';

export const MIN_RSA_BITS = 2048;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
/** The one algorithm each allowed key type serves, and the curve it needs. */
const ALLOWED: Record<string, { alg: 'PS256' | 'ES256' | 'EdDSA'; crv?: string }> = {
  RSA: { alg: 'PS256' },
  EC: { alg: 'ES256', crv: 'P-256' },
  OKP: { alg: 'EdDSA', crv: 'Ed25519' },
};
const ALLOWED_TEXT = `RSA >= ${MIN_RSA_BITS} bits (PS256), EC P-256 (ES256) or OKP Ed25519 (EdDSA)`;

type Jwk = Record<string, unknown>;

const isRecord = (value: unknown): value is Jwk => typeof value === 'object' && value !== null && !Array.isArray(value);

/** RSA modulus length in bits, or undefined when the key does not parse. */
function rsaBits(jwk: Jwk): number | undefined {
  try {
    return createPublicKey({ key: { kty: 'RSA', n: jwk.n, e: jwk.e } as never, format: 'jwk' }).asymmetricKeyDetails
      ?.modulusLength;
  } catch {
    return undefined;
  }
}

/** Why this key may not be in a client's JWKS (FAPI 2.0 SP 5.4), or undefined when it may. */
export function clientKeyProblem(jwk: unknown): string | undefined {
  if (!isRecord(jwk)) return 'is not a JSON object';
  if (jwk.kty === 'oct') return 'is a symmetric key (kty "oct"); a client JWKS holds public keys only';
  const privateMember = PRIVATE_MEMBERS.find((member) => member in jwk);
  if (privateMember) return `must be a public key (private member "${privateMember}" present)`;
  const allowed = typeof jwk.kty === 'string' ? ALLOWED[jwk.kty] : undefined;
  if (!allowed) return `has kty ${JSON.stringify(jwk.kty)}; allowed are ${ALLOWED_TEXT}`;
  // An encryption key (directory-hosted JWKS often publish one beside the signing keys) never
  // verifies anything here (no JWE is enabled, and oidc-provider picks keys by `use`): it is held
  // to the same strength, not to a signing algorithm.
  const encryption = jwk.use === 'enc';
  if (encryption && jwk.kty === 'OKP' && jwk.crv === 'X25519') return undefined;
  if (!encryption && jwk.alg !== undefined && jwk.alg !== allowed.alg) {
    return `has alg ${JSON.stringify(jwk.alg)}; a ${jwk.kty} key must be for ${allowed.alg} (FAPI 2.0 SP 5.4: PS256, ES256, EdDSA)`;
  }
  if (allowed.crv !== undefined && jwk.crv !== allowed.crv) {
    return `is on curve ${JSON.stringify(jwk.crv)}; a ${jwk.kty} key must be on ${allowed.crv} (${allowed.alg})`;
  }
  if (jwk.kty === 'RSA') {
    const bits = rsaBits(jwk);
    if (bits === undefined) return 'is not a valid RSA public key';
    if (bits < MIN_RSA_BITS) return `is an RSA key of ${bits} bits; FAPI 2.0 requires at least ${MIN_RSA_BITS}`;
  }
  return undefined;
}

/** How a problem names its key: by kid when it has one, else by its position when known. */
export function describeKey(jwk: unknown, index?: number): string {
  if (isRecord(jwk) && typeof jwk.kid === 'string') return `key "${jwk.kid.slice(0, 100)}"`;
  return index === undefined ? 'key' : `key ${index}`;
}

/** The first problem of a JWKS, naming the key, or undefined. Anything but `{keys: [...]}` is left to oidc-provider. */
export function clientJwksProblem(jwks: unknown): string | undefined {
  const keys = isRecord(jwks) && Array.isArray(jwks.keys) ? jwks.keys : [];
  for (const [index, jwk] of keys.entries()) {
    const problem = clientKeyProblem(jwk);
    if (problem) return `${describeKey(jwk, index)} ${problem}`;
  }
  return undefined;
}

/** Throws invalid_client_metadata naming the first refused key of a registered `jwks`. */
export function assertClientJwks(jwks: unknown): void {
  const problem = clientJwksProblem(jwks);
  if (problem) throw new errors.InvalidClientMetadata(`jwks: ${problem}`);
}
