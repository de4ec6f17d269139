// Secrets every instance must share (cookie signing keys, the DPoP nonce secret): generated once,
// stored encrypted, read by all. The first instance to insert wins; the others read its value.
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import type { FieldCipher } from '../security/encryption.ts';

export async function sharedSecret(knex: Knex, cipher: FieldCipher, name: string, bytes = 32): Promise<Buffer> {
  const aad = `server_secret:${name}`;
  await knex('server_secrets')
    .insert({ name, value_encrypted: cipher.encrypt(randomBytes(bytes), aad) })
    .onConflict('name')
    .ignore();
  const row = await knex('server_secrets').select('value_encrypted').where({ name }).first();
  return cipher.decrypt(row.value_encrypted, aad);
}
