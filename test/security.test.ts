import { describe, expect, it } from 'vitest';
import { isLoopbackAddress, isLoopbackHost, isLoopbackHttp, matchesAnyDigest, safeEqual, secretDigest } from '../src/security.js';

describe('security helpers (one definition each)', () => {
  it.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['[::1]', true],
    ['128.0.0.1', false],
    ['127.0.0.1.example.com', false],
    ['localhost.example.com', false],
    ['0.0.0.0', false],
    ['::1', false], // a URL's hostname carries brackets
  ])('isLoopbackHost(%j) -> %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it.each([
    ['http://127.0.0.1:4300/x', true],
    ['http://127.0.0.2/', true],
    ['http://localhost/', true],
    ['http://[::1]:8080/', true],
    ['https://127.0.0.1/', false],
    ['http://idp.example/', false],
    ['http://127.0.0.1.nip.io/', false],
  ])('isLoopbackHttp(%j) -> %s', (url, expected) => {
    expect(isLoopbackHttp(new URL(url))).toBe(expected);
  });

  it.each([
    ['127.0.0.1', true],
    ['127.9.9.9', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['::FFFF:127.0.0.1', true],
    ['10.0.0.1', false],
    ['::ffff:10.0.0.1', false],
    [undefined, false],
    ['', false],
  ])('isLoopbackAddress(%j) -> %s', (address, expected) => {
    expect(isLoopbackAddress(address)).toBe(expected);
  });

  it.each([
    ['same', 'same', true],
    ['same', 'samE', false],
    ['short', 'a much longer secret', false],
    ['', '', true],
    ['ü', 'ü', true],
  ])('safeEqual(%j, %j) -> %s', (a, b, expected) => {
    expect(safeEqual(a, b)).toBe(expected);
  });

  it('matchesAnyDigest compares with every digest', () => {
    const digests = ['first-token', 'second-token'].map(secretDigest);
    expect(matchesAnyDigest('second-token', digests)).toBe(true);
    expect(matchesAnyDigest('third-token', digests)).toBe(false);
    expect(matchesAnyDigest('first-token', [])).toBe(false);
  });
});
