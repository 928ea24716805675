import { type AuditSource, parseLine, toSource } from './source.js';
import type { AuditEvent, AuditRecord, AuditSink } from './types.js';

/** `outcome.error` of the record written for a call whose outcome was never recorded. */
export const OUTCOME_UNKNOWN = 'outcome_unknown';

/**
 * How far back from the end of the log a decision may still be waiting for its outcome: longer than any
 * call can take (an HTTP tool's timeoutMs is 300 s at most, upstream tools' likewise).
 */
const WINDOW_MS = 15 * 60_000;

/**
 * After a crash (kill -9, power loss, OOM) the log can end with calls whose decision record is there and
 * whose outcome record is not: the request may or may not have reached the SaaS API. At start-up, before
 * it serves a call, `serve` looks at the end of its audit directory and writes for each such decision an
 * explicit outcome record, `outcome: { ok: false, error: "outcome_unknown" }`, with the decision's user,
 * agent, tool, resource and downstream request, so a reader (and `audit query --outcome unknown`) sees
 * which calls to check at the SaaS before retrying them. An instance does this for its own chain only
 * (`instance`, the name it writes as): other chains belong to live instances, whose calls in progress
 * would be taken for lost ones.
 *
 * Decisions are paired with outcomes by trace id, counted (a call re-minted after a downstream 401 has two
 * decisions and two outcomes). Returns the records written.
 */
export async function recordUnknownOutcomes(
  source: string | AuditSource,
  instance: string | undefined,
  sink: Pick<AuditSink, 'append'>,
): Promise<AuditRecord[]> {
  const missing = await decisionsWithoutOutcome(source, instance);
  const written: AuditRecord[] = [];
  for (const d of missing) {
    const event: AuditEvent = {
      type: d.type,
      phase: 'outcome',
      traceId: d.traceId,
      ...(d.spanId !== undefined ? { spanId: d.spanId } : {}),
      ...(d.user ? { user: d.user } : {}),
      ...(d.agent ? { agent: d.agent } : {}),
      ...(d.tool !== undefined ? { tool: d.tool } : {}),
      ...(d.resource !== undefined ? { resource: d.resource } : {}),
      ...(d.downstream ? { downstream: d.downstream } : {}),
      outcome: { ok: false, error: OUTCOME_UNKNOWN },
      reason: `the gateway stopped after the decision of ${d.time} (seq ${d.seq}) and before its outcome was recorded: the request may or may not have reached ${d.downstream ? `${d.downstream.method} ${d.downstream.url}` : 'the downstream server'}`,
      decisionSeq: d.seq,
    };
    written.push(await sink.append(event));
  }
  return written;
}

/** Allow decisions of tool calls near the end of one chain with no outcome record after them, oldest first. */
export async function decisionsWithoutOutcome(source: string | AuditSource, instance: string = ''): Promise<AuditRecord[]> {
  const src = toSource(source);
  if (!(await src.chains()).includes(instance)) return [];
  const last = (await src.lastLines(instance, 1)).map((l) => parseLine(l.bytes)).at(0);
  const end = typeof last?.time === 'string' ? Date.parse(last.time) : NaN;
  if (Number.isNaN(end)) return [];
  const cutoff = end - WINDOW_MS;
  // Per trace id, decisions still waiting for an outcome, oldest first (a re-mint after a 401 has two).
  const open = new Map<string, AuditRecord[]>();
  for await (const line of src.lines(instance, { since: new Date(cutoff) })) {
    const r = parseLine(line.bytes);
    if (!r || typeof r.time !== 'string' || !(Date.parse(r.time) >= cutoff)) continue;
    if (r.type !== 'tool_call' || typeof r.traceId !== 'string') continue;
    const waiting = open.get(r.traceId) ?? [];
    if (r.phase === 'decision' && r.decision === 'allow') {
      waiting.push(r);
      open.set(r.traceId, waiting);
    } else if (r.phase === 'outcome') {
      waiting.shift();
      if (!waiting.length) open.delete(r.traceId);
    }
  }
  return [...open.values()].flat().sort((a, b) => a.seq - b.seq);
}
