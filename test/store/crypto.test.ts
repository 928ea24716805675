import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, parseEncryptionKey } from '../../src/store/crypto.js';

describe('parseEncryptionKey', () => {
  const raw = randomBytes(32);
  it.each([
    ['base64', raw.toString('base64')],
    ['base64 without padding', raw.toString('base64').replace(/=$/, '')],
    ['base64url', raw.toString('base64url')],
    ['hex', raw.toString('hex')],
    ['HEX', raw.toString('hex').toUpperCase()],
    ['surrounding whitespace', ` ${raw.toString('base64')}\n`],
  ])('accepts %s', (_label, value) => {
    expect(parseEncryptionKey(value).equals(raw)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['16 bytes', randomBytes(16).toString('base64')],
    ['48 bytes', randomBytes(48).toString('base64')],
    ['63 hex digits', raw.toString('hex').slice(1)],
    ['a passphrase', 'correct horse battery staple correct horse b'],
  ])('refuses %s, naming the setting', (_label, value) => {
    expect(() => parseEncryptionKey(value)).toThrow(/server\.encryptionKey.*openssl rand -base64 32/);
  });
});

function flipLastByte(sealed: string): string {
  const [v, iv, ct] = sealed.split(':') as [string, string, string];
  const bytes = Buffer.from(ct, 'base64url');
  bytes[bytes.length - 1]! ^= 0x01;
  return `${v}:${iv}:${bytes.toString('base64url')}`;
}

describe('SecretBox (AES-256-GCM)', () => {
  const box = createSecretBox(randomBytes(32));
  it('round trips, with a fresh IV each time', () => {
    const a = box.encrypt('secret', 'row:1');
    const b = box.encrypt('secret', 'row:1');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^v1:/);
    expect(box.decrypt(a, 'row:1')).toBe('secret');
    expect(box.decrypt(box.encrypt('', 'row:1'), 'row:1')).toBe('');
  });

  it.each([
    ['other associated data', (s: string) => s, 'row:2'],
    // Flip a bit of the last byte (the tag's), not a base64 character: the last character of an
    // unpadded base64url string also carries unused bits, and changing only those changes nothing.
    ['a flipped tag', (s: string) => flipLastByte(s), 'row:1'],
    ['flipped ciphertext', (s: string) => s.replace(/:(.)/g, (m, c: string) => ':' + (c === 'A' ? 'B' : 'A')), 'row:1'],
    ['unknown version', (s: string) => s.replace(/^v1/, 'v9'), 'row:1'],
    ['truncated', (s: string) => s.slice(0, 10), 'row:1'],
  ])('refuses %s', (_label, mutate, aadText) => {
    const sealed = mutate(box.encrypt('secret', 'row:1'));
    expect(() => box.decrypt(sealed, aadText)).toThrow(/store|decrypt|format|malformed/);
  });

  it('a wrong key throws, never returns garbage', () => {
    const sealed = box.encrypt('secret', 'row:1');
    expect(() => createSecretBox(randomBytes(32)).decrypt(sealed, 'row:1')).toThrow(/server\.encryptionKey/);
  });
});
