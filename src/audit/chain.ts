import { hash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { AuditEvent, AuditRecord } from './types.js';

/** `prevHash` of the first record ever written. */
export const GENESIS_HASH = '0'.repeat(64);

/** Fields the chain adds (`instance`: the chain's writer, when it has a name); an event may not set them itself. */
export const CHAIN_FIELDS = ['time', 'id', 'seq', 'instance', 'prevHash', 'hash'] as const;

/** Fields every record must carry, in the order verify reports the first one missing. */
export const REQUIRED_FIELDS = ['type', 'phase', 'traceId', 'time', 'id', 'seq', 'prevHash', 'hash'] as const;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The hash input is the RFC 8785 (JCS) canonical form of the record as it reads back from the file, so the
 * writer and any verifier (in any language) hash the same bytes whatever key order the line was written in.
 */
export function recordHash(recordWithoutHash: Record<string, unknown>): string {
  // One-shot crypto.hash (Node 20.12+; a string is hashed as UTF-8): a Hash object per record cost more than its digest.
  return hash('sha256', canonicalJson(recordWithoutHash), 'hex');
}

/**
 * The event as it will read back from JSON (undefined dropped, toJSON applied), checked to be hashable.
 * Throws a plain Error naming the problem; the sink turns it into a rejection of that one append.
 */
export function normalizeEvent(event: AuditEvent): AuditEvent {
  for (const field of CHAIN_FIELDS) {
    if (field in event) throw new Error(`audit event must not set the chain field "${field}"`);
  }
  // Plain JSON data (what the gateway's own events are) is copied in one walk; anything else (a
  // Date, a class instance, NaN, -0, a cycle) takes the JSON round trip, which defines the result.
  const copy = plainJsonCopy(event, 0);
  if (copy !== NOT_PLAIN) return copy as AuditEvent;
  let normalized: unknown;
  try {
    // What JSON.parse returns always canonicalizes (RFC 8785 over I-JSON values): no second pass here.
    normalized = JSON.parse(JSON.stringify(event));
  } catch (e) {
    throw new Error(`audit event is not representable as JSON: ${(e as Error).message}`, { cause: e });
  }
  if (normalized === null || typeof normalized !== 'object' || Array.isArray(normalized)) {
    throw new Error('audit event must be a JSON object');
  }
  return normalized as AuditEvent;
}

const NOT_PLAIN = Symbol('not plain JSON data');
const MAX_PLAIN_DEPTH = 64;

/**
 * A deep copy of `value` equal to JSON.parse(JSON.stringify(value)), or NOT_PLAIN when the two
 * could differ: only strings, booleans, null, finite numbers other than -0, arrays without holes or
 * undefined, and objects whose prototype is Object.prototype or null, with no toJSON and no
 * "__proto__" key. Properties whose value is undefined are dropped, as JSON.stringify drops them.
 */
function plainJsonCopy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) && !Object.is(value, -0) ? value : NOT_PLAIN;
    case 'object': {
      if (value === null) return null;
      if (depth >= MAX_PLAIN_DEPTH) return NOT_PLAIN;
      if (Array.isArray(value)) {
        const out: unknown[] = new Array(value.length);
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return NOT_PLAIN;
          const v = plainJsonCopy(value[i], depth + 1);
          if (v === NOT_PLAIN || v === undefined) return NOT_PLAIN;
          out[i] = v;
        }
        return out;
      }
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return NOT_PLAIN;
      const obj = value as Record<string, unknown>;
      if (typeof obj.toJSON === 'function') return NOT_PLAIN;
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(obj)) {
        if (key === '__proto__') return NOT_PLAIN;
        const raw = obj[key];
        if (raw === undefined) continue;
        const v = plainJsonCopy(raw, depth + 1);
        if (v === NOT_PLAIN) return NOT_PLAIN;
        out[key] = v;
      }
      return out;
    }
    default:
      return value === undefined ? undefined : NOT_PLAIN;
  }
}

/** Seal a normalized event into the next link of the chain. */
export function sealRecord(event: AuditEvent, chain: { time: string; id: string; seq: number; prevHash: string; instance?: string }): AuditRecord {
  // Chain position first so a line reads naturally; the hash does not depend on key order (JCS sorts).
  // The instance is hashed with the rest: a record moved to another instance's chain names the wrong one.
  const body = { seq: chain.seq, time: chain.time, id: chain.id, ...(chain.instance ? { instance: chain.instance } : {}), ...event, prevHash: chain.prevHash };
  const hash = recordHash(body);
  // Added in place rather than spread into a copy of the whole record: the hash goes last either way.
  return Object.assign(body, { hash }) as AuditRecord;
}

export type RecordCheck = { ok: true; record: AuditRecord } | { ok: false; reason: string; seq?: number };

/** Check one parsed line on its own: shape and own hash (not its place in the chain). */
export function checkRecord(value: unknown): RecordCheck {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, reason: 'invalid JSON (line is not a JSON object)' };
  }
  const obj = value as Record<string, unknown>;
  const seq = typeof obj.seq === 'number' ? obj.seq : undefined;
  for (const field of REQUIRED_FIELDS) {
    if (!(field in obj) || obj[field] === null) return { ok: false, reason: `missing field ${field}`, seq };
  }
  if ('instance' in obj && (typeof obj.instance !== 'string' || !obj.instance))
    return { ok: false, reason: 'invalid field instance (expected a non-empty string)', seq };
  for (const field of ['type', 'phase', 'traceId', 'time', 'id'] as const) {
    if (typeof obj[field] !== 'string') return { ok: false, reason: `invalid field ${field} (expected a string)`, seq };
  }
  if (!Number.isSafeInteger(obj.seq) || (obj.seq as number) < 1) {
    return { ok: false, reason: 'invalid field seq (expected an integer >= 1)', seq };
  }
  for (const field of ['prevHash', 'hash'] as const) {
    if (typeof obj[field] !== 'string' || !HEX64.test(obj[field] as string)) {
      return { ok: false, reason: `invalid field ${field} (expected 64 lowercase hex digits)`, seq };
    }
  }
  const { hash, ...rest } = obj;
  let actual: string;
  try {
    actual = recordHash(rest);
  } catch {
    return { ok: false, reason: 'hash mismatch (record was modified)', seq };
  }
  if (actual !== hash) return { ok: false, reason: 'hash mismatch (record was modified)', seq };
  return { ok: true, record: obj as AuditRecord };
}
