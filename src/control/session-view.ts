import type { Store, UserSession } from '../store/types.js';

export interface SessionAgentView {
  clientId: string;
  clientName?: string;
  scopes: string[];
  /** When this agent got its grant in the session, its newest refresh, and when the grant ends (epoch ms). */
  since: number;
  lastRefreshAt: number;
  expiresAt: number;
}

/** A signed-in user (one gateway session = one IdP sign-in through one agent) and the agents holding grants in it. */
export interface SessionView {
  id: string;
  user: { iss: string; sub: string; email?: string; name?: string };
  signedInAt: number;
  lastActiveAt: number;
  /**
   * An enterprise-managed sign-in (an ID-JAG redeemed at /token, docs/enterprise-managed.md): no refresh
   * grant, so no agent below; it ends with the ID-JAG (epoch ms).
   */
  enterpriseManaged?: { endsAt: number };
  agents: SessionAgentView[];
}

/** Active gateway sessions with the agents holding live grants in them, oldest first. */
export async function listSessionViews(store: Store): Promise<SessionView[]> {
  const [sessions, families] = await Promise.all([store.listUserSessions({ activeOnly: true }), store.listRefreshFamilies({ activeOnly: true })]);
  const names = new Map<string, string | undefined>();
  for (const clientId of new Set(families.map((f) => f.clientId))) {
    names.set(
      clientId,
      await store.getClient(clientId).then(
        (c) => c?.clientName,
        () => undefined,
      ),
    );
  }
  const bySession = new Map<string, typeof families>();
  for (const f of families) bySession.set(f.sessionId, [...(bySession.get(f.sessionId) ?? []), f]);
  return sessions.map((s) => ({
    ...sessionUser(s),
    agents: (bySession.get(s.id) ?? []).map((f) => {
      const name = names.get(f.clientId);
      return {
        clientId: f.clientId,
        ...(name ? { clientName: name } : {}),
        scopes: f.scopes,
        since: f.createdAt,
        lastRefreshAt: f.lastIssuedAt,
        expiresAt: f.expiresAt,
      };
    }),
  }));
}

/** A session's user and times, without its agents. */
export function sessionUser(s: UserSession): Omit<SessionView, 'agents'> {
  return {
    id: s.id,
    user: { iss: s.iss, sub: s.sub, ...(s.email ? { email: s.email } : {}), ...(s.name ? { name: s.name } : {}) },
    signedInAt: s.createdAt,
    lastActiveAt: s.updatedAt,
    ...(s.subjectTokenType === 'id-jag' ? { enterpriseManaged: { endsAt: s.idTokenExpiresAt } } : {}),
  };
}
