/**
 * Admin control of the running gateway: kill switches and session revocation. Implemented by
 * src/control (store-backed, in force on the next call); used by the admin API, the console, the
 * admin CLI and the Shared Signals receiver (src/ssf), which must not know how switches are stored.
 */

export interface UserRef {
  iss: string;
  sub: string;
}

/** Who did it: an admin (by IdP identity or the automation token), a security event from the IdP, or the IdP's SCIM client. */
export type Actor =
  | { kind: 'admin'; iss?: string; sub?: string; email?: string; via: 'session' | 'token' | 'cli' }
  | {
      kind: 'security_event';
      iss: string;
      jti: string;
      eventType: string;
      /** The SET's `iat` (seconds): when the IdP says it happened; orders it against later events about the same user. */
      iat?: number;
    }
  | {
      /** A SCIM request from the IdP (src/scim): `client` is its scim.clients[].name, `requestId` the id in the audit and the response. */
      kind: 'scim';
      client: string;
      requestId: string;
    };

export type KillSwitch =
  | { kind: 'user'; user: UserRef }
  | { kind: 'agent'; clientId: string }
  | { kind: 'resource'; name: string }
  | { kind: 'connection'; clientId: string; resource: string }
  | { kind: 'all' };

export interface SwitchState {
  switch: KillSwitch;
  reason: string;
  actor: Actor;
  /** Epoch ms. */
  since: number;
}

export interface RevocationSummary {
  /** Cached downstream access tokens dropped from the broker. */
  downstreamTokens: number;
  /** Gateway user sessions (IdP sign-ins) revoked. */
  sessions: number;
  /** Gateway refresh tokens revoked. */
  refreshTokens: number;
}

/** What the Shared Signals receiver (CAEP/RISC) needs from the gateway. */
export interface SecurityControl {
  /** account-disabled / account-purged / credential-compromise: block the user until enabled and revoke everything. */
  disableUser(user: UserRef, reason: string, actor: Actor): Promise<RevocationSummary>;
  /**
   * account-enabled: lift the user switch. Returns false when the user was not disabled. With
   * `eventTime` (epoch ms, the SET's `iat`), a switch set after that time is newer than the event and
   * stays: 'stale' (a replayed or late account-enabled must not undo a later disable).
   */
  enableUser(user: UserRef, reason: string, actor: Actor, eventTime?: number): Promise<boolean | 'stale'>;
  /** session-revoked / credential-change / token-claims-change: revoke sessions and tokens, do not block. */
  revokeUser(user: UserRef, reason: string, actor: Actor): Promise<RevocationSummary>;
}
