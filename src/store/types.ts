import type { SwitchState } from '../domain/control.js';
import type { ListenStatus } from './listener.js';

export type { ListenStatus } from './listener.js';

/**
 * Persistent state of the remote (Streamable HTTP) gateway: one SQL schema, two engines (PGlite
 * embedded by default, PostgreSQL when DATABASE_URL is set). Secrets at rest (IdP refresh tokens,
 * signing keys) are encrypted with AES-256-GCM under the key from `server.encryptionKey`; tokens
 * the gateway issues are stored only as SHA-256 hashes.
 */

/** A user's sign-in at the enterprise IdP, held by the gateway so it can request ID-JAGs for them. */
export interface UserSession {
  /** Gateway session id (random, opaque); carried as `sid` in gateway access tokens. */
  id: string;
  iss: string;
  sub: string;
  email?: string;
  name?: string;
  /** The user's current IdP ID token (the token-exchange subject). Secret. */
  idToken: string;
  /** Epoch ms. */
  idTokenExpiresAt: number;
  /** The user's IdP refresh token, decrypted. Secret. */
  idpRefreshToken?: string;
  createdAt: number;
  updatedAt: number;
  /** Set when the user signed out or an admin / the IdP revoked the session. */
  revokedAt?: number;
}

/** An MCP client (the agent) known to the gateway's authorization server. */
export interface RegisteredClient {
  clientId: string;
  /** 'config' (pre-registered), 'cimd' (Client ID Metadata Document, client_id is its URL), 'dynamic' (RFC 7591). */
  source: 'config' | 'cimd' | 'dynamic';
  clientName?: string;
  redirectUris: string[];
  /** 'none' for public clients (PKCE only); confidential clients store a secret hash. */
  tokenEndpointAuthMethod: 'none' | 'client_secret_basic' | 'client_secret_post';
  clientSecretHash?: string;
  metadata: Record<string, unknown>;
  createdAt: number;
  /** CIMD: when the fetched document stops being trusted and must be fetched again. */
  expiresAt?: number;
}

export interface Consent {
  iss: string;
  sub: string;
  clientId: string;
  scopes: string[];
  grantedAt: number;
}

/** A pending /authorize request while the user signs in at the IdP and consents. */
export interface AuthorizationRequest {
  id: string;
  clientId: string;
  redirectUri: string;
  state?: string;
  codeChallenge: string;
  scopes: string[];
  resource: string;
  /** OIDC state/nonce/PKCE verifier of the gateway's own sign-in at the IdP. Secret. */
  idpState: string;
  idpNonce: string;
  idpCodeVerifier: string;
  /** Set once the user signed in at the IdP. */
  sessionId?: string;
  /** CSRF token bound to this request for the consent form. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
}

export interface AuthorizationCode {
  /** SHA-256 of the code (the code itself is never stored). */
  codeHash: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  sessionId: string;
  scopes: string[];
  resource: string;
  expiresAt: number;
}

export interface RefreshTokenRecord {
  tokenHash: string;
  familyId: string;
  sessionId: string;
  clientId: string;
  scopes: string[];
  resource: string;
  createdAt: number;
  expiresAt: number;
  /** Set once exchanged for a new one; presenting it again is reuse. */
  rotatedAt?: number;
  revokedAt?: number;
}

export type RotateResult = { ok: true; record: RefreshTokenRecord } | { ok: false; reason: 'unknown' | 'expired' | 'revoked' | 'reused' };

export interface SigningKey {
  kid: string;
  alg: 'ES256';
  /** Private JWK, decrypted. Secret. */
  privateJwk: Record<string, unknown>;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** No longer signs after this; still verifies until `verifyUntil`. */
  retiredAt?: number;
  verifyUntil?: number;
}

/** What `Store.rotateSigningKey` did. */
export interface SigningKeyRotation {
  /** False when the condition did not hold: the current key is young enough and stays. */
  rotated: boolean;
  /** The key that signs after the call. */
  signing: string;
  /** The key that signed before the call (absent for the first key). */
  previous?: string;
  /** Every key retired by the call (normally just `previous`). */
  retired: string[];
}

/** One agent's standing grant within a user session: a refresh-token family (OAuth 2.1 §4.3.1). */
export interface RefreshFamily {
  familyId: string;
  sessionId: string;
  clientId: string;
  /** Scopes of the newest token of the family. */
  scopes: string[];
  /** When the family began (the code was redeemed) and when its newest token was issued. Epoch ms. */
  createdAt: number;
  lastIssuedAt: number;
  expiresAt: number;
  /** Every token of the family is revoked. */
  revoked: boolean;
}

/** What revoking sessions in bulk did (kill switches, security events). */
export interface SessionRevocation {
  /** Ids of the user sessions that were revoked now. */
  sessionIds: string[];
  refreshTokens: number;
}

/** A browser admin session (src/admin). The cookie value itself is never stored: only its SHA-256. */
export interface AdminSession {
  idHash: string;
  iss: string;
  sub: string;
  email?: string;
  name?: string;
  /** CSRF token the browser must echo on unsafe requests. */
  csrf: string;
  createdAt: number;
  expiresAt: number;
  revokedAt?: number;
}

/** The kill switches in force and the revision they were read at. */
export interface KillSwitchList {
  revision: number;
  switches: SwitchState[];
}

/**
 * The admin-editable sections of the config (tools, resources, upstreams), as written (raw JSON:
 * secret references and omitted defaults kept), when the fleet shares them through the store.
 */
export interface FleetConfigDoc {
  tools: unknown[];
  resources: Record<string, unknown>;
  upstreams: unknown[];
}

/** The fleet config in the store: one row, its revision bumped by every change. */
export interface FleetConfigRecord {
  /** 1 for the seed, +1 per change. */
  revision: number;
  doc: FleetConfigDoc;
  /** hex SHA-256 of the stored JSON text of `doc`. */
  hash: string;
  updatedAt: number;
  /** Who wrote this revision, for people: "seeded from /etc/xaa/mcp.config.json", "admin API", "config import". */
  updatedBy: string;
}

/**
 * The outcome of claiming a security event (src/ssf): 'claimed' by this caller, who must act on it
 * and then complete or release the claim; 'acted' on already; 'pending': another claim is in
 * progress (another instance, or this one before a restart that is not yet past its lease).
 */
export type SecurityEventClaim = 'claimed' | 'acted' | 'pending';

/**
 * One entry of the auth change feed (migration 7): `session` (a user session was revoked or its
 * IdP tokens renewed: cached copies are stale), `jti` (a gateway access token was revoked, until
 * `expiresAt`). `seq` is absent on the synchronous local announcement, made before the write returns.
 */
export interface AuthChange {
  seq?: number;
  kind: 'session' | 'jti';
  key: string;
  expiresAt?: number;
}

export interface Store {
  readonly engine: 'pglite' | 'postgres';

  // Users' IdP sessions
  createUserSession(s: Omit<UserSession, 'id' | 'createdAt' | 'updatedAt' | 'revokedAt'>): Promise<UserSession>;
  getUserSession(id: string): Promise<UserSession | undefined>;
  updateUserSessionTokens(id: string, t: { idToken: string; idTokenExpiresAt: number; idpRefreshToken?: string }): Promise<void>;
  revokeUserSession(id: string, at: number): Promise<boolean>;
  listUserSessions(filter?: { iss?: string; sub?: string; activeOnly?: boolean }): Promise<UserSession[]>;

  // Clients
  upsertClient(c: RegisteredClient): Promise<void>;
  getClient(clientId: string): Promise<RegisteredClient | undefined>;
  deleteClient(clientId: string): Promise<boolean>;

  // Consents (per user and agent)
  getConsent(iss: string, sub: string, clientId: string): Promise<Consent | undefined>;
  saveConsent(c: Consent): Promise<void>;

  // Pending authorization requests (survive a restart and work across instances)
  saveAuthorizationRequest(r: AuthorizationRequest): Promise<void>;
  getAuthorizationRequest(id: string): Promise<AuthorizationRequest | undefined>;
  updateAuthorizationRequest(id: string, patch: Partial<Pick<AuthorizationRequest, 'sessionId'>>): Promise<void>;
  deleteAuthorizationRequest(id: string): Promise<void>;

  // Authorization codes: single use, consumed atomically
  saveAuthorizationCode(c: AuthorizationCode): Promise<void>;
  consumeAuthorizationCode(codeHash: string, now: number): Promise<AuthorizationCode | undefined>;
  /** The session a code was already used for (a replay), until the code's expiry purges it. */
  usedAuthorizationCodeSession(codeHash: string): Promise<string | undefined>;

  // Refresh tokens, rotated; reuse of a rotated one revokes its whole family (OAuth 2.1 §4.3.1)
  saveRefreshToken(r: RefreshTokenRecord): Promise<void>;
  /** Atomically marks `oldHash` rotated and stores `next` in the same family; on reuse revokes the family. */
  rotateRefreshToken(oldHash: string, next: Omit<RefreshTokenRecord, 'familyId' | 'sessionId' | 'clientId'>, now: number): Promise<RotateResult>;
  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined>;
  revokeRefreshFamily(familyId: string, at: number): Promise<number>;
  revokeRefreshTokensOf(filter: { sessionId?: string; clientId?: string }, at: number): Promise<number>;

  // Revoked access tokens (by jti) until they would have expired anyway
  revokeAccessToken(jti: string, expiresAt: number): Promise<void>;
  isAccessTokenRevoked(jti: string): Promise<boolean>;
  /** Revoked jtis that have not expired at `now`, with their expiry (the in-memory set's initial load). */
  listRevokedAccessTokens(now: number): Promise<Array<{ jti: string; expiresAt: number }>>;

  // The auth change feed (src/store/auth-state.ts)
  /** Feed entries after `seq`, oldest first (at most `limit`), and the newest seq in the feed. */
  authChangesSince(seq: number, limit?: number): Promise<{ changes: AuthChange[]; head: number }>;
  /**
   * Calls `listener(changes)` synchronously once a change made through this store object is
   * committed (before the write resolves), and `listener(undefined)` on NOTIFY from other
   * instances (PostgreSQL; read the feed then). Resolves to a function that stops it.
   */
  onAuthChange(listener: (local: AuthChange[] | undefined) => void): Promise<() => Promise<void>>;

  // Signing keys for gateway access tokens; rotation keeps the old key verifying
  listSigningKeys(): Promise<SigningKey[]>;
  addSigningKey(k: SigningKey): Promise<void>;
  retireSigningKey(kid: string, retiredAt: number, verifyUntil: number): Promise<void>;
  /**
   * Adds `next` and retires every unretired key (`retire.at`, verifying until `retire.verifyUntil`),
   * atomically and one rotation at a time across every instance sharing the store, so exactly one
   * key signs afterwards. With `condition`, only when the current signing key (the newest
   * unretired) was created at or before `signingCreatedAtOrBefore`, or there is none; this check
   * is made under the same lock, so instances that find the key due at once rotate it once.
   */
  rotateSigningKey(
    next: SigningKey,
    retire: { at: number; verifyUntil: number },
    condition?: { signingCreatedAtOrBefore: number },
  ): Promise<SigningKeyRotation>;

  // Admin control: sessions and agents at a glance, bulk revocation
  listRefreshFamilies(filter?: { sessionId?: string; clientId?: string; activeOnly?: boolean }): Promise<RefreshFamily[]>;
  /**
   * Revokes, in one transaction, the active user sessions of a user, or those an agent signed in
   * with (it holds a refresh token or an unredeemed code from them), with all their refresh tokens;
   * for an agent also its refresh tokens in any other session.
   */
  revokeSessionsOf(filter: { user: { iss: string; sub: string } } | { clientId: string }, at: number): Promise<SessionRevocation>;

  // Kill switches (src/control); each change bumps the revision
  listKillSwitches(): Promise<KillSwitchList>;
  killSwitchRevision(): Promise<number>;
  /**
   * Calls `listener` after a kill switch changes: at once for changes through this store object,
   * and (PostgreSQL) on NOTIFY for changes made by other instances. Resolves to a function that stops it.
   */
  onKillSwitchChange(listener: () => void): Promise<() => Promise<void>>;
  /** Sets (or replaces) the switch with `state.switch`'s key. Returns the previous state, if any. */
  putKillSwitch(key: string, state: SwitchState): Promise<{ previous?: SwitchState; revision: number }>;
  /**
   * Lifts it. `previous` is undefined when it was not set (the revision is then unchanged). With
   * `onlyIfSince`, only the switch set at that time: one set again meanwhile (another admin, another
   * instance) stays.
   */
  deleteKillSwitch(key: string, onlyIfSince?: number): Promise<{ previous?: SwitchState; revision: number }>;

  // Fleet config (src/config/fleet.ts): tools, resources and upstreams shared by the instances
  /** The fleet config, or undefined when the store has none yet. */
  getFleetConfig(): Promise<FleetConfigRecord | undefined>;
  /** Its revision (0 when there is none): one row read, for the poll. */
  fleetConfigRevision(): Promise<number>;
  /** Like onKillSwitchChange, for fleet config changes (NOTIFY sent in the change's transaction). */
  onFleetConfigChange(listener: () => void): Promise<() => Promise<void>>;
  /** Stores `doc` as revision 1 when the store has no fleet config yet, under a lock (instances starting together seed once). */
  seedFleetConfig(doc: FleetConfigDoc, by: string): Promise<{ record: FleetConfigRecord; seeded: boolean }>;
  /**
   * Read-check-write under the row's lock, one change at a time across the instances: `edit` gets
   * the record in force (undefined when none) and returns the next doc, or throws to change nothing
   * (a stale version, an invalid result, an audit record that cannot be written). A doc equal to the
   * current one is not a new revision.
   */
  updateFleetConfig<T>(
    edit: (current: FleetConfigRecord | undefined) => Promise<{ doc: FleetConfigDoc; result: T }>,
    by: string,
  ): Promise<{ record: FleetConfigRecord; result: T; changed: boolean }>;

  /** PostgreSQL: whether the LISTEN connection that carries change notifications is up; undefined for the embedded store. */
  listenStatus?(): ListenStatus | undefined;

  // Browser admin sessions (src/admin)
  createAdminSession(s: AdminSession): Promise<void>;
  /** Unexpired and not revoked, else undefined. */
  getAdminSession(idHash: string, now: number): Promise<AdminSession | undefined>;
  revokeAdminSession(idHash: string, at: number): Promise<boolean>;
  revokeAdminSessionsOf(user: { iss: string; sub: string }, at: number): Promise<number>;

  // Security events (src/ssf): each SET, by (transmitter iss, jti), is acted on once across restarts and instances
  /**
   * Claims (iss, jti) at `now`, atomically: 'claimed' when nobody has, or when a claim made at least
   * `leaseMs` ago was never completed or released (its process died); else 'acted' or 'pending'.
   * The row is kept until `expiresAt` (when the SET would be refused as too old); past it, it counts as absent.
   */
  claimSecurityEvent(iss: string, jti: string, expiresAt: number, now: number, leaseMs: number): Promise<SecurityEventClaim>;
  /** The event was acted on: later claims answer 'acted'. */
  completeSecurityEvent(iss: string, jti: string, at: number): Promise<void>;
  /** Acting failed: drops the claim made at `claimedAt` (not one taken over since), so a redelivery claims it again. */
  releaseSecurityEvent(iss: string, jti: string, claimedAt: number): Promise<void>;

  /** Deletes expired codes, requests, refresh tokens, revoked-jti rows and security event claims. */
  purgeExpired(now: number): Promise<void>;
  close(): Promise<void>;
}
