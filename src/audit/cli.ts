import { defaultDeps } from '../deps.js';
import { isGatewayError } from '../errors.js';
import { type AuditFilter, queryAudit, tailAudit } from './query.js';
import type { AuditSource } from './source.js';
import { verifyAuditDir, type VerifyOptions } from './verify.js';

export interface CliOutput {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Exit codes: 0 ok, 1 chain broken, 2 bad usage or unreadable log. */
export const EXIT_OK = 0;
export const EXIT_BROKEN = 1;
export const EXIT_USAGE = 2;

function fail(out: CliOutput, e: unknown): number {
  out.stderr(`error: ${isGatewayError(e) || e instanceof Error ? e.message : String(e)}`);
  return EXIT_USAGE;
}

const chainName = (instance: string) => (instance ? `chain "${instance}"` : 'unnamed chain');

export async function runAuditVerify(source: string | AuditSource, out: CliOutput, options: VerifyOptions = {}): Promise<number> {
  let result;
  try {
    result = await verifyAuditDir(source, options);
  } catch (e) {
    return fail(out, e);
  }
  if (!result.ok) {
    const { instance, file, line, seq, reason } = result.broken;
    out.stdout(`BROKEN: ${instance ? `[${instance}] ` : ''}${file}:${line}${seq !== undefined ? ` (seq ${seq})` : ''}: ${reason}`);
    out.stdout(`${result.count} records verified before the break`);
    return EXIT_BROKEN;
  }
  const many = result.chains.length > 1 || result.chains.some((c) => c.instance);
  out.stdout(`OK: ${result.count} records in ${result.files} files${many ? ` in ${result.chains.length} chain(s)` : ''}, chain intact`);
  // The chain cannot show that records were cut off its end: a copy of the head kept elsewhere can.
  for (const c of result.chains) {
    if (!c.head) continue;
    const who = many ? `${chainName(c.instance)}: ${c.count} records, ` : '';
    // Without a checkpoint (a chain written before them) only a copy of the head kept elsewhere shows a cut end.
    out.stdout(`${who}head: seq ${c.head.seq}, hash ${c.head.hash}${c.checkpoints ? '' : ' (compare with a copy kept off this host to detect a cut end)'}`);
    if (c.checkpoints) {
      const { count, last, unsealed } = c.checkpoints;
      out.stdout(
        `  checkpoints: ${count} signed and verified${options.keysFrom ? ` (keys: ${options.keysFrom})` : ''}; the last, #${last.n} of ${last.time}${last.final ? ' (final, at shutdown)' : ''}, signs seq ${last.seq}` +
          (unsealed
            ? `; ${unsealed} newer record(s) not signed yet (a running instance signs them within the interval; after a crash they are the only ones that could be lost without trace)`
            : ''),
      );
    }
  }
  for (const c of result.chains) {
    if (c.recovered) {
      const where = c.recovered.map((r) => `${r.file}:${r.line}`).join(', ');
      out.stderr(`note: torn line(s) from an interrupted write at ${where}, covered by a recovery record`);
    }
    if (c.tornTail) {
      out.stderr(
        `WARNING: the last line ${c.tornTail.file}:${c.tornTail.line} is torn (a write was interrupted, e.g. by a crash); ` +
          `it is not a record. The ${c.count} records before it verify; the gateway keeps the line and continues on a fresh line when it next opens the log.`,
      );
    }
  }
  return EXIT_OK;
}

export interface AuditTailCliOptions {
  lines?: number;
  follow?: boolean;
  signal?: AbortSignal;
}

export async function runAuditTail(dir: string | AuditSource, opts: AuditTailCliOptions, out: CliOutput): Promise<number> {
  const lines = opts.lines ?? 20;
  if (!Number.isSafeInteger(lines) || lines < 0) return fail(out, `--lines: expected a whole number >= 0, got ${String(opts.lines)}`);
  try {
    for await (const r of tailAudit(dir, { lines, follow: opts.follow, signal: opts.signal })) out.stdout(JSON.stringify(r));
  } catch (e) {
    return fail(out, e);
  }
  return EXIT_OK;
}

export interface AuditQueryCliOptions {
  user?: string;
  tool?: string;
  agent?: string;
  /** ISO date/time, or a duration back from now: 30s, 15m, 2h, 7d, 2w. */
  since?: string | Date;
  outcome?: string;
  limit?: number | string;
  /** Records of this instance's chain only. */
  instance?: string;
}

const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `--since`: an ISO 8601 date or date-time, or a relative duration like 15m, 2h, 7d (back from `now`). */
export function parseSince(value: string, now: number = defaultDeps.now()): Date {
  const rel = /^(\d+)([smhdw])$/.exec(value.trim());
  if (rel) return new Date(now - Number(rel[1]) * UNIT_MS[rel[2]!]!);
  if (/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value.trim())) {
    const d = new Date(value.trim());
    if (!Number.isNaN(d.getTime())) return d;
  }
  throw new Error(`--since: expected an ISO date (2025-01-31, 2025-01-31T09:00:00Z) or a duration like 15m, 2h, 7d; got "${value}"`);
}

/** Turn CLI options into a filter; throws an Error naming the bad option. */
export function toAuditFilter(opts: AuditQueryCliOptions, now: number = defaultDeps.now()): AuditFilter {
  const filter: AuditFilter = {};
  if (opts.user !== undefined) filter.user = opts.user;
  if (opts.tool !== undefined) filter.tool = opts.tool;
  if (opts.agent !== undefined) filter.agent = opts.agent;
  if (opts.instance !== undefined) filter.instance = opts.instance;
  if (opts.since !== undefined) filter.since = opts.since instanceof Date ? opts.since : parseSince(opts.since, now);
  if (opts.outcome !== undefined) {
    if (opts.outcome !== 'ok' && opts.outcome !== 'error' && opts.outcome !== 'denied' && opts.outcome !== 'unknown') {
      throw new Error(`--outcome: expected ok, error, denied or unknown; got "${opts.outcome}"`);
    }
    filter.outcome = opts.outcome;
  }
  if (opts.limit !== undefined) {
    const n = typeof opts.limit === 'number' ? opts.limit : Number(opts.limit);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--limit: expected a whole number >= 1; got "${String(opts.limit)}"`);
    filter.limit = n;
  }
  return filter;
}

export async function runAuditQuery(
  dir: string | AuditSource,
  opts: AuditQueryCliOptions,
  out: CliOutput,
  now: () => number = defaultDeps.now,
): Promise<number> {
  let filter: AuditFilter;
  try {
    filter = toAuditFilter(opts, now());
  } catch (e) {
    return fail(out, e);
  }
  try {
    for await (const r of queryAudit(dir, filter)) out.stdout(JSON.stringify(r));
  } catch (e) {
    return fail(out, e);
  }
  return EXIT_OK;
}
