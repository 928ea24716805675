import { randomUUID } from 'node:crypto';
import { ADMIN_ACTION_EVENT_TYPE, type AdminActionEvent, type AuditSink } from '../audit/types.js';
import type { KillSwitch } from '../domain/control.js';
import { GatewayError, toGatewayError } from '../errors.js';
import type { Logger } from '../log.js';

/** An admin_action record before the audit fields are added. */
export type AdminActionInput = Pick<AdminActionEvent, 'actor' | 'action' | 'target'> &
  Partial<Pick<AdminActionEvent, 'before' | 'after' | 'reason' | 'user' | 'agent' | 'resource'>> & { [extra: string]: unknown };

/**
 * Appends one admin_action record. With a logger, a failure is logged and swallowed (the action
 * already happened); without one it is thrown as audit_unavailable (the caller must not act).
 */
export async function recordAdminAction(audit: AuditSink, event: AdminActionInput, logFailureTo?: Logger): Promise<void> {
  const record: AdminActionEvent = { type: ADMIN_ACTION_EVENT_TYPE, phase: 'outcome', traceId: randomUUID(), ...event };
  try {
    await audit.append(record);
  } catch (e) {
    const message = toGatewayError(e).message;
    if (!logFailureTo)
      throw new GatewayError('audit_unavailable', `the audit log cannot record this admin action, so it was not made: ${message}`, { cause: e });
    logFailureTo.error('audit log unavailable: admin action applied but not recorded', { action: event.action, error: message });
  }
}

/** The user, agent and resource an admin_action record about a switch names (what audit queries filter on). */
export function switchTargets(s: KillSwitch): Pick<AdminActionEvent, 'user' | 'agent' | 'resource'> {
  switch (s.kind) {
    case 'user':
      return { user: { iss: s.user.iss, sub: s.user.sub } };
    case 'agent':
      return { agent: { clientId: s.clientId } };
    case 'connection':
      return { agent: { clientId: s.clientId }, resource: s.resource };
    case 'resource':
      return { resource: s.name };
    case 'all':
      return {};
  }
}
