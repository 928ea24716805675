import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { listAuditFiles } from './fs.js';
import { readLinesBackward } from './lines.js';
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
 * which calls to check at the SaaS before retrying them. Only an instance that is the directory's one
 * writer of tool calls may do this (serve, one directory per instance): a stdio gateway shares its
 * directory with other live processes, whose calls in progress would be taken for lost ones.
 *
 * Decisions are paired with outcomes by trace id, counted (a call re-minted after a downstream 401 has two
 * decisions and two outcomes). Returns the records written.
 */
export async function recordUnknownOutcomes(dir: string, sink: Pick<AuditSink, 'append'>): Promise<AuditRecord[]> {
  const missing = await decisionsWithoutOutcome(dir);
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

/** Allow decisions of tool calls near the end of the log with no outcome record after them, oldest first. */
export async function decisionsWithoutOutcome(dir: string): Promise<AuditRecord[]> {
  const files = await listAuditFiles(dir);
  // Read backwards: outcomes come before their decisions. Per trace id, outcomes not yet matched.
  const outcomes = new Map<string, number>();
  const missing: AuditRecord[] = [];
  let cutoff: number | undefined;
  for (let i = files.length - 1; i >= 0; i--) {
    const path = join(dir, files[i]!);
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      for await (const line of readLinesBackward(fh, size)) {
        let r: AuditRecord;
        try {
          r = JSON.parse(line.bytes.toString('utf8')) as AuditRecord;
        } catch {
          continue; // a torn line: not a record
        }
        if (r === null || typeof r !== 'object' || typeof r.time !== 'string') continue;
        const t = Date.parse(r.time);
        cutoff ??= t - WINDOW_MS;
        if (t < cutoff) return missing.reverse();
        if (r.type !== 'tool_call' || typeof r.traceId !== 'string') continue;
        if (r.phase === 'outcome') outcomes.set(r.traceId, (outcomes.get(r.traceId) ?? 0) + 1);
        else if (r.phase === 'decision' && r.decision === 'allow') {
          const n = outcomes.get(r.traceId) ?? 0;
          if (n > 0) outcomes.set(r.traceId, n - 1);
          else missing.push(r);
        }
      }
    } finally {
      await fh.close();
    }
  }
  return missing.reverse();
}
