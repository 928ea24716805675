/**
 * Proves at open that `server.encryptionKey` is the key the store was written with, so a wrong
 * key fails at start with a clear message rather than on some user's first request.
 */
import { GatewayError } from '../errors.js';
import type { SecretBox } from './crypto.js';
import { aad } from './rows.js';
import type { Queryable } from './sql.js';

const KEY_CHECK_PLAINTEXT = 'xaa-gateway store key check v1';

/** The first open stores a known value encrypted under the key; every open decrypts it. */
export async function checkKey(q: Queryable, box: SecretBox): Promise<void> {
  await q.query('INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
    'key_check',
    box.encrypt(KEY_CHECK_PLAINTEXT, aad.keyCheck),
  ]);
  const { rows } = await q.query<{ value: string }>('SELECT value FROM store_meta WHERE key = $1', ['key_check']);
  let ok: boolean;
  try {
    ok = rows[0] !== undefined && box.decrypt(rows[0].value, aad.keyCheck) === KEY_CHECK_PLAINTEXT;
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new GatewayError(
      'config_invalid',
      'server.encryptionKey does not match the key this store was created with: use the original key ' +
        '(a new key, made with `openssl rand -base64 32`, needs a new empty store and signs everyone out)',
    );
  }
}
