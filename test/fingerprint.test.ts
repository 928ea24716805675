import { describe, expect, it } from 'vitest';
import { tokenFingerprint } from '../src/security.js';

describe('tokenFingerprint', () => {
  it.each([
    // SHA-256 test vectors (FIPS 180-2), base64url without padding.
    ['abc', 'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0'],
    ['', '47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU'],
  ])('%j -> %s', (token, expected) => {
    expect(tokenFingerprint(token)).toBe(expected);
  });

  it('is stable, 43 base64url chars, and neither contains nor equals the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1LWFsaWNlIn0.c2lnbmF0dXJl';
    const fp = tokenFingerprint(token);
    expect(tokenFingerprint(token)).toBe(fp);
    expect(fp).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(fp).not.toContain(token);
    expect(token).not.toContain(fp);
    expect(tokenFingerprint(`${token}x`)).not.toBe(fp);
  });
});
