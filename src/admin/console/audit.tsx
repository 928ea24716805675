import type { FunctionComponent as FC } from 'preact';
import type { AuditRecord } from '../../audit/types.js';
import type { VerifyResult } from '../../audit/verify.js';
import { actorLabel, utc } from './format.js';
import { Csrf } from './layout.js';
import { Table } from './parts.js';
import { queryParams, RANGES, type AuditQuery, type AuditView, type Bucket, type QueryProblem } from './audit-view.js';

/** The Audit page: filters, a chart of calls and denials per time bucket (inline SVG), the chain check, the records newest first. */

export interface VerifyState {
  at: number;
  result?: VerifyResult;
  error?: string;
}

export interface AuditPageView {
  query: AuditQuery;
  problems: QueryProblem[];
  view?: AuditView;
  error?: string;
  verify?: VerifyState;
  tools: string[];
  /** Resource URI (as audit records name it) -> its name in the config. */
  resourceNames: Record<string, string>;
  auditDir: string;
  csrf?: string;
}

const RANGE_LABEL: Record<keyof typeof RANGES, string> = {
  '1h': 'Last hour',
  '24h': 'Last 24 hours',
  '7d': 'Last 7 days',
  '30d': 'Last 30 days',
  all: 'Everything',
};

const W = 960;
const H = 220;
const PAD = { left: 44, right: 10, top: 12, bottom: 26 };

function niceMax(n: number): number {
  if (n <= 4) return Math.max(1, n);
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

function tickLabel(t: number, bucketMs: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  if (bucketMs >= 86_400_000) return iso.slice(5, 10);
  if (spanMs > 86_400_000) return `${iso.slice(5, 10)} ${iso.slice(11, 16)}`;
  return iso.slice(11, 16);
}

const LEGEND = [
  ['ok', 'ok'],
  ['error', 'errors'],
  ['denied', 'denied'],
] as const;

const bucketTitle = (b: Bucket, bucketMs: number) =>
  `${utc(b.start)} – ${utc(b.start + bucketMs).slice(11)}: ${b.ok} ok, ${b.error} errors, ${b.denied} denied`;

export const Chart: FC<{ v: AuditView }> = ({ v }) => {
  const n = v.buckets.length;
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const max = niceMax(Math.max(0, ...v.buckets.map((b) => b.ok + b.error + b.denied)));
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.78);
  const y = (count: number) => (count / max) * plotH;
  const ticks = Math.min(6, n);
  const tickIdx = Array.from({ length: ticks }, (_, i) => Math.round((i * (n - 1)) / Math.max(1, ticks - 1)));
  const summary = `${v.totals.ok} ok, ${v.totals.error} errors and ${v.totals.denied} denied calls from ${utc(v.start)} to ${utc(v.end)}, in buckets of ${Math.round(v.bucketMs / 60_000)} minutes`;
  return (
    <figure class="chart" aria-label="Calls and denials over time">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={summary} xmlns="http://www.w3.org/2000/svg">
        {[0, max / 2, max].map((g) => {
          const gy = PAD.top + plotH - y(g);
          return (
            <>
              <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={gy} y2={gy} />
              <text x={PAD.left - 6} y={gy + 4} text-anchor="end">
                {Number.isInteger(g) ? g : g.toFixed(1)}
              </text>
            </>
          );
        })}
        {v.buckets.map((b, i) => {
          const x = PAD.left + i * slot + (slot - barW) / 2;
          let base = PAD.top + plotH;
          const parts = (['ok', 'error', 'denied'] as const).map((k) => {
            const h = y(b[k]);
            base -= h;
            return h > 0 ? <rect class={k} x={x.toFixed(1)} y={base.toFixed(1)} width={barW.toFixed(1)} height={h.toFixed(1)} /> : null;
          });
          return (
            <g data-bucket={new Date(b.start).toISOString()} data-ok={b.ok} data-error={b.error} data-denied={b.denied}>
              <title>{bucketTitle(b, v.bucketMs)}</title>
              <rect x={(PAD.left + i * slot).toFixed(1)} y={PAD.top} width={slot.toFixed(1)} height={plotH} fill="transparent" />
              {parts}
            </g>
          );
        })}
        {tickIdx.map((i, k) => (
          <text
            x={(PAD.left + i * slot + slot / 2).toFixed(1)}
            y={H - 8}
            text-anchor={k === 0 && ticks > 1 ? 'start' : k === ticks - 1 && ticks > 1 ? 'end' : 'middle'}
          >
            {tickLabel(v.buckets[i]!.start, v.bucketMs, v.end - v.start)}
          </text>
        ))}
      </svg>
      <figcaption class="legend">
        {LEGEND.map(([k, label]) => (
          <span>
            <span class={`swatch ${k}`} />
            {v.totals[k]} {label}
          </span>
        ))}
        <span>UTC, {Math.round(v.bucketMs / 60_000) >= 60 ? `${v.bucketMs / 3_600_000} h` : `${v.bucketMs / 60_000} min`} per bar</span>
      </figcaption>
    </figure>
  );
};

function event(r: AuditRecord): string {
  if (r.type === 'tool_call') return r.tool ?? '';
  if (r.type === 'admin_action') return String(r.action ?? 'admin action');
  if (r.type === 'security_event') {
    const se = r.securityEvent as { eventType?: string } | undefined;
    return `security event ${se?.eventType?.split('/').pop() ?? ''}`;
  }
  return r.type;
}

const Result: FC<{ r: AuditRecord }> = ({ r }) => {
  if (r.decision === 'deny') return <span class="badge off">denied</span>;
  if (r.type === 'admin_action') return <span class="badge info">admin</span>;
  if (r.phase === 'outcome' && r.outcome) {
    return r.outcome.ok ? (
      <span class="badge on">ok{r.outcome.status ? ` ${r.outcome.status}` : ''}</span>
    ) : (
      <span class="badge warn">error {r.outcome.error ?? r.outcome.status ?? ''}</span>
    );
  }
  if (r.decision === 'allow') return <span class="badge">allowed</span>;
  return <span class="badge">{r.phase}</span>;
};

function detail(r: AuditRecord): string {
  if (r.type === 'admin_action') {
    const target = (r.target ?? {}) as Record<string, unknown>;
    // Switches carry a readable label; config edits and sessions name their target.
    const what =
      typeof target.label === 'string'
        ? target.label
        : ['tool', 'resource', 'upstream', 'sessionId']
            .filter((k) => typeof target[k] === 'string')
            .map((k) => `${k === 'sessionId' ? 'session' : k} ${String(target[k])}`)
            .join(', ');
    const by = `by ${actorLabel(r.actor as Record<string, unknown>)}`;
    return [what, r.reason, by].filter(Boolean).join(' · ');
  }
  return r.reason ?? '';
}

const VerifyPanel: FC<{ v?: VerifyState }> = ({ v }) => {
  if (!v) return <p class="muted">Not verified since the console started.</p>;
  if (v.error)
    return (
      <div class="verify broken" role="alert">
        Verification could not run: {v.error}
      </div>
    );
  const r = v.result!;
  return r.ok ? (
    <div class="verify ok" role="status" data-verify="ok">
      <strong>Chain OK:</strong> {r.count} records in {r.files} file{r.files === 1 ? '' : 's'} verified {utc(v.at)}
      {r.chains.length > 1 || r.chains.some((c) => c.instance) ? (
        <ul class="small">
          {r.chains.map((c) => (
            <li data-instance={c.instance}>
              {c.instance || 'unnamed chain'}: {c.count} records
              {c.head ? (
                <>
                  , head seq {c.head.seq}, hash <code>{c.head.hash.slice(0, 16)}…</code>
                </>
              ) : null}
            </li>
          ))}
        </ul>
      ) : r.head ? (
        <>
          ; head seq {r.head.seq}, hash <code>{r.head.hash.slice(0, 16)}…</code>
        </>
      ) : null}
      {r.tornTail ? (
        <div>
          The last line of {r.tornTail.file} (line {r.tornTail.line}) is a torn write from a crash: not a record, not a break.
        </div>
      ) : null}
    </div>
  ) : (
    <div class="verify broken" role="alert" data-verify="broken">
      <strong>Chain broken</strong>
      {r.broken.instance ? (
        <>
          {' '}
          in the chain of <code>{r.broken.instance}</code>
        </>
      ) : null}{' '}
      at <code>{r.broken.file}</code> {r.broken.file === 'audit_records' ? 'seq' : 'line'} {r.broken.line}
      {r.broken.seq !== undefined ? ` (seq ${r.broken.seq})` : ''}: {r.broken.reason}. {r.count} records before it verify. Checked {utc(v.at)}.
    </div>
  );
};

export const AuditBody: FC<{ v: AuditPageView }> = ({ v }) => {
  const q = v.query;
  const problem = (f: string) => v.problems.find((p) => p.field === f);
  const input = (name: 'user' | 'agent' | 'tool' | 'instance', label: string, placeholder: string) => (
    <div>
      <label for={`f-${name}`}>{label}</label>
      <input id={`f-${name}`} type="search" name={name} value={q[name] ?? ''} placeholder={placeholder} list={name === 'tool' ? 'tool-names' : undefined} />
    </div>
  );
  const page = v.view;
  const link = (p: number) => `/admin/audit?${queryParams(q, p).toString()}`;
  return (
    <>
      <h1>Audit log</h1>
      <p class="lead">
        Every delegated call, denial and admin action of every instance, hash-chained per instance in <code>{v.auditDir}</code>.
      </p>
      <section class="card" aria-labelledby="filter-h">
        <h2 id="filter-h">Filters</h2>
        <form method="get" action="/admin/audit" class="filters">
          {input('user', 'User', 'sub or email')}
          {input('agent', 'Agent', 'client id or name')}
          {input('tool', 'Tool', 'tool name')}
          {input('instance', 'Instance', 'gateway instance')}
          <datalist id="tool-names">
            {v.tools.map((t) => (
              <option value={t} />
            ))}
          </datalist>
          <div>
            <label for="f-outcome">Outcome</label>
            <select id="f-outcome" name="outcome" aria-invalid={problem('outcome') ? 'true' : undefined}>
              <option value="">any</option>
              {(['ok', 'error', 'denied', 'unknown'] as const).map((o) => (
                <option value={o} selected={q.outcome === o}>
                  {o}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="f-range">Time range</label>
            <select id="f-range" name="range">
              {(Object.keys(RANGES) as (keyof typeof RANGES)[]).map((r) => (
                <option value={r} selected={q.range === r}>
                  {RANGE_LABEL[r]}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="f-from">From (UTC)</label>
            <input
              id="f-from"
              type="datetime-local"
              name="from"
              value={q.from?.toISOString().slice(0, 16) ?? ''}
              aria-invalid={problem('from') ? 'true' : undefined}
            />
          </div>
          <div>
            <label for="f-to">To (UTC)</label>
            <input id="f-to" type="datetime-local" name="to" value={q.to?.toISOString().slice(0, 16) ?? ''} aria-invalid={problem('to') ? 'true' : undefined} />
          </div>
          <div class="actions">
            <button class="primary" type="submit">
              Apply
            </button>
            <a class="button" href="/admin/audit">
              Reset
            </a>
          </div>
        </form>
        {v.problems.length ? (
          <div class="field-error" role="alert">
            {v.problems.map((p) => (
              <div>
                {p.field}: {p.message}
              </div>
            ))}
          </div>
        ) : null}
        <p class="muted small">From/To override the time range. Outcome "error" includes denials (they are failed calls too).</p>
      </section>

      <section class="card" aria-labelledby="chart-h">
        <h2 id="chart-h">Calls and denials over time</h2>
        {page ? <Chart v={page} /> : <p class="muted">No data.</p>}
      </section>

      <section class="card" aria-labelledby="verify-h">
        <h2 id="verify-h">Hash chain</h2>
        <VerifyPanel v={v.verify} />
        <form method="post" action="/admin/audit/verify">
          <Csrf token={v.csrf} />
          <button type="submit">Verify the chain now</button>
        </form>
      </section>

      <section class="card" aria-labelledby="records-h">
        <h2 id="records-h">Records {page ? <span class="muted small">({page.total} matching, newest first)</span> : null}</h2>
        {v.error ? (
          <div class="flash error" role="alert">
            {v.error}
          </div>
        ) : null}
        {page && page.records.length ? (
          <Table head={['Time (UTC)', 'Instance', 'User', 'Agent', 'Event', 'Result', 'Reason']} scroll class="records">
            {page.records.map((r) => (
              <tr data-seq={r.seq} data-type={r.type} data-instance={r.instance ?? ''}>
                <td class="nowrap small">{utc(r.time).replace(' UTC', '')}</td>
                <td class="small wrap">{r.instance ?? ''}</td>
                <td class="small wrap">{r.user?.email ?? r.user?.sub ?? ''}</td>
                <td class="small wrap">{r.agent?.name ?? r.agent?.clientId ?? ''}</td>
                <td class="small wrap">
                  <code>{event(r)}</code>
                  {r.type === 'tool_call' && r.resource ? (
                    <div class="muted" title={r.resource}>
                      {v.resourceNames[r.resource] ?? r.resource}
                    </div>
                  ) : null}
                </td>
                <td>
                  <Result r={r} />
                </td>
                <td class="small wrap">
                  {detail(r)}
                  <details>
                    <summary>record #{r.seq}</summary>
                    <pre>{JSON.stringify(r, null, 2)}</pre>
                  </details>
                </td>
              </tr>
            ))}
          </Table>
        ) : (
          <p class="muted">No record matches.</p>
        )}
        {page && page.pages > 1 ? (
          <nav class="pager" aria-label="Pages">
            {page.page > 1 ? <a href={link(page.page - 1)}>← Newer</a> : <span />}
            <span class="muted">
              Page {page.page} of {page.pages}
            </span>
            {page.page < page.pages ? <a href={link(page.page + 1)}>Older →</a> : <span />}
          </nav>
        ) : null}
      </section>
    </>
  );
};
