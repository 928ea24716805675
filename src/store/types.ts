/**
 * Persistent state of the remote (Streamable HTTP) gateway: one SQL schema, two engines (PGlite
 * embedded by default, PostgreSQL when DATABASE_URL is set). Secrets at rest (IdP refresh tokens,
 * signing keys) are encrypted with AES-256-GCM under the key from `server.encryptionKey`; tokens
 * the gateway issues are stored only as SHA-256 hashes.
 *
 * The Store is composed of one interface per aggregate, each declared with its records in the
 * repository file that implements it (user-sessions.ts, clients.ts...); this file re-exports them
 * all, so the store's vocabulary is imported from here.
 */
import type { AccessTokenStore } from './access-tokens.js';
import type { AdminControlStore } from './admin-control.js';
import type { AdminSessionStore } from './admin-sessions.js';
import type { AuthFeedStore } from './auth-feed.js';
import type { AuthorizationStore } from './authorization.js';
import type { ClientStore } from './clients.js';
import type { KillSwitchStore } from './kill-switches.js';
import type { ListenStatus } from './listener.js';
import type { RefreshTokenStore } from './refresh-tokens.js';
import type { RedeemedAssertionStore } from './assertions.js';
import type { ScimStore } from './scim.js';
import type { SecurityEventStore } from './security-events.js';
import type { SigningKeyStore } from './signing-keys.js';
import type { UserSessionStore } from './user-sessions.js';

export type { ListenStatus } from './listener.js';
export type { UserSession, UserSessionStore } from './user-sessions.js';
export type { RegisteredClient, Consent, ClientStore } from './clients.js';
export type { AuthorizationRequest, AuthorizationCode, AuthorizationStore } from './authorization.js';
export type { RefreshTokenRecord, RotateResult, RefreshTokenStore } from './refresh-tokens.js';
export type { AccessTokenStore } from './access-tokens.js';
export type { AuthChange, AuthFeedStore } from './auth-feed.js';
export type { SigningKey, SigningKeyRotation, SigningKeyStore } from './signing-keys.js';
export type { RefreshFamily, SessionRevocation, AdminControlStore } from './admin-control.js';
export type { KillSwitchList, KillSwitchStore } from './kill-switches.js';
export type { AdminSession, AdminSessionStore } from './admin-sessions.js';
export type { SecurityEventClaim, SecurityEventStore } from './security-events.js';
export type { RedeemedAssertionStore } from './assertions.js';
export type { ScimResourceRecord, ScimResourceType, ScimResourceWrite, ScimStore, ScimWriteResult } from './scim.js';

// The fleet config's records are declared here, not in its repository: fleet-config.ts imports them.

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

/** Fleet config (src/config/fleet.ts): tools, resources and upstreams shared by the instances. */
export interface FleetConfigStore {
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
}

export interface Store
  extends
    UserSessionStore,
    ClientStore,
    AuthorizationStore,
    RefreshTokenStore,
    AccessTokenStore,
    AuthFeedStore,
    SigningKeyStore,
    AdminControlStore,
    KillSwitchStore,
    FleetConfigStore,
    AdminSessionStore,
    SecurityEventStore,
    ScimStore,
    RedeemedAssertionStore {
  readonly engine: 'pglite' | 'postgres';

  /** PostgreSQL: whether the LISTEN connection that carries change notifications is up; undefined for the embedded store. */
  listenStatus?(): ListenStatus | undefined;

  /** Deletes expired codes, requests, refresh tokens, revoked-jti rows and security event claims. */
  purgeExpired(now: number): Promise<void>;
  close(): Promise<void>;
}
