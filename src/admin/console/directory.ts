import type { AuditSource } from '../../audit/source.js';
import { tailAudit } from '../../audit/query.js';
import type { AuditRecord } from '../../audit/types.js';
import type { SessionView } from '../../control/service.js';
import type { SwitchState } from '../../domain/control.js';
import type { AdminOptions } from '../context.js';

/**
 * Who the switches page can name: the gateway has no registry of "all agents" or "all users", so
 * they are gathered from what it knows: pre-registered clients, live sessions, switches already
 * set, and the most recent audit records (an agent whose session was revoked is still listed).
 */

/** How many of the newest audit records are scanned for agents and users. */
export const RECENT_RECORDS = 2000;

export interface KnownAgent {
  clientId: string;
  name?: string;
  /** Latest audit record of this agent (ISO time), if any among the recent ones. */
  lastSeen?: string;
}

export interface KnownUser {
  iss: string;
  sub: string;
  email?: string;
  name?: string;
  /** Active gateway sessions of this user. */
  sessions: number;
}

export async function recentAudit(auditDir: string | AuditSource, lines = RECENT_RECORDS): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  try {
    for await (const r of tailAudit(auditDir, { lines })) out.push(r);
  } catch {
    // no log yet (or unreadable): the audit page reports that; here it only means fewer names
  }
  return out;
}

export async function knownAgents(
  opts: Pick<AdminOptions, 'config' | 'store'>,
  sessions: SessionView[],
  switches: SwitchState[],
  recent: AuditRecord[],
): Promise<KnownAgent[]> {
  const byId = new Map<string, KnownAgent>();
  const add = (clientId: string | undefined, name?: string, seen?: string) => {
    if (!clientId) return;
    const a = byId.get(clientId) ?? { clientId };
    if (name && !a.name) a.name = name;
    if (seen && (!a.lastSeen || seen > a.lastSeen)) a.lastSeen = seen;
    byId.set(clientId, a);
  };
  for (const c of opts.config.current.config.server?.clients ?? []) add(c.clientId, c.clientName);
  for (const s of sessions) for (const a of s.agents) add(a.clientId, a.clientName);
  for (const s of switches) if (s.switch.kind === 'agent' || s.switch.kind === 'connection') add(s.switch.clientId);
  for (const r of recent) add(r.agent?.clientId, r.agent?.name, r.time);
  for (const a of byId.values()) {
    if (!a.name) {
      const name = await opts.store.getClient(a.clientId).then(
        (c) => c?.clientName,
        () => undefined,
      );
      if (name) a.name = name;
    }
  }
  return [...byId.values()].sort((a, b) => (a.name ?? a.clientId).localeCompare(b.name ?? b.clientId));
}

export function knownUsers(sessions: SessionView[], switches: SwitchState[], recent: AuditRecord[]): KnownUser[] {
  const byKey = new Map<string, KnownUser>();
  const add = (u: { iss: string; sub: string; email?: string; name?: string } | undefined, session = false) => {
    if (!u?.iss || !u.sub) return;
    const key = JSON.stringify([u.iss, u.sub]);
    const known = byKey.get(key) ?? { iss: u.iss, sub: u.sub, sessions: 0 };
    if (u.email && !known.email) known.email = u.email;
    if (u.name && !known.name) known.name = u.name;
    if (session) known.sessions++;
    byKey.set(key, known);
  };
  for (const s of sessions) add(s.user, true);
  for (const s of switches) if (s.switch.kind === 'user') add(s.switch.user);
  // Only records of calls made by a user (tool calls); admin actions name their target, not a caller.
  for (const r of recent) if (r.type === 'tool_call') add(r.user);
  return [...byKey.values()].sort((a, b) => (a.email ?? a.sub).localeCompare(b.email ?? b.sub));
}
