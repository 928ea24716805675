import type { Actor } from '../domain/control.js';
/**
 * One audit record per delegated call (and per admin action later). Tokens, ID-JAGs and secrets
 * never appear here: only the ID-JAG `jti` and a SHA-256 fingerprint of the access token.
 */
export interface AuditEvent {
  /**
   * 'tool_call' for delegated calls; 'security_event' for a SET from the IdP and what it did (its
   * details under `securityEvent`: iss, jti, eventType, subject, effect; see src/ssf/effects.ts).
   */
  type: 'tool_call' | 'security_event' | string;
  /** 'decision' is written (durably) before the downstream call, 'outcome' after it. */
  phase: 'decision' | 'outcome';
  /** Correlates the decision and outcome records of one call. */
  traceId: string;
  user?: { iss: string; sub: string; email?: string };
  agent?: { clientId?: string; name?: string; version?: string };
  tool?: string;
  resource?: string;
  scopesRequested?: string[];
  scopesGranted?: string[];
  idJagJti?: string;
  /** base64url(SHA-256(access token)). */
  tokenFingerprint?: string;
  downstream?: { method: string; url: string };
  decision?: 'allow' | 'deny';
  reason?: string;
  outcome?: { status?: number; error?: string; ok: boolean };
  latencyMs?: number;
  [extra: string]: unknown;
}

/** `type` of an admin action record (src/control, src/admin): kill switches, config edits, sessions. */
export const ADMIN_ACTION_EVENT_TYPE = 'admin_action';

/**
 * Who changed what, from what to what. Written in the same hash chain as tool calls, with
 * `phase: 'outcome'` (it records a change made). `user`/`agent` name the user or agent the action
 * targets, so `audit query --user/--agent` finds actions on them too. `before`/`after` hold config
 * as written (secret references, never secret values) or switch states.
 */
export interface AdminActionEvent extends AuditEvent {
  type: typeof ADMIN_ACTION_EVENT_TYPE;
  phase: 'outcome';
  /** The admin (IdP identity or the automation token) or the security event that acted. */
  actor: Actor;
  /** e.g. `switch.set`, `switch.lift`, `tool.update`, `resource.delete`, `session.revoke`, `user.revoke`. */
  action: string;
  target: Record<string, unknown>;
  before?: unknown;
  after?: unknown;
}

/** A record as written: the event plus the chain fields. */
export interface AuditRecord extends AuditEvent {
  /** ISO 8601 time of writing. */
  time: string;
  /** Unique id of this record (UUID). */
  id: string;
  /** Position in the chain, from 1. */
  seq: number;
  /**
   * The gateway instance that wrote the record, which is also the name of its hash chain (one chain per
   * instance: `serve` processes of a fleet, each desktop gateway). Absent in the unnamed chain of logs
   * written before chains had names.
   */
  instance?: string;
  /** `hash` of the previous record; 64 zeros for the first. */
  prevHash: string;
  /** hex SHA-256 of the canonical JSON (RFC 8785) of this record without `hash`. */
  hash: string;
}

/**
 * How soon a record must be durable. 'sync' (the default): the append resolves once it is fsync'd
 * (a decision record, before the downstream call). 'deferred': it resolves once written, and is
 * made durable by the next round that syncs or within the sink's deferred-sync bound (an outcome
 * record: the call already happened, and a crash before it is durable leaves a decision without
 * an outcome, which the reader must treat as "outcome unknown" anyway).
 */
export type AuditDurability = 'sync' | 'deferred';

export interface AuditSink {
  /** Resolves once the record is durable (fsync'd), or written for 'deferred'. Rejects when it cannot be written: callers fail closed. */
  append(event: AuditEvent, options?: { durability?: AuditDurability }): Promise<AuditRecord>;
  /**
   * Whether a record could be written now (readiness): undefined when it could, else why not, naming
   * the cause (ENOSPC, EROFS, EIO, the lock, the database). Checked by doing the same kind of write.
   */
  check?(): Promise<string | undefined>;
  close(): Promise<void>;
}
