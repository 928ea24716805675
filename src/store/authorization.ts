/**
 * The authorization code flow of the gateway's own authorization server: pending /authorize
 * requests (table authorization_requests, the IdP PKCE verifier encrypted at rest) and the codes
 * issued for them (table authorization_codes, stored only as SHA-256 hashes).
 */
import type { SecretBox } from './crypto.js';
import { aad, json, num, optStr, parsed } from './rows.js';
import type { Queryable } from './sql.js';

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

/** Pending authorization requests and the codes issued for them. */
export interface AuthorizationStore {
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
}

// ---- pending authorization requests ----

export async function saveAuthorizationRequest(q: Queryable, box: SecretBox, r: AuthorizationRequest): Promise<void> {
  await q.query(
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
      box.encrypt(r.idpCodeVerifier, aad.codeVerifier(r.id)),
      r.sessionId ?? null,
      r.csrf,
      r.createdAt,
      r.expiresAt,
    ],
  );
}

/** An expired request is as good as gone (purgeExpired deletes it later). */
export async function getAuthorizationRequest(q: Queryable, box: SecretBox, now: () => number, id: string): Promise<AuthorizationRequest | undefined> {
  const { rows } = await q.query('SELECT * FROM authorization_requests WHERE id = $1 AND expires_at > $2', [id, now()]);
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
    idpCodeVerifier: box.decrypt(String(r.idp_code_verifier_enc), aad.codeVerifier(String(r.id))),
    sessionId: optStr(r.session_id),
    csrf: String(r.csrf),
    createdAt: num(r.created_at),
    expiresAt: num(r.expires_at),
  };
}

export async function updateAuthorizationRequest(q: Queryable, id: string, patch: Partial<Pick<AuthorizationRequest, 'sessionId'>>): Promise<void> {
  if (!('sessionId' in patch)) return;
  await q.query('UPDATE authorization_requests SET session_id = $2 WHERE id = $1', [id, patch.sessionId ?? null]);
}

export async function deleteAuthorizationRequest(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM authorization_requests WHERE id = $1', [id]);
}

// ---- authorization codes ----

export async function saveAuthorizationCode(q: Queryable, c: AuthorizationCode): Promise<void> {
  await q.query(
    `INSERT INTO authorization_codes (code_hash, client_id, redirect_uri, code_challenge, session_id, scopes, resource, expires_at)
     VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)`,
    [c.codeHash, c.clientId, c.redirectUri, c.codeChallenge, c.sessionId, json(c.scopes), c.resource, c.expiresAt],
  );
}

/** Single use (OAuth 2.1 §4.1.3): the UPDATE that marks the code used and returns its row is the one redemption. */
export async function consumeAuthorizationCode(q: Queryable, codeHash: string, now: number): Promise<AuthorizationCode | undefined> {
  // Marked, not deleted: a second use must be recognisable as a replay (usedAuthorizationCodeSession).
  const { rows } = await q.query('UPDATE authorization_codes SET used_at = $2 WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING *', [
    codeHash,
    now,
  ]);
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

export async function usedAuthorizationCodeSession(q: Queryable, codeHash: string): Promise<string | undefined> {
  const { rows } = await q.query('SELECT session_id FROM authorization_codes WHERE code_hash = $1 AND used_at IS NOT NULL', [codeHash]);
  return rows[0] ? String(rows[0].session_id) : undefined;
}
