/**
 * One question, one place: may this call proceed, and if not, why. Every denial is audited by the
 * caller with the returned reason. Later kill switches (users, agents, connections) plug in here.
 */
export interface PolicyInput {
  user: { iss: string; sub: string };
  agent: { clientId?: string; name?: string };
  tool: { name: string; enabled: boolean };
  /** The config resource or upstream the tool reaches. */
  target: { kind: 'resource' | 'upstream'; name: string; enabled: boolean };
}

export type PolicyDecision = { allow: true } | { allow: false; reason: string };

export function decide(input: PolicyInput): PolicyDecision {
  if (!input.tool.enabled) return { allow: false, reason: `tool "${input.tool.name}" is disabled in mcp.config.json` };
  if (!input.target.enabled) return { allow: false, reason: `${input.target.kind} "${input.target.name}" is disabled in mcp.config.json` };
  return { allow: true };
}
