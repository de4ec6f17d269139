// Field-level encryption at rest (BRIEF "Data protection"): AES-256-GCM under a key from the
// environment, with the key id stored beside every value so keys can be rotated.
// Format: `v1.<kid>.<iv>.<ciphertext||tag>` (base64url parts). The AAD binds a value to its
// purpose (e.g. `signing_key:<kid>`), so a ciphertext moved to another row does not decrypt.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { decodeKey } from '../config.ts';

export class DecryptionError extends Error {
  override name = 'DecryptionError';
}

export interface FieldCipher {
  readonly currentKeyId: string;
  encrypt(plaintext: string | Buffer, aad: string): string;
  decrypt(sealed: string, aad: string): Buffer;
  decryptText(sealed: string, aad: string): string;
}

export function createFieldCipher(currentKeyId: string, keys: Map<string, Buffer>): FieldCipher {
  const current = keys.get(currentKeyId);
  if (!current) throw new Error(`encryption key ${currentKeyId} is not configured`);
  const decrypt = (sealed: string, aad: string): Buffer => {
    const [version, kid, iv, body] = sealed.split('.');
    if (version !== 'v1' || !kid || !iv || !body) throw new DecryptionError('not an encrypted value');
    const key = keys.get(kid);
    if (!key) throw new DecryptionError(`no decryption key with id "${kid}" (set ENCRYPTION_KEY or ENCRYPTION_KEYS_PREVIOUS)`);
    const data = Buffer.from(body, 'base64url');
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(data.subarray(data.length - 16));
      return Buffer.concat([decipher.update(data.subarray(0, data.length - 16)), decipher.final()]);
    } catch {
      throw new DecryptionError(`value does not decrypt under key "${kid}" (wrong ENCRYPTION_KEY?)`);
    }
  };
  return {
    currentKeyId,
    encrypt(plaintext, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current, iv);
      cipher.setAAD(Buffer.from(aad));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
      return `v1.${currentKeyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
    },
    decrypt,
    decryptText: (sealed, aad) => decrypt(sealed, aad).toString('utf8'),
  };
}

export interface CipherSetup {
  cipher: FieldCipher;
  /** Set when a development key was generated or read from DATA_DIR: callers warn loudly. */
  devKeyPath?: string;
}

/** Builds the cipher from ENCRYPTION_KEY (+ previous keys), or a dev key kept in DATA_DIR. */
export function cipherFromConfig(config: Config): CipherSetup {
  const keys = new Map<string, Buffer>();
  for (const pair of config.ENCRYPTION_KEYS_PREVIOUS.split(',').filter(Boolean)) {
    const [id, value] = pair.split(':');
    const key = value ? decodeKey(value) : undefined;
    if (!id || !key) throw new Error('ENCRYPTION_KEYS_PREVIOUS: each entry must be id:base64-of-32-bytes');
    keys.set(id.trim(), key);
  }
  if (config.ENCRYPTION_KEY) {
    keys.set(config.ENCRYPTION_KEY_ID, decodeKey(config.ENCRYPTION_KEY) as Buffer);
    return { cipher: createFieldCipher(config.ENCRYPTION_KEY_ID, keys) };
  }
  if (config.NODE_ENV === 'production') throw new Error('ENCRYPTION_KEY: is required in production');
  mkdirSync(config.DATA_DIR, { recursive: true });
  const path = join(config.DATA_DIR, 'dev-encryption.key');
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('base64'), { mode: 0o600 });
  const devKey = decodeKey(readFileSync(path, 'utf8'));
  if (!devKey) throw new Error(`${path}: not a base64 32-byte key`);
  keys.set('dev', devKey);
  return { cipher: createFieldCipher('dev', keys), devKeyPath: path };
}
