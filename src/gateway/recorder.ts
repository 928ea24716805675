import type { AuditDurability, AuditEvent, AuditSink } from '../audit/types.js';
import type { BrokeredToken } from '../broker/index.js';
import type { Deps } from '../deps.js';
import { toGatewayError, type GatewayError } from '../errors.js';
import type { Logger } from '../log.js';

/** Where a call went: the record's `downstream` (an HTTP method and URL without query, or tools/call and the upstream's URL). */
export interface DownstreamTarget {
  method: string;
  url: string;
}

/**
 * The audit records of tool calls: a decision before anything is sent (durable: the call waits for
 * it and fails closed without it), an outcome after (queued), or a denial (decision and outcome in
 * one record). Records of one call share its traceId.
 */
export class CallRecorder {
  readonly #pending = new Set<Promise<void>>();

  constructor(
    private readonly audit: AuditSink,
    private readonly deps: Pick<Deps, 'now'>,
    private readonly logger: Logger,
  ) {}

  /** The allow decision, durable before the downstream call (rejects with audit_unavailable otherwise). */
  decision(audited: AuditEvent, token: BrokeredToken, downstream: DownstreamTarget, reason: string): Promise<unknown> {
    return this.record({
      ...audited,
      phase: 'decision',
      decision: 'allow',
      reason,
      scopesGranted: token.scopesGranted,
      idJagJti: token.idJagJti,
      tokenFingerprint: token.fingerprint,
      tokenType: token.tokenType,
      tokenFromCache: token.fromCache,
      downstream,
    });
  }

  /**
   * Queues the outcome record. The response does not wait for its fsync: the decision record was
   * durable before the downstream call, and the sink keeps records in call order (group commit).
   * A failed outcome write is logged, not turned into a failed call: the call already happened.
   */
  outcome(audited: AuditEvent, outcome: NonNullable<AuditEvent['outcome']>, t0: number, started: number): void {
    const now = this.deps.now();
    // Deferred durability: written now, fsync'd with the next decision record or within 100 ms.
    const write = this.record({ ...audited, phase: 'outcome', outcome, latencyMs: now - t0, totalMs: now - started }, 'deferred')
      .then(() => undefined)
      .catch((e: unknown) => this.logger.error('audit outcome record not written', { traceId: audited.traceId, error: toGatewayError(e).message }))
      .finally(() => this.#pending.delete(write));
    this.#pending.add(write);
  }

  /** A call refused before anything was sent. A failed write is logged: the caller is refused either way. */
  async denial(audited: AuditEvent, reason: string, err: GatewayError, started: number): Promise<void> {
    try {
      await this.record({
        ...audited,
        phase: 'decision',
        decision: 'deny',
        reason,
        outcome: { ok: false, error: err.auditCode },
        latencyMs: this.deps.now() - started,
      });
    } catch (e) {
      this.logger.error('audit log unavailable while recording a denial', { error: toGatewayError(e).message });
    }
  }

  record(event: AuditEvent, durability: AuditDurability = 'sync'): Promise<unknown> {
    return this.audit.append(event, { durability });
  }

  /** Resolves once every queued record is durable (shutdown). */
  async flush(): Promise<void> {
    while (this.#pending.size) await Promise.all([...this.#pending]);
  }
}
