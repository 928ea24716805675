import { z } from 'zod';
import { APP_DEFINITIONS, SEED_CONNECTIONS, SEED_GATEWAY_CONNECTIONS, SEED_USERS, type DemoUser } from './seed.js';
import {
  DEMO_APP_NAMES,
  type DemoAppName,
  type DemoControl,
  type DemoDpopPolicy,
  type DemoSecurityEvent,
  type DemoStats,
  type DemoUserChange,
} from './types.js';

/** A policy handed in by a test: checked, since a typo ("requried") would silently mean another policy. */
const DpopPolicySchema = z.strictObject({ dpop: z.enum(['none', 'optional', 'required']), dpopNonce: z.boolean().optional() });

/**
 * The mutable state of one running demo enterprise: what the IdP admin and the apps decide at run
 * time. Tests flip it through `DemoControl`, in process.
 */
export class DemoState {
  readonly users = new Map<string, DemoUser & { active: boolean }>();
  private readonly connections = new Map<string, boolean>();
  /** Connections requesting client -> "gateway" (any trusted gateway AS), apart from the app connections. */
  private readonly gatewayConnections = new Map<string, boolean>();
  /** IdP sessions (OIDC `sid`): a revoked session kills its ID tokens and refresh tokens. */
  private readonly sessions = new Map<string, { username: string; revoked: boolean }>();
  /** Per app: access tokens carry the generation they were minted in; older ones are refused. */
  readonly accessTokenGeneration = Object.fromEntries(DEMO_APP_NAMES.map((a) => [a, 0])) as Record<DemoAppName, number>;
  idpDown = false;
  /** Per app: the DPoP policy set at run time, over the seed's (saas/dpop.ts dpopPolicy). */
  readonly dpopPolicies: Partial<Record<DemoAppName, DemoDpopPolicy>> = {};
  /** Hears the security events the IdP admin's actions raise (the Shared Signals transmitter, idp/ssf.ts). */
  readonly securityEventListeners = new Set<(e: DemoSecurityEvent) => void>();
  /** Hears changes to users that provisioning pushes (the SCIM client, idp/scim-client.ts). */
  readonly userChangeListeners = new Set<(e: DemoUserChange) => void>();
  readonly stats: DemoStats = {
    tokenExchanges: 0,
    chainedExchanges: 0,
    jwtBearerGrants: zeroes(),
    apiCalls: zeroes(),
  };

  constructor() {
    for (const u of SEED_USERS) this.users.set(u.username, { ...u });
    for (const c of SEED_CONNECTIONS) this.connections.set(key(c.clientId, c.app), c.enabled);
    for (const c of SEED_GATEWAY_CONNECTIONS) this.gatewayConnections.set(c.clientId, c.enabled);
  }

  userBySub(sub: string) {
    for (const u of this.users.values()) if (u.sub === sub) return u;
    return undefined;
  }

  connectionEnabled(clientId: string, app: DemoAppName): boolean {
    return this.connections.get(key(clientId, app)) ?? false;
  }

  gatewayConnectionEnabled(clientId: string): boolean {
    return this.gatewayConnections.get(clientId) ?? false;
  }

  newSession(username: string, sid: string): void {
    this.sessions.set(sid, { username, revoked: false });
  }

  sessionActive(sid: string): boolean {
    const s = this.sessions.get(sid);
    return !!s && !s.revoked;
  }

  readonly control: DemoControl = {
    setUserActive: (username, active) => {
      const user = this.mustUser(username);
      const changed = user.active !== active;
      user.active = active;
      if (changed) {
        for (const listener of this.userChangeListeners) listener({ username, change: 'active' });
        this.raise({ username, event: active ? 'account-enabled' : 'account-disabled' });
      }
    },
    setGroupMember: (username, group, member) => {
      const user = this.mustUser(username);
      if (user.groups.includes(group) === member) return;
      user.groups = member ? [...user.groups, group] : user.groups.filter((g) => g !== group);
      for (const listener of this.userChangeListeners) listener({ username, change: 'group', group, member });
    },
    setConnection: (clientId, app, enabled) => {
      if (!(app in APP_DEFINITIONS)) throw new Error(`unknown demo app "${app}"`);
      this.connections.set(key(clientId, app), enabled);
    },
    setGatewayConnection: (clientId, enabled) => {
      this.gatewayConnections.set(clientId, enabled);
    },
    revokeUserSessions: (username) => {
      this.mustUser(username);
      for (const s of this.sessions.values()) if (s.username === username) s.revoked = true;
      this.raise({ username, event: 'session-revoked' });
    },
    revokeAccessTokens: (app) => {
      if (!(app in this.accessTokenGeneration)) throw new Error(`unknown demo app "${app}"`);
      this.accessTokenGeneration[app] += 1;
    },
    setIdpDown: (down) => {
      this.idpDown = down;
    },
    setDpopPolicy: (app, policy) => {
      if (!(app in APP_DEFINITIONS)) throw new Error(`unknown demo app "${app}"`);
      this.dpopPolicies[app] = Object.freeze(DpopPolicySchema.parse(policy));
    },
    emitSecurityEvent: (username, event, opts = {}) => {
      this.mustUser(username);
      this.raise({ ...opts, username, event });
    },
  };

  private raise(e: DemoSecurityEvent): void {
    for (const listener of this.securityEventListeners) listener(e);
  }

  private mustUser(username: string) {
    const u = this.users.get(username);
    if (!u) throw new Error(`unknown demo user "${username}"`);
    return u;
  }
}

function key(clientId: string, app: DemoAppName): string {
  return `${clientId}\u0000${app}`;
}

function zeroes(): Record<DemoAppName, number> {
  return Object.fromEntries(DEMO_APP_NAMES.map((a) => [a, 0])) as Record<DemoAppName, number>;
}
