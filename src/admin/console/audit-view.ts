import { queryAudit, type AuditFilter } from '../../audit/query.js';
import type { AuditSource } from '../../audit/source.js';
import type { AuditRecord } from '../../audit/types.js';

/**
 * The audit page's one pass over the log (src/audit/query.ts does the reading and the filters):
 * it counts calls per time bucket for the chart and keeps only the newest records the requested
 * page needs, so memory stays bounded however long the log is.
 */

export const PAGE_SIZE = 50;
export const MAX_PAGE = 400;
export const RANGES = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, all: 0 } as const;
export type RangeName = keyof typeof RANGES;
const OUTCOMES = ['ok', 'error', 'denied', 'unknown'] as const;

export interface AuditQuery {
  user?: string;
  agent?: string;
  /** The gateway instance that wrote the record (its chain). */
  instance?: string;
  tool?: string;
  outcome?: (typeof OUTCOMES)[number];
  range: RangeName;
  /** Explicit bounds (UTC), overriding `range`. */
  from?: Date;
  to?: Date;
  page: number;
}

export interface QueryProblem {
  field: string;
  message: string;
}

/** `datetime-local` values carry no zone: the console reads and shows UTC. */
function parseUtc(v: string | undefined, field: string, problems: QueryProblem[]): Date | undefined {
  if (!v) return undefined;
  const d = new Date(/Z$|[+-]\d\d:\d\d$/.test(v) ? v : `${v}Z`);
  if (Number.isNaN(d.getTime())) {
    problems.push({ field, message: `"${v}" is not a date and time (YYYY-MM-DDTHH:MM, UTC)` });
    return undefined;
  }
  return d;
}

export function parseAuditQuery(params: URLSearchParams): { query: AuditQuery; problems: QueryProblem[] } {
  const problems: QueryProblem[] = [];
  const text = (k: string) => params.get(k)?.trim() || undefined;
  const range = (text('range') ?? '24h') as RangeName;
  const outcome = text('outcome');
  const page = Number(text('page') ?? '1');
  const query: AuditQuery = {
    range: range in RANGES ? range : '24h',
    page: Number.isInteger(page) && page >= 1 ? Math.min(page, MAX_PAGE) : 1,
  };
  if (!(range in RANGES)) problems.push({ field: 'range', message: `unknown range "${range}"` });
  for (const k of ['user', 'agent', 'tool', 'instance'] as const) {
    const v = text(k);
    if (v) query[k] = v;
  }
  if (outcome) {
    if ((OUTCOMES as readonly string[]).includes(outcome)) query.outcome = outcome as AuditQuery['outcome'];
    else problems.push({ field: 'outcome', message: `outcome is one of ${OUTCOMES.join(', ')}` });
  }
  const from = parseUtc(text('from'), 'from', problems);
  const to = parseUtc(text('to'), 'to', problems);
  if (from) query.from = from;
  if (to) query.to = to;
  if (from && to && from > to) problems.push({ field: 'to', message: '"to" is before "from"' });
  return { query, problems };
}

/** The query as URL parameters (links for paging keep the filters). */
export function queryParams(q: AuditQuery, page = q.page): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of ['user', 'agent', 'tool', 'instance', 'outcome'] as const) if (q[k]) p.set(k, q[k]!);
  p.set('range', q.range);
  if (q.from) p.set('from', q.from.toISOString().slice(0, 16));
  if (q.to) p.set('to', q.to.toISOString().slice(0, 16));
  if (page > 1) p.set('page', String(page));
  return p;
}

export type CallClass = 'ok' | 'error' | 'denied';

/** What a record counts as in the chart: a refused call, or the outcome of one that went downstream. Others (allow decisions, admin actions) are not calls. */
export function classify(r: AuditRecord): CallClass | undefined {
  if (r.decision === 'deny') return 'denied';
  if (r.type === 'tool_call' && r.phase === 'outcome') return r.outcome?.ok ? 'ok' : 'error';
  return undefined;
}

export interface Bucket {
  start: number;
  ok: number;
  error: number;
  denied: number;
}

export interface AuditView {
  /** Matching records (all kinds) in the time range. */
  total: number;
  /** This page, newest first. */
  records: AuditRecord[];
  page: number;
  pages: number;
  buckets: Bucket[];
  bucketMs: number;
  start: number;
  end: number;
  totals: { ok: number; error: number; denied: number };
}

const NICE_BUCKETS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10_080, 20_160, 43_200].map((m) => m * 60_000);
export const MAX_BUCKETS = 48;

/** The smallest round bucket that fits the span in MAX_BUCKETS bars. */
export function bucketSize(spanMs: number): number {
  return NICE_BUCKETS.find((b) => Math.ceil(spanMs / b) <= MAX_BUCKETS) ?? NICE_BUCKETS.at(-1)!;
}

export async function loadAuditView(dir: string | AuditSource, q: AuditQuery, now: number, pageSize = PAGE_SIZE): Promise<AuditView> {
  const explicitFrom = q.from?.getTime();
  const since = explicitFrom ?? (q.range === 'all' ? undefined : now - RANGES[q.range]);
  const until = q.to?.getTime();
  const filter: AuditFilter = {
    ...(q.user ? { user: q.user } : {}),
    ...(q.agent ? { agent: q.agent } : {}),
    ...(q.instance ? { instance: q.instance } : {}),
    ...(q.tool ? { tool: q.tool } : {}),
    ...(q.outcome ? { outcome: q.outcome } : {}),
    ...(since !== undefined ? { since: new Date(since) } : {}),
  };
  const keep = q.page * pageSize;
  let newest: AuditRecord[] = [];
  let total = 0;
  let first: number | undefined;
  // Per-minute counts first: the bucket size depends on the span, known only at the end for "all".
  const perMinute = new Map<number, { ok: number; error: number; denied: number }>();
  for await (const r of queryAudit(dir, filter)) {
    const t = Date.parse(r.time);
    if (until !== undefined && t > until) continue;
    total++;
    first ??= t;
    newest.push(r);
    if (newest.length > keep * 2) newest = newest.slice(-keep);
    const cls = classify(r);
    if (cls) {
      const m = Math.floor(t / 60_000);
      const counts = perMinute.get(m) ?? { ok: 0, error: 0, denied: 0 };
      counts[cls]++;
      perMinute.set(m, counts);
    }
  }
  newest = newest.slice(-keep).reverse();
  const end = until ?? now;
  const start = since ?? Math.min(first ?? end - RANGES['24h'], end - 60_000);
  const bucketMs = bucketSize(end - start);
  const alignedStart = Math.floor(start / bucketMs) * bucketMs;
  const n = Math.max(1, Math.ceil((end - alignedStart) / bucketMs));
  const buckets: Bucket[] = Array.from({ length: n }, (_, i) => ({ start: alignedStart + i * bucketMs, ok: 0, error: 0, denied: 0 }));
  const totals = { ok: 0, error: 0, denied: 0 };
  for (const [minute, counts] of perMinute) {
    const i = Math.floor((minute * 60_000 - alignedStart) / bucketMs);
    const b = buckets[Math.min(Math.max(i, 0), n - 1)]!;
    for (const k of ['ok', 'error', 'denied'] as const) {
      b[k] += counts[k];
      totals[k] += counts[k];
    }
  }
  const pages = Math.max(1, Math.ceil(total / pageSize));
  const page = Math.min(q.page, pages);
  return {
    total,
    records: newest.slice((page - 1) * pageSize, page * pageSize),
    page,
    pages,
    buckets,
    bucketMs,
    start: alignedStart,
    end,
    totals,
  };
}
