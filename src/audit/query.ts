import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listAuditFiles } from './fs.js';
import { OUTCOME_UNKNOWN } from './unknown-outcomes.js';
import { readLines, readLinesBackward } from './lines.js';
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
  /** At most this many records (the first ones, in log order). */
  limit?: number;
}

export function matchesFilter(r: AuditRecord, f: AuditFilter): boolean {
  if (f.user !== undefined) {
    const email = r.user?.email?.toLowerCase();
    if (r.user?.sub !== f.user && (email === undefined || email !== f.user.toLowerCase())) return false;
  }
  if (f.tool !== undefined && r.tool !== f.tool) return false;
  if (f.agent !== undefined && r.agent?.clientId !== f.agent && r.agent?.name !== f.agent) return false;
  if (f.since !== undefined && !(Date.parse(r.time) >= f.since.getTime())) return false;
  if (f.outcome === 'denied' && r.decision !== 'deny') return false;
  if (f.outcome === 'ok' && r.outcome?.ok !== true) return false;
  if (f.outcome === 'error' && r.outcome?.ok !== false) return false;
  if (f.outcome === 'unknown' && r.outcome?.error !== OUTCOME_UNKNOWN) return false;
  return true;
}

/** Parse a line into a record, or undefined for a line that is not a JSON object (torn write). Query does not verify. */
function parseRecord(bytes: Buffer): AuditRecord | undefined {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as AuditRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** Matching records in log order, streamed file by file. Does not verify the chain (use verifyAuditDir). */
export async function* queryAudit(dir: string, filter: AuditFilter = {}): AsyncGenerator<AuditRecord> {
  const limit = filter.limit ?? Infinity;
  if (limit <= 0) return;
  // A file holds one UTC day: skip whole days before `since`.
  const sinceDay = filter.since ? `audit-${filter.since.toISOString().slice(0, 10)}.jsonl` : undefined;
  let n = 0;
  for (const file of await listAuditFiles(dir)) {
    if (sinceDay && file < sinceDay) continue;
    for await (const line of readLines(join(dir, file))) {
      const record = parseRecord(line.bytes);
      if (!record || !matchesFilter(record, filter)) continue;
      yield record;
      if (++n >= limit) return;
    }
  }
}

export interface TailOptions {
  /** How many of the last records to print first. */
  lines: number;
  /** Keep yielding records as they are appended (also across day files) until `signal` aborts. */
  follow?: boolean;
  signal?: AbortSignal;
  /** Poll interval while following (ms). */
  pollMs?: number;
}

/** The last `lines` records, then (follow) new ones as they are written. Complete lines only. */
export async function* tailAudit(dir: string, opts: TailOptions): AsyncGenerator<AuditRecord> {
  const files = await listAuditFiles(dir);
  const sizes = new Map<string, number>();
  for (const f of files) sizes.set(f, (await stat(join(dir, f))).size);

  // Last records, newest first, reading backwards from the end of the newest file.
  const last: AuditRecord[] = [];
  for (let i = files.length - 1; i >= 0 && last.length < opts.lines; i--) {
    const fh = await open(join(dir, files[i]!), 'r');
    try {
      for await (const line of readLinesBackward(fh, sizes.get(files[i]!)!)) {
        if (!line.terminated) continue; // still being written, or torn
        const record = parseRecord(line.bytes);
        if (record) last.push(record);
        if (last.length >= opts.lines) break;
      }
    } finally {
      await fh.close();
    }
  }
  yield* last.reverse();
  if (!opts.follow) return;

  let file = files.at(-1);
  let offset = file ? sizes.get(file)! : 0;
  // An unterminated last line was skipped above: start following at its beginning.
  if (file && offset > 0) offset = await startOfUnterminatedTail(join(dir, file), offset);
  const pollMs = opts.pollMs ?? 500;
  while (!opts.signal?.aborted) {
    let progressed = false;
    if (file) {
      const size = (await stat(join(dir, file))).size;
      if (size > offset) {
        for await (const line of readLines(join(dir, file), offset)) {
          if (!line.terminated) break; // wait for the rest of it
          offset += line.bytes.length + 1;
          progressed = true;
          const record = parseRecord(line.bytes);
          if (record) yield record;
          if (opts.signal?.aborted) return;
        }
      }
    }
    if (!progressed) {
      // Move to the next day's file only once the current one has nothing new.
      const next = (await listAuditFiles(dir)).find((f) => file === undefined || f > file);
      if (next) {
        file = next;
        offset = 0;
        continue;
      }
      try {
        await sleep(pollMs, undefined, { signal: opts.signal });
      } catch {
        return; // aborted
      }
    }
  }
}

async function startOfUnterminatedTail(path: string, size: number): Promise<number> {
  const fh = await open(path, 'r');
  try {
    for await (const line of readLinesBackward(fh, size)) {
      return line.terminated ? size : size - line.bytes.length;
    }
    return size;
  } finally {
    await fh.close();
  }
}
