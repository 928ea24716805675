/**
 * Secrets at rest: AES-256-GCM (NIST SP 800-38D) under `server.encryptionKey`, a random 96-bit IV per
 * value, and associated data naming the table, row and column, so a ciphertext copied into another
 * row or column fails authentication instead of decrypting. Format: `v1:<iv>:<ciphertext||tag>`,
 * both base64url. A wrong key or a tampered value throws; it never yields garbage.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';

const KEY_HELP = 'server.encryptionKey must be 32 random bytes, as base64 or 64 hex digits (make one with `openssl rand -base64 32`)';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Accepts 64 hex digits or base64 / base64url of exactly 32 bytes. */
export function parseEncryptionKey(value: string): Buffer {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new GatewayError('config_invalid', `server.encryptionKey is missing: ${KEY_HELP}`);
  }
  const v = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(v)) return Buffer.from(v, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(v)) {
    const key = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  throw new GatewayError('config_invalid', `server.encryptionKey is not a valid key: ${KEY_HELP}`);
}

export interface SecretBox {
  encrypt(plaintext: string, aad: string): string;
  decrypt(sealed: string, aad: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new GatewayError('config_invalid', `server.encryptionKey has ${key.length} bytes: ${KEY_HELP}`);
  return {
    encrypt(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return `v1:${iv.toString('base64url')}:${ct.toString('base64url')}`;
    },
    decrypt(sealed, aad) {
      const parts = sealed.split(':');
      const [version, ivText, ctText] = parts;
      if (parts.length !== 3 || version !== 'v1' || !ivText || !ctText) {
        throw new GatewayError('store_unavailable', `encrypted value for ${aad} has an unknown format`);
      }
      const iv = Buffer.from(ivText, 'base64url');
      const ct = Buffer.from(ctText, 'base64url');
      if (iv.length !== IV_BYTES || ct.length < TAG_BYTES) {
        throw new GatewayError('store_unavailable', `encrypted value for ${aad} is malformed`);
      }
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
        decipher.setAAD(Buffer.from(aad, 'utf8'));
        decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES));
        return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch (cause) {
        throw new GatewayError(
          'store_unavailable',
          `cannot decrypt ${aad}: server.encryptionKey is not the key this store was written with, or the value was tampered with`,
          { cause },
        );
      }
    },
  };
}
