import type { KillSwitchCheck } from '../control/snapshot.js';
import { denialReason } from '../control/switches.js';
import type { KillSwitch } from '../domain/control.js';

/**
 * One question, one place: may this call proceed, and if not, why. Every denial is audited by the
 * caller with the returned reason. Kill switches (src/control) are checked first, synchronously,
 * against the in-memory snapshot: no I/O on the call path.
 */
export interface PolicyInput {
  user: { iss: string; sub: string };
  agent: { clientId?: string; name?: string };
  tool: { name: string; enabled: boolean };
  /** The config resource or upstream the tool reaches. */
  target: { kind: 'resource' | 'upstream'; name: string; enabled: boolean };
  /** The kill switches in force (remote gateway); absent: none. */
  switches?: KillSwitchCheck;
}

export type PolicyDecision =
  { allow: true } | { allow: false; reason: string; code: 'kill_switch'; switch: KillSwitch } | { allow: false; reason: string; code: 'policy_denied' };

export function decide(input: PolicyInput): PolicyDecision {
  const hit = input.switches?.find({
    user: input.user,
    ...(input.agent.clientId !== undefined ? { clientId: input.agent.clientId } : {}),
    target: { name: input.target.name },
  });
  if (hit) return { allow: false, code: 'kill_switch', reason: denialReason(hit), switch: hit.switch };
  if (!input.tool.enabled) return { allow: false, code: 'policy_denied', reason: `tool "${input.tool.name}" is disabled in the gateway's config` };
  if (!input.target.enabled)
    return { allow: false, code: 'policy_denied', reason: `${input.target.kind} "${input.target.name}" is disabled in the gateway's config` };
  return { allow: true };
}
