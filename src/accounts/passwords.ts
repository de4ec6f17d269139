// Human passwords only: argon2id at OWASP parameters (m=19456 KiB, t=2, p=1 by default).
// Hashing shares the cores (and libuv's thread pool) with WebCrypto signing, so at most
// ARGON2_MAX_CONCURRENCY hashes run at once in the whole server; the rest wait their turn (BRIEF:
// four concurrent argon2 verifications pushed ES256 signing p99 past 200 ms). See hash-permits.ts.
import argon2 from 'argon2';
import { defaultHashPermits, hashPermits } from './hash-permits.ts';

export interface PasswordSettings {
  ARGON2_MEMORY_KIB: number;
  ARGON2_TIME_COST: number;
  ARGON2_PARALLELISM: number;
  ARGON2_MAX_CONCURRENCY?: number | undefined;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the same time as a real verification, for unknown usernames. */
  verifyDummy(password: string): Promise<false>;
}

export function createPasswordHasher(settings: PasswordSettings): PasswordHasher {
  const options = {
    type: argon2.argon2id as 0 | 1 | 2,
    memoryCost: settings.ARGON2_MEMORY_KIB,
    timeCost: settings.ARGON2_TIME_COST,
    parallelism: settings.ARGON2_PARALLELISM,
  };
  const run = hashPermits(settings.ARGON2_MAX_CONCURRENCY ?? defaultHashPermits());
  let dummy: Promise<string> | undefined;
  return {
    hash: (password) => run(() => argon2.hash(password, options)),
    verify: (hash, password) => run(() => argon2.verify(hash, password).catch(() => false)),
    async verifyDummy(password) {
      dummy ??= argon2.hash('portcullis-dummy-password', options);
      const hash = await dummy;
      await run(() => argon2.verify(hash, password).catch(() => false));
      return false;
    },
  };
}
