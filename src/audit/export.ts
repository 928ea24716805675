import { open, type FileHandle } from 'node:fs/promises';
import { defaultDeps } from '../deps.js';
import { isGatewayError } from '../errors.js';
import { checkRecord } from './chain.js';
import { readCheckpoint } from './checkpoint.js';
import { parseSince } from './cli.js';
import { toOcsf } from './ocsf.js';
import { matchesFilter } from './query.js';
import { type AuditSource, mergeByTime, toSource } from './source.js';
import type { AuditRecord } from './types.js';
import { REASON_PREV, wrongInstance } from './verify.js';

/**
 * `audit export`: the records of a time window as OCSF events or as the JSON lines they are stored as,
 * for a SIEM. Export never refuses a damaged log: a torn line (interrupted write) is skipped, a record
 * that fails the hash chain is still exported (flagged in OCSF `unmapped.chain_error`), and each
 * problem is reported so the operator knows what the export is worth.
 */

export type ExportFormat = 'ocsf' | 'jsonl';

export interface ExportFilter {
  /** Records written at or after this time. */
  since?: Date;
  /** Records written before this time (exclusive). */
  until?: Date;
  /** `user.sub`, or `user.email` case-insensitively. */
  user?: string;
  tool?: string;
}

export interface ExportProblem {
  file: string;
  line: number;
  seq?: number;
  /** torn: an unreadable line, skipped; chain: a readable record that breaks the hash chain, exported. */
  kind: 'torn' | 'chain';
  reason: string;
}

/** Decisions remembered for their outcome records (which follow within seconds): bounded memory. */
const MAX_OPEN_CALLS = 10_000;

interface Read {
  record: AuditRecord;
  text: string;
  time: string;
  chainError?: string;
  downstream?: { method: string; url: string };
}

/**
 * Yields one output line per matching record of every chain, merged by time, streaming. Checks each
 * record's hash and its link to the previous record read of its chain (the first record read of a chain
 * links to records outside the window: not checked).
 */
export async function* exportAudit(
  source: string | AuditSource,
  format: ExportFormat,
  filter: ExportFilter,
  onProblem: (p: ExportProblem) => void,
): AsyncGenerator<string> {
  const src = toSource(source);
  const window = { ...(filter.since ? { since: filter.since } : {}), ...(filter.until ? { until: filter.until } : {}) };
  const match = {
    ...(filter.since ? { since: filter.since } : {}),
    ...(filter.user !== undefined ? { user: filter.user } : {}),
    ...(filter.tool !== undefined ? { tool: filter.tool } : {}),
  };
  const chain = async function* (instance: string): AsyncGenerator<Read> {
    let prev: { seq: number; hash: string } | undefined;
    // trace id (+ span id) -> downstream operation of its decision record, for the outcome record.
    const calls = new Map<string, { method: string; url: string }>();
    for await (const { file, line: number, bytes } of src.lines(instance, window)) {
      const text = bytes.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
        onProblem({ file, line: number, kind: 'torn', reason: 'not a JSON record (a torn write?); skipped' });
        continue;
      }
      const record = parsed as AuditRecord;
      const check = checkRecord(record);
      let chainError: string | undefined = check.ok ? undefined : check.reason;
      if (!chainError && (record.instance ?? '') !== instance) chainError = wrongInstance(record.instance ?? '', instance);
      else if (!chainError && prev && record.prevHash !== prev.hash) chainError = REASON_PREV;
      else if (!chainError && prev && record.seq !== prev.seq + 1) chainError = `seq out of order (expected ${prev.seq + 1}, found ${record.seq})`;
      if (chainError)
        onProblem({
          file,
          line: number,
          kind: 'chain',
          reason: `${chainError}; exported as read`,
          ...(typeof record.seq === 'number' ? { seq: record.seq } : {}),
        });
      // Continue the chain from what this record claims, so one edit is reported once, not at every later record.
      prev = typeof record.seq === 'number' && typeof record.hash === 'string' ? { seq: record.seq, hash: record.hash } : undefined;
      const call = `${String(record.traceId)} ${String(record.spanId ?? '')}`;
      const d = record.downstream;
      if (record.phase === 'decision' && d && typeof d.method === 'string' && typeof d.url === 'string') {
        calls.delete(call);
        calls.set(call, { method: d.method, url: d.url });
        if (calls.size > MAX_OPEN_CALLS) calls.delete(calls.keys().next().value!);
      }
      if (!matchesFilter(record, match)) continue;
      if (filter.until && !(Date.parse(record.time) < filter.until.getTime())) continue;
      const downstream = record.phase === 'outcome' && record.type === 'tool_call' ? calls.get(call) : undefined;
      yield { record, text, time: String(record.time), ...(chainError ? { chainError } : {}), ...(downstream ? { downstream } : {}) };
    }
  };
  const chains = await src.chains();
  for await (const r of mergeByTime(chains.map(chain))) {
    if (format === 'jsonl') {
      yield r.text;
      continue;
    }
    yield JSON.stringify(toOcsf(r.record, { ...(r.chainError ? { chainError: r.chainError } : {}), ...(r.downstream ? { downstream: r.downstream } : {}) }));
  }
  // JSON Lines ends with every chain's signed checkpoints: with the pinned public keys, the export
  // verifies on its own (`audit verify --export FILE --keys KEYS`).
  if (format === 'jsonl') {
    for (const instance of chains) {
      for (const jws of (await src.checkpoints(instance)).list) {
        const c = readCheckpoint(jws)?.claims;
        yield JSON.stringify({ instance, ...(c ? { n: c.n, seq: c.seq, time: c.time } : {}), checkpoint: jws });
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CLI

export interface AuditExportCliOptions {
  format?: string;
  /** ISO date/time, or a duration back from now: 30s, 15m, 2h, 7d, 2w. */
  since?: string;
  until?: string;
  user?: string;
  tool?: string;
  /** Write here (mode 0600, replaced) instead of stdout. */
  out?: string;
}

export interface ExportCliOutput {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** At most this many problems are listed one by one; the rest are counted. */
const MAX_LISTED_PROBLEMS = 20;
/** `--since` / `--until`: the same syntax as `audit query --since`; errors name the option. */
export function parseTimeOption(option: string, value: string, now: number): Date {
  try {
    return parseSince(value, now);
  } catch (e) {
    throw new Error((e as Error).message.replace(/^--since/, option), { cause: e });
  }
}

/** Exit codes as the other audit commands: 0 ok, 1 hash chain broken (everything readable still exported), 2 usage or unreadable log. */
export async function runAuditExport(
  dir: string | AuditSource,
  opts: AuditExportCliOptions,
  out: ExportCliOutput,
  now: () => number = defaultDeps.now,
): Promise<number> {
  const fail = (message: string) => {
    out.stderr(`error: ${message}`);
    return 2;
  };
  const format = opts.format ?? 'ocsf';
  if (format !== 'ocsf' && format !== 'jsonl') return fail(`--format: expected ocsf or jsonl; got "${format}"`);
  const filter: ExportFilter = {};
  try {
    if (opts.since !== undefined) filter.since = parseTimeOption('--since', opts.since, now());
    if (opts.until !== undefined) filter.until = parseTimeOption('--until', opts.until, now());
  } catch (e) {
    return fail((e as Error).message);
  }
  if (filter.since && filter.until && filter.until <= filter.since) return fail('--until must be later than --since');
  if (opts.user !== undefined) filter.user = opts.user;
  if (opts.tool !== undefined) filter.tool = opts.tool;

  let torn = 0;
  let broken = 0;
  let listed = 0;
  const onProblem = (p: ExportProblem) => {
    if (p.kind === 'torn') torn++;
    else broken++;
    if (listed++ < MAX_LISTED_PROBLEMS) out.stderr(`warning: ${p.file}:${p.line}${p.seq !== undefined ? ` (seq ${p.seq})` : ''}: ${p.reason}`);
  };

  let fh: FileHandle | undefined;
  let count = 0;
  try {
    if (opts.out) fh = await open(opts.out, 'w', 0o600);
    let buffer = '';
    for await (const line of exportAudit(dir, format, filter, onProblem)) {
      count++;
      if (!fh) {
        out.stdout(line);
        continue;
      }
      buffer += line + '\n';
      if (buffer.length >= 64 * 1024) {
        await fh.write(buffer);
        buffer = '';
      }
    }
    if (fh && buffer) await fh.write(buffer);
  } catch (e) {
    return fail(isGatewayError(e) || e instanceof Error ? e.message : String(e));
  } finally {
    await fh?.close();
  }

  if (listed > MAX_LISTED_PROBLEMS) out.stderr(`warning: ${listed - MAX_LISTED_PROBLEMS} more problem(s) not listed`);
  if (torn) out.stderr(`warning: ${torn} unreadable line(s) skipped (torn writes: a crash or a full disk)`);
  out.stderr(`exported ${count} record(s) as ${format}${opts.out ? ` to ${opts.out}` : ''}`);
  if (broken) {
    out.stderr(
      `WARNING: ${broken} record(s) break the hash chain (edited, deleted, inserted or reordered); they were exported as read. Run \`xaa-gateway audit verify\`.`,
    );
    return 1;
  }
  return 0;
}
