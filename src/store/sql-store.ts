/**
 * The Store, written once against the `Sql` adapter: every engine runs these same parameterized
 * statements. Secrets go through the SecretBox (AES-256-GCM, row-bound associated data); tokens the
 * gateway issues arrive here already hashed.
 */
import { randomBytes } from 'node:crypto';
import { GatewayError } from '../errors.js';
import type { SecretBox } from './crypto.js';
import { appendAuthChanges, authChangesSince, authChannel, purgeAuthChanges } from './auth-changes.js';
import { fleetChannel, fleetConfigRevision, getFleetConfig, seedFleetConfig, updateFleetConfig } from './fleet-config.js';
import type { Queryable, Sql } from './sql.js';
import type { SwitchState } from '../domain/control.js';
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
  SecurityEventClaim,
  SessionRevocation,
  SigningKey,
  SigningKeyRotation,
  Store,
  UserSession,
} from './types.js';

type Row = Record<string, unknown>;

const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
const json = (v: unknown): string => JSON.stringify(v);
/** JSONB comes back parsed from both engines; tolerate text for safety. */
const parsed = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

const aad = {
  idToken: (id: string) => `user_sessions.id_token:${id}`,
  idpRefreshToken: (id: string) => `user_sessions.idp_refresh_token:${id}`,
  codeVerifier: (id: string) => `authorization_requests.idp_code_verifier:${id}`,
  privateJwk: (kid: string) => `signing_keys.private_jwk:${kid}`,
  keyCheck: 'store_meta.key_check',
};
const KEY_CHECK_PLAINTEXT = 'xaa-gateway store key check v1';

export class SqlStore implements Store {
  readonly engine: 'pglite' | 'postgres';

  /** `sql` is public for tests that inspect raw rows; application code uses the Store methods. */
  constructor(
    readonly sql: Sql,
    private readonly box: SecretBox,
    private readonly now: () => number = Date.now,
  ) {
    this.engine = sql.engine;
  }

  /** Per NOTIFY channel: the listeners of this store object, and the LISTEN that feeds them. */
  readonly #channels = new Map<string, { listeners: Set<() => void>; stop?: Promise<(() => Promise<void>) | undefined> }>();

  /** NOTIFY channel of kill-switch changes: per schema, like the tables (identifier, ≤ 63 bytes). */
  get #switchChannel(): string {
    return `xaa_kill_switches_${this.sql.schema}`.slice(0, 63);
  }

  onKillSwitchChange(listener: () => void): Promise<() => Promise<void>> {
    return this.#subscribe(this.#switchChannel, listener);
  }

  onFleetConfigChange(listener: () => void): Promise<() => Promise<void>> {
    return this.#subscribe(fleetChannel(this.sql.schema), listener);
  }

  listenStatus(): ListenStatus | undefined {
    return this.sql.listenStatus?.();
  }

  async #subscribe(channel: string, listener: () => void): Promise<() => Promise<void>> {
    let entry = this.#channels.get(channel);
    if (!entry) this.#channels.set(channel, (entry = { listeners: new Set() }));
    entry.listeners.add(listener);
    // One LISTEN per channel and store, shared by its listeners (on the store's one LISTEN
    // connection, see listener.ts); PGlite has no other process to hear.
    if (this.sql.listen && !entry.stop) {
      const pending = this.sql.listen(channel, () => this.#emit(channel));
      entry.stop = pending.catch(() => undefined);
      await pending;
    }
    const e = entry;
    return async () => {
      e.listeners.delete(listener);
      if (e.listeners.size === 0 && e.stop) {
        const stop = await e.stop;
        e.stop = undefined;
        await stop?.();
      }
    };
  }

  #emit(channel: string): void {
    for (const l of this.#channels.get(channel)?.listeners ?? []) l();
  }

  #emitSwitchChange(): void {
    this.#emit(this.#switchChannel);
  }

  // ---- auth change feed (src/store/auth-changes.ts, read by auth-state.ts) ----

  readonly #authListeners = new Set<(local: AuthChange[] | undefined) => void>();

  async onAuthChange(listener: (local: AuthChange[] | undefined) => void): Promise<() => Promise<void>> {
    this.#authListeners.add(listener);
    const stop = await this.#subscribe(authChannel(this.sql.schema), () => listener(undefined));
    return async () => {
      this.#authListeners.delete(listener);
      await stop();
    };
  }

  authChangesSince(seq: number, limit = 1000): Promise<{ changes: AuthChange[]; head: number }> {
    return authChangesSince(this.sql, seq, limit);
  }

  /** In the change's transaction: the feed rows, and the NOTIFY other instances hear at commit. */
  #appendAuthChanges(tx: Queryable, changes: AuthChange[]): Promise<void> {
    return appendAuthChanges(tx, changes, this.now(), this.sql.listen ? authChannel(this.sql.schema) : undefined);
  }

  /** After commit, before the write resolves: this process's caches apply it before anything else runs. */
  #announceAuthChanges(changes: AuthChange[]): void {
    if (changes.length === 0) return;
    for (const l of this.#authListeners) l(changes);
  }

  // ---- fleet config (src/config/fleet.ts) ----

  getFleetConfig(): Promise<FleetConfigRecord | undefined> {
    return getFleetConfig(this.sql);
  }

  fleetConfigRevision(): Promise<number> {
    return fleetConfigRevision(this.sql);
  }

  async seedFleetConfig(doc: FleetConfigDoc, by: string): Promise<{ record: FleetConfigRecord; seeded: boolean }> {
    const out = await seedFleetConfig(this.sql, doc, by, this.now(), this.sql.listen !== undefined);
    if (out.seeded) this.#emit(fleetChannel(this.sql.schema));
    return out;
  }

  async updateFleetConfig<T>(
    edit: (current: FleetConfigRecord | undefined) => Promise<{ doc: FleetConfigDoc; result: T }>,
    by: string,
  ): Promise<{ record: FleetConfigRecord; result: T; changed: boolean }> {
    const out = await updateFleetConfig(this.sql, edit, by, this.now, this.sql.listen !== undefined);
    // Other services on this store object (the NOTIFY reaches other processes).
    if (out.changed) this.#emit(fleetChannel(this.sql.schema));
    return out;
  }

  /**
   * Proves at open that `server.encryptionKey` is the key the store was written with, so a wrong
   * key fails at start with a clear message rather than on some user's first request.
   */
  async checkKey(): Promise<void> {
    await this.sql.query('INSERT INTO store_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [
      'key_check',
      this.box.encrypt(KEY_CHECK_PLAINTEXT, aad.keyCheck),
    ]);
    const { rows } = await this.sql.query<{ value: string }>('SELECT value FROM store_meta WHERE key = $1', ['key_check']);
    let ok: boolean;
    try {
      ok = rows[0] !== undefined && this.box.decrypt(rows[0].value, aad.keyCheck) === KEY_CHECK_PLAINTEXT;
    } catch {
      ok = false;
    }
    if (!ok) {
      throw new GatewayError(
        'config_invalid',
        'server.encryptionKey does not match the key this store was created with: use the original key ' +
          '(a new key, made with `openssl rand -base64 32`, needs a new empty store and signs everyone out)',
      );
    }
  }

  // ---- users' IdP sessions ----

  async createUserSession(s: Omit<UserSession, 'id' | 'createdAt' | 'updatedAt' | 'revokedAt'>): Promise<UserSession> {
    const id = randomBytes(18).toString('base64url');
    const at = this.now();
    await this.sql.query(
      `INSERT INTO user_sessions (id, iss, sub, email, name, id_token_enc, id_token_expires_at, idp_refresh_token_enc, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
      [
        id,
        s.iss,
        s.sub,
        s.email ?? null,
        s.name ?? null,
        this.box.encrypt(s.idToken, aad.idToken(id)),
        s.idTokenExpiresAt,
        s.idpRefreshToken === undefined ? null : this.box.encrypt(s.idpRefreshToken, aad.idpRefreshToken(id)),
        at,
      ],
    );
    return { ...s, id, createdAt: at, updatedAt: at };
  }

  async getUserSession(id: string): Promise<UserSession | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM user_sessions WHERE id = $1', [id]);
    return rows[0] && this.toSession(rows[0]);
  }

  async updateUserSessionTokens(id: string, t: { idToken: string; idTokenExpiresAt: number; idpRefreshToken?: string }): Promise<void> {
    const changes: AuthChange[] = [{ kind: 'session', key: id }];
    await this.sql.transaction(async (tx) => {
      // An IdP may answer a refresh without a new refresh token (RFC 6749 §6): keep the old one then.
      await tx.query(
        `UPDATE user_sessions SET id_token_enc = $2, id_token_expires_at = $3,
           idp_refresh_token_enc = COALESCE($4, idp_refresh_token_enc), updated_at = $5
         WHERE id = $1`,
        [
          id,
          this.box.encrypt(t.idToken, aad.idToken(id)),
          t.idTokenExpiresAt,
          t.idpRefreshToken === undefined ? null : this.box.encrypt(t.idpRefreshToken, aad.idpRefreshToken(id)),
          this.now(),
        ],
      );
      // Other instances' cached copies hold the old tokens (a rotated IdP refresh token is spent).
      await this.#appendAuthChanges(tx, changes);
    });
    this.#announceAuthChanges(changes);
  }

  /**
   * Signs the session out and, in the same transaction, revokes its refresh tokens and drops its
   * unredeemed authorization codes: nothing minted from a signed-out session stays usable.
   * Returns false when the session is unknown or already revoked.
   */
  async revokeUserSession(id: string, at: number): Promise<boolean> {
    const revoked = await this.sql.transaction(async (tx) => {
      const res = await tx.query('UPDATE user_sessions SET revoked_at = $2, updated_at = $2 WHERE id = $1 AND revoked_at IS NULL', [id, at]);
      if (res.rowCount === 0) return false;
      await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = $1 AND revoked_at IS NULL', [id, at]);
      await tx.query('DELETE FROM authorization_codes WHERE session_id = $1', [id]);
      await this.#appendAuthChanges(tx, [{ kind: 'session', key: id }]);
      return true;
    });
    if (revoked) this.#announceAuthChanges([{ kind: 'session', key: id }]);
    return revoked;
  }

  async listUserSessions(filter: { iss?: string; sub?: string; activeOnly?: boolean } = {}): Promise<UserSession[]> {
    const { rows } = await this.sql.query(
      `SELECT * FROM user_sessions
       WHERE ($1::text IS NULL OR iss = $1) AND ($2::text IS NULL OR sub = $2) AND (NOT $3::boolean OR revoked_at IS NULL)
       ORDER BY created_at, id`,
      [filter.iss ?? null, filter.sub ?? null, filter.activeOnly ?? false],
    );
    return rows.map((r) => this.toSession(r));
  }

  private toSession(r: Row): UserSession {
    const id = String(r.id);
    return {
      id,
      iss: String(r.iss),
      sub: String(r.sub),
      email: optStr(r.email),
      name: optStr(r.name),
      idToken: this.box.decrypt(String(r.id_token_enc), aad.idToken(id)),
      idTokenExpiresAt: num(r.id_token_expires_at),
      idpRefreshToken: r.idp_refresh_token_enc == null ? undefined : this.box.decrypt(String(r.idp_refresh_token_enc), aad.idpRefreshToken(id)),
      createdAt: num(r.created_at),
      updatedAt: num(r.updated_at),
      revokedAt: optNum(r.revoked_at),
    };
  }

  // ---- clients ----

  async upsertClient(c: RegisteredClient): Promise<void> {
    // created_at keeps its first value: re-fetching a CIMD document or reloading config is not a new client.
    await this.sql.query(
      `INSERT INTO clients (client_id, source, client_name, redirect_uris, token_endpoint_auth_method, client_secret_hash, metadata, created_at, expires_at)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7::jsonb, $8, $9)
       ON CONFLICT (client_id) DO UPDATE SET source = EXCLUDED.source, client_name = EXCLUDED.client_name,
         redirect_uris = EXCLUDED.redirect_uris, token_endpoint_auth_method = EXCLUDED.token_endpoint_auth_method,
         client_secret_hash = EXCLUDED.client_secret_hash, metadata = EXCLUDED.metadata, expires_at = EXCLUDED.expires_at`,
      [
        c.clientId,
        c.source,
        c.clientName ?? null,
        json(c.redirectUris),
        c.tokenEndpointAuthMethod,
        c.clientSecretHash ?? null,
        json(c.metadata),
        c.createdAt,
        c.expiresAt ?? null,
      ],
    );
  }

  async getClient(clientId: string): Promise<RegisteredClient | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM clients WHERE client_id = $1', [clientId]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      clientId: String(r.client_id),
      source: r.source as RegisteredClient['source'],
      clientName: optStr(r.client_name),
      redirectUris: parsed<string[]>(r.redirect_uris),
      tokenEndpointAuthMethod: r.token_endpoint_auth_method as RegisteredClient['tokenEndpointAuthMethod'],
      clientSecretHash: optStr(r.client_secret_hash),
      metadata: parsed<Record<string, unknown>>(r.metadata),
      createdAt: num(r.created_at),
      expiresAt: optNum(r.expires_at),
    };
  }

  async deleteClient(clientId: string): Promise<boolean> {
    const res = await this.sql.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
    return res.rowCount > 0;
  }

  // ---- consents ----

  async getConsent(iss: string, sub: string, clientId: string): Promise<Consent | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM consents WHERE iss = $1 AND sub = $2 AND client_id = $3', [iss, sub, clientId]);
    const r = rows[0];
    return r && { iss: String(r.iss), sub: String(r.sub), clientId: String(r.client_id), scopes: parsed<string[]>(r.scopes), grantedAt: num(r.granted_at) };
  }

  async saveConsent(c: Consent): Promise<void> {
    await this.sql.query(
      `INSERT INTO consents (iss, sub, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4::jsonb, $5)
       ON CONFLICT (iss, sub, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at`,
      [c.iss, c.sub, c.clientId, json(c.scopes), c.grantedAt],
    );
  }

  // ---- pending authorization requests ----

  async saveAuthorizationRequest(r: AuthorizationRequest): Promise<void> {
    await this.sql.query(
      `INSERT INTO authorization_requests (id, client_id, redirect_uri, state, code_challenge, scopes, resource,
         idp_state, idp_nonce, idp_code_verifier_enc, session_id, csrf, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11, $12, $13, $14)`,
      [
        r.id,
        r.clientId,
        r.redirectUri,
        r.state ?? null,
        r.codeChallenge,
        json(r.scopes),
        r.resource,
        r.idpState,
        r.idpNonce,
        this.box.encrypt(r.idpCodeVerifier, aad.codeVerifier(r.id)),
        r.sessionId ?? null,
        r.csrf,
        r.createdAt,
        r.expiresAt,
      ],
    );
  }

  /** An expired request is as good as gone (purgeExpired deletes it later). */
  async getAuthorizationRequest(id: string): Promise<AuthorizationRequest | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM authorization_requests WHERE id = $1 AND expires_at > $2', [id, this.now()]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      id: String(r.id),
      clientId: String(r.client_id),
      redirectUri: String(r.redirect_uri),
      state: optStr(r.state),
      codeChallenge: String(r.code_challenge),
      scopes: parsed<string[]>(r.scopes),
      resource: String(r.resource),
      idpState: String(r.idp_state),
      idpNonce: String(r.idp_nonce),
      idpCodeVerifier: this.box.decrypt(String(r.idp_code_verifier_enc), aad.codeVerifier(String(r.id))),
      sessionId: optStr(r.session_id),
      csrf: String(r.csrf),
      createdAt: num(r.created_at),
      expiresAt: num(r.expires_at),
    };
  }

  async updateAuthorizationRequest(id: string, patch: Partial<Pick<AuthorizationRequest, 'sessionId'>>): Promise<void> {
    if (!('sessionId' in patch)) return;
    await this.sql.query('UPDATE authorization_requests SET session_id = $2 WHERE id = $1', [id, patch.sessionId ?? null]);
  }

  async deleteAuthorizationRequest(id: string): Promise<void> {
    await this.sql.query('DELETE FROM authorization_requests WHERE id = $1', [id]);
  }

  // ---- authorization codes ----

  async saveAuthorizationCode(c: AuthorizationCode): Promise<void> {
    await this.sql.query(
      `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, session_id, scopes, resource, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
      [c.codeHash, c.clientId, c.redirectUri, c.codeChallenge, c.sessionId, json(c.scopes), c.resource, c.expiresAt],
    );
  }

  /** Single use (OAuth 2.1 §4.1.3): the DELETE that returns the row is the one redemption. */
  async consumeAuthorizationCode(codeHash: string, now: number): Promise<AuthorizationCode | undefined> {
    // Marked, not deleted: a second use must be recognisable as a replay (usedAuthorizationCodeSession).
    const { rows } = await this.sql.query(
      'UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING *',
      [codeHash, now],
    );
    const r = rows[0];
    if (!r) return undefined;
    return {
      codeHash: String(r.code_hash),
      clientId: String(r.client_id),
      redirectUri: String(r.redirect_uri),
      codeChallenge: String(r.code_challenge),
      sessionId: String(r.session_id),
      scopes: parsed<string[]>(r.scopes),
      resource: String(r.resource),
      expiresAt: num(r.expires_at),
    };
  }

  async usedAuthorizationCodeSession(codeHash: string): Promise<string | undefined> {
    const { rows } = await this.sql.query('SELECT session_id FROM authorization_codes WHERE code_hash = $1 AND used_at IS NOT NULL', [codeHash]);
    return rows[0] ? String(rows[0].session_id) : undefined;
  }

  // ---- refresh tokens ----

  async saveRefreshToken(r: RefreshTokenRecord): Promise<void> {
    await insertRefreshToken(this.sql, r);
  }

  /**
   * Refresh token rotation with reuse detection (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2). The row lock
   * (FOR UPDATE) serializes concurrent presentations of one token: the first rotates it, the second
   * then sees it rotated and revokes the family. A rotated token presented again is reported as
   * reuse even when it has since expired: it is evidence of theft either way, and the family may
   * still hold a live token.
   */
  async rotateRefreshToken(oldHash: string, next: Omit<RefreshTokenRecord, 'familyId' | 'sessionId' | 'clientId'>, now: number): Promise<RotateResult> {
    return this.sql.transaction(async (tx): Promise<RotateResult> => {
      const { rows } = await tx.query('SELECT * FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE', [oldHash]);
      const row = rows[0];
      if (!row) return { ok: false, reason: 'unknown' };
      const old = toRefresh(row);
      if (old.revokedAt !== undefined) return { ok: false, reason: 'revoked' };
      if (old.rotatedAt !== undefined) {
        await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL', [old.familyId, now]);
        return { ok: false, reason: 'reused' };
      }
      if (old.expiresAt <= now) return { ok: false, reason: 'expired' };
      await tx.query('UPDATE refresh_tokens SET rotated_at = $2 WHERE token_hash = $1', [oldHash, now]);
      const record: RefreshTokenRecord = {
        tokenHash: next.tokenHash,
        familyId: old.familyId,
        sessionId: old.sessionId,
        clientId: old.clientId,
        scopes: next.scopes,
        resource: next.resource,
        createdAt: next.createdAt,
        expiresAt: next.expiresAt,
      };
      await insertRefreshToken(tx, record);
      return { ok: true, record };
    });
  }

  async getRefreshToken(tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM refresh_tokens WHERE token_hash = $1', [tokenHash]);
    return rows[0] && toRefresh(rows[0]);
  }

  async revokeRefreshFamily(familyId: string, at: number): Promise<number> {
    const res = await this.sql.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL', [familyId, at]);
    return res.rowCount;
  }

  async revokeRefreshTokensOf(filter: { sessionId?: string; clientId?: string }, at: number): Promise<number> {
    if (filter.sessionId === undefined && filter.clientId === undefined) {
      // An empty filter would revoke every refresh token of every user: refuse rather than guess.
      throw new GatewayError('internal', 'revokeRefreshTokensOf needs a sessionId or a clientId');
    }
    const res = await this.sql.query(
      `UPDATE refresh_tokens SET revoked_at = $3
       WHERE ($1::text IS NULL OR session_id = $1) AND ($2::text IS NULL OR client_id = $2) AND revoked_at IS NULL`,
      [filter.sessionId ?? null, filter.clientId ?? null, at],
    );
    return res.rowCount;
  }

  // ---- revoked access tokens ----

  async revokeAccessToken(jti: string, expiresAt: number): Promise<void> {
    const changes: AuthChange[] = [{ kind: 'jti', key: jti, expiresAt }];
    await this.sql.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO revoked_access_tokens (jti, expires_at) VALUES ($1, $2)
         ON CONFLICT (jti) DO UPDATE SET expires_at = GREATEST(revoked_access_tokens.expires_at, EXCLUDED.expires_at)`,
        [jti, expiresAt],
      );
      await this.#appendAuthChanges(tx, changes);
    });
    this.#announceAuthChanges(changes);
  }

  async isAccessTokenRevoked(jti: string): Promise<boolean> {
    const { rows } = await this.sql.query('SELECT 1 AS one FROM revoked_access_tokens WHERE jti = $1', [jti]);
    return rows.length > 0;
  }

  async listRevokedAccessTokens(now: number): Promise<Array<{ jti: string; expiresAt: number }>> {
    const { rows } = await this.sql.query('SELECT jti, expires_at FROM revoked_access_tokens WHERE expires_at > $1', [now]);
    return rows.map((r) => ({ jti: String(r.jti), expiresAt: num(r.expires_at) }));
  }

  // ---- signing keys ----

  /** The signing (unretired) key first, then newest first; retired keys stay listed (for the JWKS) until `verifyUntil` passes and a purge runs. */
  async listSigningKeys(): Promise<SigningKey[]> {
    const { rows } = await this.sql.query('SELECT * FROM signing_keys ORDER BY (retired_at IS NULL) DESC, created_at DESC, kid');
    return rows.map((r) => {
      const kid = String(r.kid);
      return {
        kid,
        alg: r.alg as SigningKey['alg'],
        privateJwk: JSON.parse(this.box.decrypt(String(r.private_jwk_enc), aad.privateJwk(kid))) as Record<string, unknown>,
        publicJwk: parsed<Record<string, unknown>>(r.public_jwk),
        createdAt: num(r.created_at),
        retiredAt: optNum(r.retired_at),
        verifyUntil: optNum(r.verify_until),
      };
    });
  }

  async addSigningKey(k: SigningKey): Promise<void> {
    await this.#insertSigningKey(this.sql, k);
  }

  async #insertSigningKey(q: Queryable, k: SigningKey): Promise<void> {
    await q.query(
      `INSERT INTO signing_keys (kid, alg, private_jwk_enc, public_jwk, created_at, retired_at, verify_until)
       VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)`,
      [k.kid, k.alg, this.box.encrypt(json(k.privateJwk), aad.privateJwk(k.kid)), json(k.publicJwk), k.createdAt, k.retiredAt ?? null, k.verifyUntil ?? null],
    );
  }

  /**
   * Rotations are serialized by a transaction-scoped advisory lock (one per schema, like
   * migrations). A row lock would not do: under READ COMMITTED, a `SELECT ... FOR UPDATE` that
   * waited for another rotation re-checks only the rows it had found, never the key that rotation
   * inserted, so both would add a key and two would sign. After the advisory lock each statement
   * takes a fresh snapshot and sees the previous rotation's key. Retiring every other unretired
   * key (not just the newest) also heals a store where two keys were left signing.
   */
  async rotateSigningKey(
    next: SigningKey,
    retire: { at: number; verifyUntil: number },
    condition?: { signingCreatedAtOrBefore: number },
  ): Promise<SigningKeyRotation> {
    return this.sql.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock(hashtext('xaa-gateway:signing-keys:' || current_schema()))");
      const { rows } = await tx.query('SELECT kid, created_at FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid');
      const current = rows[0] && { kid: String(rows[0].kid), createdAt: num(rows[0].created_at) };
      if (current && condition && current.createdAt > condition.signingCreatedAtOrBefore) return { rotated: false, signing: current.kid, retired: [] };
      await this.#insertSigningKey(tx, next);
      const retired = await tx.query('UPDATE signing_keys SET retired_at = $2, verify_until = $3 WHERE retired_at IS NULL AND kid <> $1 RETURNING kid', [
        next.kid,
        retire.at,
        retire.verifyUntil,
      ]);
      return { rotated: true, signing: next.kid, ...(current ? { previous: current.kid } : {}), retired: retired.rows.map((r) => String(r.kid)).sort() };
    });
  }

  async retireSigningKey(kid: string, retiredAt: number, verifyUntil: number): Promise<void> {
    const res = await this.sql.query('UPDATE signing_keys SET retired_at = $2, verify_until = $3 WHERE kid = $1', [kid, retiredAt, verifyUntil]);
    if (res.rowCount === 0) throw new GatewayError('internal', `no signing key with kid ${kid}`);
  }

  // ---- admin control: sessions and agents, bulk revocation ----

  async listRefreshFamilies(filter: { sessionId?: string; clientId?: string; activeOnly?: boolean } = {}): Promise<RefreshFamily[]> {
    // The newest token of each family carries its current scopes; a family is live while any token is.
    const { rows } = await this.sql.query(
      `SELECT family_id, session_id, client_id,
              (ARRAY_AGG(scopes ORDER BY created_at DESC))[1] AS scopes,
              MIN(created_at) AS created_at, MAX(created_at) AS last_issued_at, MAX(expires_at) AS expires_at,
              BOOL_AND(revoked_at IS NOT NULL) AS revoked
       FROM refresh_tokens
       WHERE ($1::text IS NULL OR session_id = $1) AND ($2::text IS NULL OR client_id = $2)
       GROUP BY family_id, session_id, client_id
       HAVING NOT $3::boolean OR (BOOL_OR(revoked_at IS NULL AND rotated_at IS NULL) AND MAX(expires_at) > $4)
       ORDER BY MIN(created_at), family_id`,
      [filter.sessionId ?? null, filter.clientId ?? null, filter.activeOnly ?? false, this.now()],
    );
    return rows.map((r) => ({
      familyId: String(r.family_id),
      sessionId: String(r.session_id),
      clientId: String(r.client_id),
      scopes: parsed<string[]>(r.scopes),
      createdAt: num(r.created_at),
      lastIssuedAt: num(r.last_issued_at),
      expiresAt: num(r.expires_at),
      revoked: Boolean(r.revoked),
    }));
  }

  async revokeSessionsOf(filter: { user: { iss: string; sub: string } } | { clientId: string }, at: number): Promise<SessionRevocation> {
    const out = await this.sql.transaction(async (tx): Promise<SessionRevocation> => {
      let sessions;
      let refresh = 0;
      if ('user' in filter) {
        sessions = await tx.query<{ id: string }>(
          'UPDATE user_sessions SET revoked_at = $3, updated_at = $3 WHERE iss = $1 AND sub = $2 AND revoked_at IS NULL RETURNING id',
          [filter.user.iss, filter.user.sub, at],
        );
      } else {
        sessions = await tx.query<{ id: string }>(
          `UPDATE user_sessions SET revoked_at = $2, updated_at = $2
           WHERE revoked_at IS NULL AND id IN (SELECT session_id FROM refresh_tokens WHERE client_id = $1
                                               UNION SELECT session_id FROM authorization_codes WHERE client_id = $1)
           RETURNING id`,
          [filter.clientId, at],
        );
        refresh += (await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL', [filter.clientId, at])).rowCount;
        await tx.query('DELETE FROM authorization_codes WHERE client_id = $1', [filter.clientId]);
      }
      const ids = sessions.rows.map((r) => String(r.id));
      if (ids.length) {
        refresh += (await tx.query('UPDATE refresh_tokens SET revoked_at = $2 WHERE session_id = ANY($1::text[]) AND revoked_at IS NULL', [ids, at])).rowCount;
        await tx.query('DELETE FROM authorization_codes WHERE session_id = ANY($1::text[])', [ids]);
        await this.#appendAuthChanges(
          tx,
          ids.map((key) => ({ kind: 'session', key })),
        );
      }
      return { sessionIds: ids, refreshTokens: refresh };
    });
    this.#announceAuthChanges(out.sessionIds.map((key) => ({ kind: 'session', key })));
    return out;
  }

  // ---- kill switches ----

  async listKillSwitches(): Promise<KillSwitchList> {
    // One transaction, so the revision read matches the rows read with it.
    return this.sql.transaction(async (tx) => {
      const rev = await tx.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
      const { rows } = await tx.query('SELECT * FROM kill_switches ORDER BY since, switch_key');
      return { revision: Number(rev.rows[0]?.value ?? 0), switches: rows.map(toSwitchState) };
    });
  }

  async killSwitchRevision(): Promise<number> {
    const { rows } = await this.sql.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
    return Number(rows[0]?.value ?? 0);
  }

  async putKillSwitch(key: string, state: SwitchState): Promise<{ previous?: SwitchState; revision: number }> {
    const out = await this.sql.transaction(async (tx) => {
      const revision = await bumpRevision(tx, this.sql.listen ? this.#switchChannel : undefined);
      const old = await tx.query('SELECT * FROM kill_switches WHERE switch_key = $1 FOR UPDATE', [key]);
      await tx.query(
        `INSERT INTO kill_switches (switch_key, kind, target, reason, actor, since) VALUES ($1, $2, $3::jsonb, $4, $5::jsonb, $6)
         ON CONFLICT (switch_key) DO UPDATE SET target = EXCLUDED.target, reason = EXCLUDED.reason, actor = EXCLUDED.actor, since = EXCLUDED.since`,
        [key, state.switch.kind, json(state.switch), state.reason, json(state.actor), state.since],
      );
      return { ...(old.rows[0] ? { previous: toSwitchState(old.rows[0]) } : {}), revision };
    });
    this.#emitSwitchChange(); // services on this store object (the NOTIFY reaches other processes)
    return out;
  }

  async deleteKillSwitch(key: string, onlyIfSince?: number): Promise<{ previous?: SwitchState; revision: number }> {
    const out = await this.sql.transaction(async (tx) => {
      const { rows } =
        onlyIfSince === undefined
          ? await tx.query('DELETE FROM kill_switches WHERE switch_key = $1 RETURNING *', [key])
          : await tx.query('DELETE FROM kill_switches WHERE switch_key = $1 AND since = $2 RETURNING *', [key, onlyIfSince]);
      if (!rows[0]) {
        const rev = await tx.query<{ value: string }>("SELECT value FROM store_meta WHERE key = 'kill_switch_revision'");
        return { revision: Number(rev.rows[0]?.value ?? 0) };
      }
      return { previous: toSwitchState(rows[0]), revision: await bumpRevision(tx, this.sql.listen ? this.#switchChannel : undefined) };
    });
    if (out.previous) this.#emitSwitchChange();
    return out;
  }

  // ---- browser admin sessions ----

  async createAdminSession(s: AdminSession): Promise<void> {
    await this.sql.query(
      `INSERT INTO admin_sessions (id_hash, iss, sub, email, name, csrf, created_at, expires_at, revoked_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [s.idHash, s.iss, s.sub, s.email ?? null, s.name ?? null, s.csrf, s.createdAt, s.expiresAt, s.revokedAt ?? null],
    );
  }

  async getAdminSession(idHash: string, now: number): Promise<AdminSession | undefined> {
    const { rows } = await this.sql.query('SELECT * FROM admin_sessions WHERE id_hash = $1 AND expires_at > $2 AND revoked_at IS NULL', [idHash, now]);
    const r = rows[0];
    if (!r) return undefined;
    return {
      idHash: String(r.id_hash),
      iss: String(r.iss),
      sub: String(r.sub),
      ...(r.email == null ? {} : { email: String(r.email) }),
      ...(r.name == null ? {} : { name: String(r.name) }),
      csrf: String(r.csrf),
      createdAt: num(r.created_at),
      expiresAt: num(r.expires_at),
    };
  }

  async revokeAdminSession(idHash: string, at: number): Promise<boolean> {
    const res = await this.sql.query('UPDATE admin_sessions SET revoked_at = $2 WHERE id_hash = $1 AND revoked_at IS NULL', [idHash, at]);
    return res.rowCount > 0;
  }

  async revokeAdminSessionsOf(user: { iss: string; sub: string }, at: number): Promise<number> {
    const res = await this.sql.query('UPDATE admin_sessions SET revoked_at = $3 WHERE iss = $1 AND sub = $2 AND revoked_at IS NULL', [user.iss, user.sub, at]);
    return res.rowCount;
  }

  // ---- security events (src/ssf) ----

  /**
   * One statement, so concurrent claims on any engine serialize on the row: the INSERT wins when
   * there is no row; the conflict UPDATE takes over only an expired row or an abandoned claim.
   */
  async claimSecurityEvent(iss: string, jti: string, expiresAt: number, now: number, leaseMs: number): Promise<SecurityEventClaim> {
    // A claim released between the two statements leaves no row: claim again (bounded, never expected twice).
    for (let attempt = 0; attempt < 3; attempt++) {
      const claimed = await this.sql.query(
        `INSERT INTO security_events (iss, jti, claimed_at, acted_at, expires_at) VALUES ($1, $2, $3, NULL, $4)
         ON CONFLICT (iss, jti) DO UPDATE SET claimed_at = EXCLUDED.claimed_at, acted_at = NULL, expires_at = EXCLUDED.expires_at
         WHERE security_events.expires_at <= $3 OR (security_events.acted_at IS NULL AND security_events.claimed_at <= $5)
         RETURNING claimed_at`,
        [iss, jti, now, expiresAt, now - leaseMs],
      );
      if (claimed.rowCount > 0) return 'claimed';
      const { rows } = await this.sql.query('SELECT acted_at FROM security_events WHERE iss = $1 AND jti = $2', [iss, jti]);
      if (rows[0]) return rows[0].acted_at === null || rows[0].acted_at === undefined ? 'pending' : 'acted';
    }
    return 'pending';
  }

  async completeSecurityEvent(iss: string, jti: string, at: number): Promise<void> {
    await this.sql.query('UPDATE security_events SET acted_at = $3 WHERE iss = $1 AND jti = $2 AND acted_at IS NULL', [iss, jti, at]);
  }

  async releaseSecurityEvent(iss: string, jti: string, claimedAt: number): Promise<void> {
    await this.sql.query('DELETE FROM security_events WHERE iss = $1 AND jti = $2 AND claimed_at = $3 AND acted_at IS NULL', [iss, jti, claimedAt]);
  }

  // ---- housekeeping ----

  /**
   * Deletes what can no longer be used: expired authorization requests and codes, expired refresh
   * tokens, revoked-jti rows past their token's expiry, retired signing keys past `verifyUntil`, expired admin sessions,
   * and security event claims past the age at which their SET is refused anyway.
   * Sessions, clients and consents are kept.
   */
  async purgeExpired(now: number): Promise<void> {
    await this.sql.transaction(async (tx) => {
      await tx.query('DELETE FROM authorization_requests WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM authorization_codes WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM refresh_tokens WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM revoked_access_tokens WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND verify_until <= $1', [now]);
      await tx.query('DELETE FROM admin_sessions WHERE expires_at <= $1', [now]);
      await tx.query('DELETE FROM security_events WHERE expires_at <= $1', [now]);
      await purgeAuthChanges(tx, now);
    });
  }

  async close(): Promise<void> {
    await this.sql.close();
  }
}

async function insertRefreshToken(q: Queryable, r: RefreshTokenRecord): Promise<void> {
  await q.query(
    `INSERT INTO refresh_tokens (token_hash, family_id, session_id, client_id, scopes, resource, created_at, expires_at, rotated_at, revoked_at)
     VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8, $9, $10)`,
    [r.tokenHash, r.familyId, r.sessionId, r.clientId, json(r.scopes), r.resource, r.createdAt, r.expiresAt, r.rotatedAt ?? null, r.revokedAt ?? null],
  );
}

async function bumpRevision(q: Queryable, notifyChannel?: string): Promise<number> {
  // The row lock of this UPDATE also serializes concurrent switch changes.
  const { rows } = await q.query<{ value: string }>(
    "UPDATE store_meta SET value = (CAST(value AS BIGINT) + 1)::text WHERE key = 'kill_switch_revision' RETURNING value",
  );
  const revision = Number(rows[0]?.value ?? 0);
  // Delivered at COMMIT, to every instance LISTENing: they reload at once instead of at their next poll.
  if (notifyChannel) await q.query('SELECT pg_notify($1, $2)', [notifyChannel, String(revision)]);
  return revision;
}

function toSwitchState(r: Row): SwitchState {
  return { switch: parsed<SwitchState['switch']>(r.target), reason: String(r.reason), actor: parsed<SwitchState['actor']>(r.actor), since: num(r.since) };
}

function toRefresh(r: Row): RefreshTokenRecord {
  return {
    tokenHash: String(r.token_hash),
    familyId: String(r.family_id),
    sessionId: String(r.session_id),
    clientId: String(r.client_id),
    scopes: parsed<string[]>(r.scopes),
    resource: String(r.resource),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
    rotatedAt: optNum(r.rotated_at),
    revokedAt: optNum(r.revoked_at),
  };
}
