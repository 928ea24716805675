import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical-json.js';
import { recordHash } from '../../src/audit/chain.js';

/** A small seeded PRNG (mulberry32): the corpus is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Characters that stress the serializer: escapes, controls, non-ASCII, astral (surrogate pairs), and what sorts around them. */
const ALPHABET = ['a', 'B', 'z', '_', '"', '\\', '/', '\n', '\u0000', '\u001f', '\u007f', 'é', '€', '\u2028', '😀', '𝄞', 'ﬀ', '\uffff', ' '];

function randomValue(r: () => number, depth: number): unknown {
  const pick = r();
  const str = () => Array.from({ length: Math.floor(r() * 6) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join('');
  if (depth > 3 || pick < 0.3) {
    const numbers = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789.125, Number.MAX_SAFE_INTEGER, 5e-324, -1.7976931348623157e308, r() * 1e6 - 5e5];
    const leaves = [null, true, false, str(), numbers[Math.floor(r() * numbers.length)]];
    return leaves[Math.floor(r() * leaves.length)];
  }
  if (pick < 0.5) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--) o[str()] = randomValue(r, depth + 1);
  return o;
}

describe('canonicalJson: RFC 8785 for plain JSON data, byte-equal to the canonicalize package', () => {
  it.each<[string, unknown, string]>([
    ['members sorted by UTF-16 code units, not code points (RFC 8785 §3.2.3)', { '\uffff': 1, '😀': 2, a: 3, B: 4 }, '{"B":4,"a":3,"😀":2,"\uffff":1}'],
    ['numbers as ECMAScript serializes them (§3.2.2.3)', [1e21, 1e-7, -0, 0.1, 100, 5e-324], '[1e+21,1e-7,0,0.1,100,5e-324]'],
    ['escapes as JSON.stringify writes them (§3.2.2.2)', ['"\\\n\u0000\u001f\u007f/\u2028'], '["\\"\\\\\\n\\u0000\\u001f\u007f/\u2028"]'],
    ['undefined members left out', { b: undefined, a: 1 }, '{"a":1}'],
    ['nested objects and arrays', { z: [{ y: 1, x: [] }], a: {} }, '{"a":{},"z":[{"x":[],"y":1}]}'],
  ])('%s', (_, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
    expect(canonicalJson(value)).toBe(canonicalize(value));
  });

  it('equals canonicalize on 3,000 random values (escapes, astral characters, numbers at the edges)', () => {
    const r = rng(8785);
    for (let i = 0; i < 3000; i++) {
      const value = randomValue(r, 0);
      expect(canonicalJson(value), JSON.stringify(value)).toBe(canonicalize(value));
    }
  });

  it.each<[string, unknown, RegExp]>([
    ['a lone surrogate in a value', { a: { b: ['ok', 'x\ud800'] } }, /^\$\.a\.b\[1\]: a string with a lone surrogate is not I-JSON/],
    ['a lone surrogate in a member name', { a: { ['\udc00']: 1 } }, /^\$\.a: a string with a lone surrogate/],
    ['a number that is not finite', { n: [Number.NaN] }, /^\$\.n\[0\]: NaN is not a JSON number/],
    ['Infinity (JSON.parse of 1e400)', JSON.parse('{"big": 1e400}'), /^\$\.big: Infinity is not a JSON number/],
    ['a function', { f: () => 1 }, /^\$\.f: a function is not JSON data/],
    ['undefined in an array', [1, undefined], /^\$\[1\]: a undefined is not JSON data/],
  ])('refuses %s, naming where', (_, value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });

  it("is the records' hash input: recordHash is the SHA-256 of canonicalize's form", async () => {
    const { createHash } = await import('node:crypto');
    const record = {
      seq: 1,
      time: '2026-12-07T00:00:00.000Z',
      id: 'x',
      type: 'tool_call',
      phase: 'decision',
      traceId: 't',
      user: { sub: 'é😀' },
      prevHash: '0'.repeat(64),
    };
    expect(recordHash(record)).toBe(createHash('sha256').update(canonicalize(record)!, 'utf8').digest('hex'));
  });
});
