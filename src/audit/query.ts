import { setTimeout as sleep } from 'node:timers/promises';
import { type AuditSource, type ChainCursor, mergeByTime, parseLine, toSource } from './source.js';
import { OUTCOME_UNKNOWN } from './unknown-outcomes.js';
import type { AuditRecord } from './types.js';

export interface AuditFilter {
  /** Matches `user.sub` exactly or `user.email` case-insensitively. */
  user?: string;
  tool?: string;
  /** Records written at or after this time. */
  since?: Date;
  /**
   * ok: outcome.ok true; error: outcome.ok false; denied: decision deny; unknown: the outcome records a
   * restarted gateway wrote for calls whose outcome was lost in a crash (see unknown-outcomes.ts).
   */
  outcome?: 'ok' | 'error' | 'denied' | 'unknown';
  /** Matches `agent.clientId` or `agent.name`. */
  agent?: string;
  /** Records of this instance's chain only. */
  instance?: string;
  /** At most this many records (the first ones, in log order). */
  limit?: number;
}

export function matchesFilter(r: AuditRecord, f: AuditFilter): boolean {
  if (f.user !== undefined) {
    const email = r.user?.email?.toLowerCase();
    if (r.user?.sub !== f.user && (email === undefined || email !== f.user.toLowerCase())) return false;
  }
  if (f.tool !== undefined && r.tool !== f.tool) return false;
  if (f.instance !== undefined && (r.instance ?? '') !== f.instance) return false;
  if (f.agent !== undefined && r.agent?.clientId !== f.agent && r.agent?.name !== f.agent) return false;
  if (f.since !== undefined && !(Date.parse(r.time) >= f.since.getTime())) return false;
  if (f.outcome === 'denied' && r.decision !== 'deny') return false;
  if (f.outcome === 'ok' && r.outcome?.ok !== true) return false;
  if (f.outcome === 'error' && r.outcome?.ok !== false) return false;
  if (f.outcome === 'unknown' && r.outcome?.error !== OUTCOME_UNKNOWN) return false;
  return true;
}

/** Matching records of every chain merged by time, each chain streamed in its order. Does not verify (use verifyAuditDir). */
export async function* queryAudit(source: string | AuditSource, filter: AuditFilter = {}): AsyncGenerator<AuditRecord> {
  const src = toSource(source);
  const limit = filter.limit ?? Infinity;
  if (limit <= 0) return;
  const window = filter.since ? { since: filter.since } : {};
  const chain = async function* (instance: string): AsyncGenerator<AuditRecord> {
    for await (const line of src.lines(instance, window)) {
      const record = parseLine(line.bytes);
      if (record && matchesFilter(record, filter)) yield record;
    }
  };
  let n = 0;
  for await (const record of mergeByTime((await src.chains()).filter((c) => filter.instance === undefined || c === filter.instance).map(chain))) {
    yield record;
    if (++n >= limit) return;
  }
}

export interface TailOptions {
  /** How many of the last records to print first. */
  lines: number;
  /** Keep yielding records as they are appended (every chain, also across day files) until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Poll interval while following (ms). */
  pollMs?: number;
}

/** The last `lines` records of all chains by time, then (follow) new ones of every chain as they are written. Complete lines only. */
export async function* tailAudit(source: string | AuditSource, opts: TailOptions): AsyncGenerator<AuditRecord> {
  const src = toSource(source);
  const chains = await src.chains();
  // Cursors first: a record written while the last ones are read is then followed, not lost.
  const cursors = new Map<string, ChainCursor | undefined>();
  if (opts.follow) for (const c of chains) cursors.set(c, await src.end(c));
  const last: AuditRecord[] = [];
  for (const c of chains) {
    for (const l of await src.lastLines(c, opts.lines)) {
      const r = parseLine(l.bytes);
      if (r) last.push(r);
    }
  }
  last.sort((a, b) => (String(a.time) < String(b.time) ? -1 : String(a.time) > String(b.time) ? 1 : 0));
  const shown = last.slice(Math.max(0, last.length - opts.lines));
  yield* shown;
  if (!opts.follow) return;
  // A record written between taking a chain's cursor and reading its last lines was printed already.
  const printed = new Set(shown.map((r) => r.hash));

  const pollMs = opts.pollMs ?? 500;
  while (!opts.signal?.aborted) {
    // A chain started since (a new instance, a new desktop gateway) is followed from its start.
    for (const c of await src.chains()) if (!cursors.has(c)) cursors.set(c, undefined);
    const fresh: AuditRecord[] = [];
    for (const [c, cursor] of cursors) {
      const { lines, cursor: next } = await src.after(c, cursor);
      cursors.set(c, next);
      for (const l of lines) {
        const r = parseLine(l.bytes);
        if (r && !printed.delete(r.hash)) fresh.push(r);
      }
    }
    if (fresh.length) {
      fresh.sort((a, b) => (String(a.time) < String(b.time) ? -1 : String(a.time) > String(b.time) ? 1 : 0));
      for (const r of fresh) {
        yield r;
        if (opts.signal?.aborted) return;
      }
      continue;
    }
    try {
      await sleep(pollMs, undefined, { signal: opts.signal });
    } catch {
      return; // aborted
    }
  }
}
