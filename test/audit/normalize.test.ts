import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../../src/audit/chain.js';
import type { AuditEvent } from '../../src/audit/types.js';

const roundTrip = (e: unknown) => JSON.parse(JSON.stringify(e)) as unknown;
const base = { type: 'tool_call', phase: 'decision', traceId: 't1' };

describe('normalizeEvent: the event as it reads back from JSON', () => {
  // Plain data takes the one-walk copy, the rest the JSON round trip: both must give what JSON gives.
  it.each<[string, Record<string, unknown>]>([
    ['plain nested data', { args: { a: 1, b: 'x', c: [true, null, 2.5, { d: 'e' }] }, scopes: ['r', 'w'] }],
    ['undefined properties dropped', { outcome: undefined, nested: { keep: 1, drop: undefined } }],
    ['undefined in an array becomes null', { list: [1, undefined, 3] }],
    ['a hole in an array becomes null', { list: [1, , 3] }], // eslint-disable-line no-sparse-arrays
    ['NaN and Infinity become null', { a: Number.NaN, b: Number.POSITIVE_INFINITY }],
    ['-0 becomes 0', { a: -0 }],
    ['a Date becomes its ISO string', { at: new Date(0) }],
    ['toJSON is applied', { v: { toJSON: () => 'shown' } }],
    [
      'a class instance becomes its own enumerable fields',
      {
        v: new (class {
          x = 1;
        })(),
      },
    ],
    ['a Map becomes {}', { m: new Map([['k', 1]]) }],
    ['functions dropped', { f: () => 1 }],
    ['a null-prototype object', { o: Object.assign(Object.create(null) as object, { k: 'v' }) }],
    ['a "__proto__" own key kept as data', { o: JSON.parse('{"__proto__": {"polluted": true}}') as unknown }],
    ['lone surrogates kept', { s: 'a\uD800b' }],
  ])('%s', (_name, extra) => {
    const event = { ...base, ...extra } as AuditEvent;
    const out = normalizeEvent(event);
    expect(out).toStrictEqual(roundTrip(event));
    expect(JSON.stringify(out)).toBe(JSON.stringify(event));
  });

  it("copies: a later change to the caller's object does not reach the record", () => {
    const args = { a: 1 };
    const out = normalizeEvent({ ...base, args } as AuditEvent) as unknown as { args: { a: number } };
    args.a = 2;
    expect(out.args.a).toBe(1);
  });

  it.each<[string, () => Record<string, unknown>, RegExp]>([
    ['a chain field', () => ({ seq: 1 }), /must not set the chain field "seq"/],
    ['a BigInt', () => ({ n: 1n }), /not representable as JSON/],
    [
      'a cycle',
      () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return { o };
      },
      /not representable as JSON/,
    ],
  ])('refuses %s, naming the problem', (_name, extra, message) => {
    expect(() => normalizeEvent({ ...base, ...extra() } as AuditEvent)).toThrow(message);
  });
});
