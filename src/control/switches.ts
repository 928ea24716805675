import { z } from 'zod';
import type { KillSwitch, SwitchState } from '../domain/control.js';

/**
 * Kill switch identity and wording. A switch's key is the JSON of an array (like the broker's token
 * key), so no value can forge another switch's key whatever characters it holds.
 */
export function switchKey(s: KillSwitch): string {
  switch (s.kind) {
    case 'user':
      return JSON.stringify(['user', s.user.iss, s.user.sub]);
    case 'agent':
      return JSON.stringify(['agent', s.clientId]);
    case 'resource':
      return JSON.stringify(['resource', s.name]);
    case 'connection':
      return JSON.stringify(['connection', s.clientId, s.resource]);
    case 'all':
      return JSON.stringify(['all']);
  }
}

/** How a switch is named in denial reasons, audit records and tables. */
export function describeSwitch(s: KillSwitch): string {
  switch (s.kind) {
    case 'user':
      return `user "${s.user.sub}" (${s.user.iss})`;
    case 'agent':
      return `agent "${s.clientId}"`;
    case 'resource':
      return `resource "${s.name}"`;
    case 'connection':
      return `connection "${s.clientId}" -> "${s.resource}"`;
    case 'all':
      return 'all (read-only mode)';
  }
}

/** The one-line target of a switch (tables, CLI): what `describeSwitch` says after the kind. */
export function switchTarget(s: KillSwitch): string {
  switch (s.kind) {
    case 'user':
      return `${s.user.sub} (${s.user.iss})`;
    case 'agent':
      return s.clientId;
    case 'resource':
      return s.name;
    case 'connection':
      return `${s.clientId} -> ${s.resource}`;
    case 'all':
      return '*';
  }
}

/** The reason a denied call is given: names the switch, then why it was set. */
export function denialReason(state: SwitchState): string {
  return `kill switch ${describeSwitch(state.switch)} is set: ${state.reason}`;
}

const Id = z.string().min(1).max(2048);

/** A kill switch as the admin API and the store accept it. */
export const KillSwitchSchema: z.ZodType<KillSwitch> = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('user'), user: z.strictObject({ iss: Id, sub: Id }) }),
  z.strictObject({ kind: z.literal('agent'), clientId: Id }),
  z.strictObject({ kind: z.literal('resource'), name: Id }),
  z.strictObject({ kind: z.literal('connection'), clientId: Id, resource: Id }),
  z.strictObject({ kind: z.literal('all') }),
]);

export const SWITCH_KINDS = ['user', 'agent', 'resource', 'connection', 'all'] as const;
