/**
 * The Store, written once against the `Sql` adapter: every engine runs these same parameterized
 * statements. Secrets go through the SecretBox (AES-256-GCM, row-bound associated data); tokens the
 * gateway issues arrive here already hashed.
 *
 * Each aggregate's SQL is in its repository file (user-sessions.ts, clients.ts...); this class holds
 * what they share: the NOTIFY channels and their local listeners, the auth change feed's wiring, the
 * key check, the purge, and one delegation per Store method.
 */
import type { SwitchState } from '../domain/control.js';
import { isAccessTokenRevoked, listRevokedAccessTokens, revokeAccessToken } from './access-tokens.js';
import { listRefreshFamilies, revokeSessionsOf } from './admin-control.js';
import { createAdminSession, getAdminSession, revokeAdminSession, revokeAdminSessionsOf } from './admin-sessions.js';
import { appendAuthChanges, authChangesSince, authChannel } from './auth-changes.js';
import type { AuthFeed } from './auth-feed.js';
import {
  consumeAuthorizationCode,
  deleteAuthorizationRequest,
  getAuthorizationRequest,
  saveAuthorizationCode,
  saveAuthorizationRequest,
  updateAuthorizationRequest,
  usedAuthorizationCodeSession,
} from './authorization.js';
import { StoreChannels } from './channels.js';
import { deleteClient, getClient, getConsent, saveConsent, upsertClient } from './clients.js';
import type { SecretBox } from './crypto.js';
import { fleetChannel, fleetConfigRevision, getFleetConfig, seedFleetConfig, updateFleetConfig } from './fleet-config.js';
import { checkKey } from './key-check.js';
import { purgeExpired } from './purge.js';
import { deleteKillSwitch, killSwitchRevision, listKillSwitches, putKillSwitch, switchChannel } from './kill-switches.js';
import { getRefreshToken, revokeRefreshFamily, revokeRefreshTokensOf, rotateRefreshToken, saveRefreshToken } from './refresh-tokens.js';
import { createScimResource, deleteScimResource, findScimResources, getScimResource, updateScimResource } from './scim.js';
import { claimSecurityEvent, completeSecurityEvent, releaseSecurityEvent } from './security-events.js';
import { addSigningKey, listSigningKeys, retireSigningKey, rotateSigningKey } from './signing-keys.js';
import type { Sql } from './sql.js';
import { createUserSession, getUserSession, listUserSessions, revokeUserSession, updateUserSessionTokens, wipeExpiredAssertions } from './user-sessions.js';
import { redeemAssertion } from './assertions.js';
import type {
  AdminSession,
  AuthChange,
  AuthorizationCode,
  AuthorizationRequest,
  Consent,
  FleetConfigDoc,
  FleetConfigRecord,
  KillSwitchList,
  ListenStatus,
  RefreshFamily,
  RefreshTokenRecord,
  RegisteredClient,
  RotateResult,
  ScimResourceRecord,
  ScimResourceType,
  ScimResourceWrite,
  ScimWriteResult,
  SecurityEventClaim,
  SessionRevocation,
  SigningKey,
  SigningKeyRotation,
  Store,
  UserSession,
} from './types.js';

export class SqlStore implements Store {
  readonly engine: 'pglite' | 'postgres';

  /** `sql` is public for tests that inspect raw rows; application code uses the Store methods. */
  constructor(
    readonly sql: Sql,
    private readonly box: SecretBox,
    private readonly now: () => number = Date.now,
  ) {
    this.engine = sql.engine;
    this.#channels = new StoreChannels(sql);
  }

  /** The NOTIFY channels this store object listens on, with their local listeners. */
  readonly #channels: StoreChannels;

  get #switchChannel(): string {
    return switchChannel(this.sql.schema);
  }

  onKillSwitchChange(listener: () => void): Promise<() => Promise<void>> {
    return this.#channels.subscribe(this.#switchChannel, listener);
  }

  onFleetConfigChange(listener: () => void): Promise<() => Promise<void>> {
    return this.#channels.subscribe(fleetChannel(this.sql.schema), listener);
  }

  listenStatus(): ListenStatus | undefined {
    return this.sql.listenStatus?.();
  }

  #emitSwitchChange(): void {
    this.#channels.emit(this.#switchChannel);
  }

  // ---- auth change feed (src/store/auth-changes.ts, read by auth-state.ts) ----

  readonly #authListeners = new Set<(local: AuthChange[] | undefined) => void>();

  async onAuthChange(listener: (local: AuthChange[] | undefined) => void): Promise<() => Promise<void>> {
    this.#authListeners.add(listener);
    const stop = await this.#channels.subscribe(authChannel(this.sql.schema), () => listener(undefined));
    return async () => {
      this.#authListeners.delete(listener);
      await stop();
    };
  }

  authChangesSince(seq: number, limit = 1000): Promise<{ changes: AuthChange[]; head: number }> {
    return authChangesSince(this.sql, seq, limit);
  }

  /** Given to the repositories whose writes can end a credential's validity. */
  readonly #feed: AuthFeed = {
    append: (tx, changes) => appendAuthChanges(tx, changes, this.now(), this.sql.listen ? authChannel(this.sql.schema) : undefined),
    announce: (changes) => {
      if (changes.length === 0) return;
      for (const l of this.#authListeners) l(changes);
    },
  };

  // ---- fleet config (src/config/fleet.ts) ----

  getFleetConfig(): Promise<FleetConfigRecord | undefined> {
    return getFleetConfig(this.sql);
  }

  fleetConfigRevision(): Promise<number> {
    return fleetConfigRevision(this.sql);
  }

  async seedFleetConfig(doc: FleetConfigDoc, by: string): Promise<{ record: FleetConfigRecord; seeded: boolean }> {
    const out = await seedFleetConfig(this.sql, doc, by, this.now(), this.sql.listen !== undefined);
    if (out.seeded) this.#channels.emit(fleetChannel(this.sql.schema));
    return out;
  }

  async updateFleetConfig<T>(
    edit: (current: FleetConfigRecord | undefined) => Promise<{ doc: FleetConfigDoc; result: T }>,
    by: string,
  ): Promise<{ record: FleetConfigRecord; result: T; changed: boolean }> {
    const out = await updateFleetConfig(this.sql, edit, by, this.now, this.sql.listen !== undefined);
    // Other services on this store object (the NOTIFY reaches other processes).
    if (out.changed) this.#channels.emit(fleetChannel(this.sql.schema));
    return out;
  }

  // ---- kill switches (kill-switches.ts) ----

  listKillSwitches(): Promise<KillSwitchList> {
    return listKillSwitches(this.sql);
  }

  killSwitchRevision(): Promise<number> {
    return killSwitchRevision(this.sql);
  }

  async putKillSwitch(key: string, state: SwitchState): Promise<{ previous?: SwitchState; revision: number }> {
    const out = await putKillSwitch(this.sql, this.sql.listen ? this.#switchChannel : undefined, key, state);
    this.#emitSwitchChange(); // services on this store object (the NOTIFY reaches other processes)
    return out;
  }

  async deleteKillSwitch(key: string, onlyIfSince?: number): Promise<{ previous?: SwitchState; revision: number }> {
    const out = await deleteKillSwitch(this.sql, this.sql.listen ? this.#switchChannel : undefined, key, onlyIfSince);
    if (out.previous) this.#emitSwitchChange();
    return out;
  }

  /** At open: a wrong `server.encryptionKey` fails at start, not on some user's first request. */
  checkKey(): Promise<void> {
    return checkKey(this.sql, this.box);
  }

  // ---- users' IdP sessions (user-sessions.ts) ----

  createUserSession(s: Omit<UserSession, 'id' | 'createdAt' | 'updatedAt' | 'revokedAt'>): Promise<UserSession> {
    return createUserSession(this.sql, this.box, this.now, s);
  }

  getUserSession(id: string): Promise<UserSession | undefined> {
    return getUserSession(this.sql, this.box, id);
  }

  updateUserSessionTokens(id: string, t: { idToken: string; idTokenExpiresAt: number; idpRefreshToken?: string }): Promise<void> {
    return updateUserSessionTokens(this.sql, this.box, this.#feed, this.now, id, t);
  }

  revokeUserSession(id: string, at: number): Promise<boolean> {
    return revokeUserSession(this.sql, this.#feed, id, at);
  }

  wipeExpiredAssertions(now: number): Promise<number> {
    return wipeExpiredAssertions(this.sql, this.#feed, now);
  }

  // ---- redeemed ID-JAGs (assertions.ts, src/inbound/http/as/id-jag-grant.ts) ----

  redeemAssertion(iss: string, jti: string, expiresAt: number, now: number): Promise<boolean> {
    return redeemAssertion(this.sql, iss, jti, expiresAt, now);
  }

  listUserSessions(filter?: { iss?: string; sub?: string; activeOnly?: boolean }): Promise<UserSession[]> {
    return listUserSessions(this.sql, this.box, filter);
  }

  // ---- clients and consents (clients.ts) ----

  upsertClient(c: RegisteredClient): Promise<void> {
    return upsertClient(this.sql, c);
  }

  getClient(clientId: string): Promise<RegisteredClient | undefined> {
    return getClient(this.sql, clientId);
  }

  deleteClient(clientId: string): Promise<boolean> {
    return deleteClient(this.sql, clientId);
  }

  getConsent(iss: string, sub: string, clientId: string): Promise<Consent | undefined> {
    return getConsent(this.sql, iss, sub, clientId);
  }

  saveConsent(c: Consent): Promise<void> {
    return saveConsent(this.sql, c);
  }

  // ---- pending authorization requests and codes (authorization.ts) ----

  saveAuthorizationRequest(r: AuthorizationRequest): Promise<void> {
    return saveAuthorizationRequest(this.sql, this.box, r);
  }

  getAuthorizationRequest(id: string): Promise<AuthorizationRequest | undefined> {
    return getAuthorizationRequest(this.sql, this.box, this.now, id);
  }

  updateAuthorizationRequest(id: string, patch: Partial<Pick<AuthorizationRequest, 'sessionId'>>): Promise<void> {
    return updateAuthorizationRequest(this.sql, id, patch);
  }

  deleteAuthorizationRequest(id: string): Promise<void> {
    return deleteAuthorizationRequest(this.sql, id);
  }

  saveAuthorizationCode(c: AuthorizationCode): Promise<void> {
    return saveAuthorizationCode(this.sql, c);
  }

  consumeAuthorizationCode(codeHash: string, now: number): Promise<AuthorizationCode | undefined> {
    return consumeAuthorizationCode(this.sql, codeHash, now);
  }

  usedAuthorizationCodeSession(codeHash: string): Promise<string | undefined> {
    return usedAuthorizationCodeSession(this.sql, codeHash);
  }

  // ---- refresh tokens (refresh-tokens.ts) ----

  saveRefreshToken(r: RefreshTokenRecord): Promise<void> {
    return saveRefreshToken(this.sql, r);
  }

  rotateRefreshToken(oldHash: string, next: Omit<RefreshTokenRecord, 'familyId' | 'sessionId' | 'clientId'>, now: number): Promise<RotateResult> {
    return rotateRefreshToken(this.sql, oldHash, next, now);
  }

  getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    return getRefreshToken(this.sql, tokenHash);
  }

  revokeRefreshFamily(familyId: string, at: number): Promise<number> {
    return revokeRefreshFamily(this.sql, familyId, at);
  }

  revokeRefreshTokensOf(filter: { sessionId?: string; clientId?: string }, at: number): Promise<number> {
    return revokeRefreshTokensOf(this.sql, filter, at);
  }

  // ---- revoked access tokens (access-tokens.ts) ----

  revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    return revokeAccessToken(this.sql, this.#feed, jti, expiresAt);
  }

  isAccessTokenRevoked(jti: string): Promise<boolean> {
    return isAccessTokenRevoked(this.sql, jti);
  }

  listRevokedAccessTokens(now: number): Promise<Array<{ jti: string; expiresAt: number }>> {
    return listRevokedAccessTokens(this.sql, now);
  }

  // ---- signing keys (signing-keys.ts) ----

  listSigningKeys(): Promise<SigningKey[]> {
    return listSigningKeys(this.sql, this.box);
  }

  addSigningKey(k: SigningKey): Promise<void> {
    return addSigningKey(this.sql, this.box, k);
  }

  rotateSigningKey(
    next: SigningKey,
    retire: { at: number; verifyUntil: number },
    condition?: { signingCreatedAtOrBefore: number },
  ): Promise<SigningKeyRotation> {
    return rotateSigningKey(this.sql, this.box, next, retire, condition);
  }

  retireSigningKey(kid: string, retiredAt: number, verifyUntil: number): Promise<void> {
    return retireSigningKey(this.sql, kid, retiredAt, verifyUntil);
  }

  // ---- admin control: sessions and agents, bulk revocation (admin-control.ts) ----

  listRefreshFamilies(filter?: { sessionId?: string; clientId?: string; activeOnly?: boolean }): Promise<RefreshFamily[]> {
    return listRefreshFamilies(this.sql, this.now, filter);
  }

  revokeSessionsOf(filter: { user: { iss: string; sub: string } } | { clientId: string }, at: number): Promise<SessionRevocation> {
    return revokeSessionsOf(this.sql, this.#feed, filter, at);
  }

  // ---- browser admin sessions (admin-sessions.ts) ----

  createAdminSession(s: AdminSession): Promise<void> {
    return createAdminSession(this.sql, s);
  }

  getAdminSession(idHash: string, now: number): Promise<AdminSession | undefined> {
    return getAdminSession(this.sql, idHash, now);
  }

  revokeAdminSession(idHash: string, at: number): Promise<boolean> {
    return revokeAdminSession(this.sql, idHash, at);
  }

  revokeAdminSessionsOf(user: { iss: string; sub: string }, at: number): Promise<number> {
    return revokeAdminSessionsOf(this.sql, user, at);
  }

  // ---- security events (security-events.ts, src/ssf) ----

  claimSecurityEvent(iss: string, jti: string, expiresAt: number, now: number, leaseMs: number): Promise<SecurityEventClaim> {
    return claimSecurityEvent(this.sql, iss, jti, expiresAt, now, leaseMs);
  }

  completeSecurityEvent(iss: string, jti: string, at: number): Promise<void> {
    return completeSecurityEvent(this.sql, iss, jti, at);
  }

  releaseSecurityEvent(iss: string, jti: string, claimedAt: number): Promise<void> {
    return releaseSecurityEvent(this.sql, iss, jti, claimedAt);
  }

  // ---- SCIM resources (scim.ts, src/scim) ----

  getScimResource(client: string, type: ScimResourceType, id: string): Promise<ScimResourceRecord | undefined> {
    return getScimResource(this.sql, client, type, id);
  }

  findScimResources(client: string, type: ScimResourceType, by?: { name?: string; externalId?: string }): Promise<ScimResourceRecord[]> {
    return findScimResources(this.sql, client, type, by);
  }

  createScimResource(client: string, type: ScimResourceType, id: string, write: ScimResourceWrite, now: number): Promise<ScimWriteResult> {
    return createScimResource(this.sql, client, type, id, write, now);
  }

  updateScimResource(client: string, type: ScimResourceType, id: string, version: number, write: ScimResourceWrite, now: number): Promise<ScimWriteResult> {
    return updateScimResource(this.sql, client, type, id, version, write, now);
  }

  deleteScimResource(client: string, type: ScimResourceType, id: string, version?: number): Promise<ScimWriteResult> {
    return deleteScimResource(this.sql, client, type, id, version);
  }

  // ---- housekeeping ----

  /** See purge.ts: what can no longer be used, deleted in one transaction. */
  purgeExpired(now: number): Promise<void> {
    return purgeExpired(this.sql, now);
  }

  async close(): Promise<void> {
    await this.sql.close();
  }
}
