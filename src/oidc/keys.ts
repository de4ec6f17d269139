// Signing keys: one signing key per configured algorithm, private parts encrypted at rest.
//
// Lifecycle of a key (derived from its timestamps, so every instance agrees without messages):
//   next     created, published in the JWKS, not yet signing   (now <  activates_at)
//   active   the newest activated key of its alg; signs         (now >= activates_at)
//   retired  superseded; still published so tokens it signed verify, until retires_at
//   expired  past retires_at: no longer published or loaded
// `rotate()` creates a successor per alg that activates after `publishDelaySeconds` and sets the
// predecessor's retires_at to that instant plus the longest lifetime of anything it signed.
import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Knex } from 'knex';
import type { SigningAlg } from '../config.ts';
import type { CacheBus } from '../db/cache-bus.ts';
import type { FieldCipher } from '../security/encryption.ts';

export type KeyState = 'next' | 'active' | 'retired' | 'expired';

export interface SigningKeyInfo {
  kid: string;
  alg: SigningAlg;
  state: KeyState;
  created_at: string;
  activates_at: string;
  retires_at: string | null;
}

export interface LoadedKeys {
  /** Private JWKs for oidc-provider, the active key of each alg first (it is the one that signs). */
  jwks: { keys: JWK[] };
  /** Changes whenever the set of published keys or their states change. */
  fingerprint: string;
  /** The instant the next state change happens (a next key activating, a retired key expiring). */
  nextChangeAt: number | undefined;
}

interface KeyRow {
  kid: string;
  alg: SigningAlg;
  public_jwk: JWK;
  private_jwk_encrypted: string;
  created_at: Date;
  activates_at: Date;
  retires_at: Date | null;
}

const aad = (kid: string) => `signing_key:${kid}`;

function stateOf(row: KeyRow, activeKid: string | undefined, now: number): KeyState {
  if (row.retires_at && row.retires_at.getTime() <= now) return 'expired';
  if (row.activates_at.getTime() > now) return 'next';
  return row.kid === activeKid ? 'active' : 'retired';
}

/** The active kid per alg: the newest key whose activation time has passed. */
function activeKids(rows: KeyRow[], now: number): Map<string, string> {
  const active = new Map<string, string>();
  const ordered = [...rows].sort((a, b) => b.activates_at.getTime() - a.activates_at.getTime());
  for (const row of ordered) {
    if (row.activates_at.getTime() <= now && !active.has(row.alg)) active.set(row.alg, row.kid);
  }
  return active;
}

async function generate(alg: SigningAlg): Promise<{ kid: string; publicJwk: JWK; privateJwk: JWK }> {
  // FAPI 2.0 SP 5.4.1: RSA >= 2048 bits, EC >= P-256.
  const { privateKey, publicKey } =
    alg === 'PS256'
      ? await generateKeyPair('PS256', { modulusLength: 3072, extractable: true })
      : alg === 'EdDSA'
        ? await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true })
        : await generateKeyPair('ES256', { extractable: true });
  const kid = randomUUID();
  const meta = { kid, alg, use: 'sig' };
  return {
    kid,
    publicJwk: { ...(await exportJWK(publicKey)), ...meta },
    privateJwk: { ...(await exportJWK(privateKey)), ...meta },
  };
}

export interface SigningKeyStore {
  /** Creates a key for every configured alg that has none yet (first start). Race-safe. */
  ensure(algs: SigningAlg[]): Promise<void>;
  load(algs: SigningAlg[], now?: number): Promise<LoadedKeys>;
  list(now?: number): Promise<SigningKeyInfo[]>;
  rotate(algs: SigningAlg[], options: { publishDelaySeconds: number; retireAfterSeconds: number }): Promise<SigningKeyInfo[]>;
}

/** Topic of the cache bus on which a rotation tells every instance to reload its keys now. */
export const KEYS_TOPIC = 'signing_keys';

export function createSigningKeyStore(knex: Knex, cipher: FieldCipher, bus?: CacheBus): SigningKeyStore {
  const rows = async (): Promise<KeyRow[]> => {
    const found = await knex('signing_keys').select('*');
    return found.map((r) => ({
      ...r,
      created_at: new Date(r.created_at),
      activates_at: new Date(r.activates_at),
      retires_at: r.retires_at ? new Date(r.retires_at) : null,
    }));
  };

  const insert = async (trx: Knex.Transaction, alg: SigningAlg, activatesAt: Date) => {
    const key = await generate(alg);
    await trx('signing_keys').insert({
      kid: key.kid,
      alg,
      public_jwk: JSON.stringify(key.publicJwk),
      private_jwk_encrypted: cipher.encrypt(JSON.stringify(key.privateJwk), aad(key.kid)),
      activates_at: activatesAt,
    });
    return key.kid;
  };

  // One writer at a time across instances: first-start creation and rotation both take this lock.
  const locked = <T>(work: (trx: Knex.Transaction) => Promise<T>) =>
    knex.transaction(async (trx) => {
      await trx.raw('LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE');
      return work(trx);
    });

  const list = async (now = Date.now()) => {
    const all = await rows();
    const active = activeKids(all, now);
    return all
      .sort((a, b) => a.created_at.getTime() - b.created_at.getTime())
      .map((r) => ({
        kid: r.kid,
        alg: r.alg,
        state: stateOf(r, active.get(r.alg), now),
        created_at: r.created_at.toISOString(),
        activates_at: r.activates_at.toISOString(),
        retires_at: r.retires_at?.toISOString() ?? null,
      }));
  };

  return {
    async ensure(algs) {
      const present = new Set((await knex('signing_keys').distinct('alg')).map((r) => r.alg as string));
      if (algs.every((alg) => present.has(alg))) return;
      await locked(async (trx) => {
        const have = new Set((await trx('signing_keys').distinct('alg')).map((r) => r.alg as string));
        for (const alg of algs) if (!have.has(alg)) await insert(trx, alg, new Date());
      });
    },

    async load(algs, now = Date.now()) {
      const all = await rows();
      const active = activeKids(all, now);
      const published = all.filter((r) => stateOf(r, active.get(r.alg), now) !== 'expired');
      const rank = (r: KeyRow) => {
        const state = stateOf(r, active.get(r.alg), now);
        // The default alg's active key first: oidc-provider signs with the first matching key.
        return (state === 'active' ? 0 : 10) + Math.max(0, algs.indexOf(r.alg));
      };
      published.sort((a, b) => rank(a) - rank(b) || b.activates_at.getTime() - a.activates_at.getTime());
      const keys = published
        .filter((r) => algs.includes(r.alg) && active.has(r.alg)) // only configured algs sign or verify
        .map((r) => JSON.parse(cipher.decryptText(r.private_jwk_encrypted, aad(r.kid))) as JWK);
      const changes = all
        .flatMap((r) => [r.activates_at.getTime(), r.retires_at?.getTime() ?? Number.POSITIVE_INFINITY])
        .filter((t) => t > now && Number.isFinite(t));
      return {
        jwks: { keys },
        fingerprint: published.map((r) => `${r.kid}:${stateOf(r, active.get(r.alg), now)}`).join(','),
        nextChangeAt: changes.length ? Math.min(...changes) : undefined,
      };
    },

    list,

    async rotate(algs, { publishDelaySeconds, retireAfterSeconds }) {
      const activatesAt = new Date(Date.now() + publishDelaySeconds * 1000);
      const retiresAt = new Date(activatesAt.getTime() + retireAfterSeconds * 1000);
      await locked(async (trx) => {
        for (const alg of algs) {
          await trx('signing_keys').where({ alg }).whereNull('retires_at').update({ retires_at: retiresAt });
          await insert(trx, alg, activatesAt);
        }
        // Every instance reloads when this commits, instead of at its next KEY_REFRESH_SECONDS tick.
        await bus?.publish(KEYS_TOPIC, 'rotated', trx);
      });
      return list();
    },
  };
}
