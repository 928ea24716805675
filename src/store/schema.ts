/**
 * The one SQL schema of the store, as ordered migrations. Both engines run these statements as is.
 * Never edit a released migration: append a new one. Timestamps are BIGINT epoch milliseconds;
 * lists are JSONB arrays. Columns ending in `_enc` hold AES-256-GCM ciphertext (see crypto.ts);
 * columns ending in `_hash` hold SHA-256 hashes of tokens the gateway issued (never the tokens).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE store_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

CREATE TABLE user_sessions (
  id                    TEXT PRIMARY KEY,
  iss                   TEXT NOT NULL,
  sub                   TEXT NOT NULL,
  email                 TEXT,
  name                  TEXT,
  id_token_enc          TEXT NOT NULL,
  id_token_expires_at   BIGINT NOT NULL,
  idp_refresh_token_enc TEXT,
  created_at            BIGINT NOT NULL,
  updated_at            BIGINT NOT NULL,
  revoked_at            BIGINT
);
CREATE INDEX user_sessions_subject ON user_sessions (iss, sub);

CREATE TABLE clients (
  client_id                  TEXT PRIMARY KEY,
  source                     TEXT NOT NULL CHECK (source IN ('config', 'cimd', 'dynamic')),
  client_name                TEXT,
  redirect_uris              JSONB NOT NULL,
  token_endpoint_auth_method TEXT NOT NULL CHECK (token_endpoint_auth_method IN ('none', 'client_secret_basic', 'client_secret_post')),
  client_secret_hash         TEXT,
  metadata                   JSONB NOT NULL,
  created_at                 BIGINT NOT NULL,
  expires_at                 BIGINT
);

CREATE TABLE consents (
  iss        TEXT NOT NULL,
  sub        TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  scopes     JSONB NOT NULL,
  granted_at BIGINT NOT NULL,
  PRIMARY KEY (iss, sub, client_id)
);
CREATE INDEX consents_client ON consents (client_id);

CREATE TABLE authorization_requests (
  id                    TEXT PRIMARY KEY,
  client_id             TEXT NOT NULL,
  redirect_uri          TEXT NOT NULL,
  state                 TEXT,
  code_challenge        TEXT NOT NULL,
  scopes                JSONB NOT NULL,
  resource              TEXT NOT NULL,
  idp_state             TEXT NOT NULL,
  idp_nonce             TEXT NOT NULL,
  idp_code_verifier_enc TEXT NOT NULL,
  session_id            TEXT,
  csrf                  TEXT NOT NULL,
  created_at            BIGINT NOT NULL,
  expires_at            BIGINT NOT NULL
);
CREATE INDEX authorization_requests_expiry ON authorization_requests (expires_at);

CREATE TABLE authorization_codes (
  code_hash      TEXT PRIMARY KEY,
  client_id      TEXT NOT NULL,
  redirect_uri   TEXT NOT NULL,
  code_challenge TEXT NOT NULL,
  session_id     TEXT NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
  scopes         JSONB NOT NULL,
  resource       TEXT NOT NULL,
  expires_at     BIGINT NOT NULL
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
  token_hash TEXT PRIMARY KEY,
  family_id  TEXT NOT NULL,
  session_id TEXT NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
  client_id  TEXT NOT NULL,
  scopes     JSONB NOT NULL,
  resource   TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  rotated_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

CREATE TABLE revoked_access_tokens (
  jti        TEXT PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX revoked_access_tokens_expiry ON revoked_access_tokens (expires_at);

CREATE TABLE signing_keys (
  kid             TEXT PRIMARY KEY,
  alg             TEXT NOT NULL CHECK (alg IN ('ES256')),
  private_jwk_enc TEXT NOT NULL,
  public_jwk      JSONB NOT NULL,
  created_at      BIGINT NOT NULL,
  retired_at      BIGINT,
  verify_until    BIGINT
);
`,
  },
  {
    version: 2,
    name: 'admin_control',
    // Kill switches (src/control) and browser admin sessions (src/admin). Every switch change bumps
    // store_meta.kill_switch_revision in the same transaction, so other instances on the same
    // PostgreSQL notice a change by reading one row and reload the switches only then.
    sql: `
CREATE TABLE kill_switches (
  switch_key TEXT PRIMARY KEY,
  kind       TEXT NOT NULL CHECK (kind IN ('user', 'agent', 'resource', 'connection', 'all')),
  target     JSONB NOT NULL,
  reason     TEXT NOT NULL,
  actor      JSONB NOT NULL,
  since      BIGINT NOT NULL
);

INSERT INTO store_meta (key, value) VALUES ('kill_switch_revision', '0') ON CONFLICT (key) DO NOTHING;

CREATE TABLE admin_sessions (
  id_hash    TEXT PRIMARY KEY,
  iss        TEXT NOT NULL,
  sub        TEXT NOT NULL,
  email      TEXT,
  name       TEXT,
  csrf       TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX admin_sessions_subject ON admin_sessions (iss, sub);
CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at);
`,
  },
  {
    version: 3,
    name: 'security_events',
    // The SETs (RFC 8417) the Shared Signals receiver (src/ssf) claimed, so each (transmitter iss,
    // jti) is acted on once across restarts and instances (RFC 8935 §2.2, RFC 8936 §2.4 redeliver).
    // `acted_at` stays NULL while the claim is in progress: a claim never completed (its process
    // died) can be taken over after a lease. `expires_at` is when the SET would be refused as too
    // old anyway; the row is only garbage after it.
    sql: `
CREATE TABLE security_events (
  iss        TEXT NOT NULL,
  jti        TEXT NOT NULL,
  claimed_at BIGINT NOT NULL,
  acted_at   BIGINT,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (iss, jti)
);
CREATE INDEX security_events_expiry ON security_events (expires_at);
`,
  },
  {
    version: 4,
    name: 'authorization_code_replay',
    // A used code is kept (marked) until it expires instead of deleted, so a second use is recognised
    // as a replay and the tokens issued from the first use can be revoked (OAuth 2.1 §4.1.3).
    sql: `
ALTER TABLE authorization_codes ADD COLUMN used_at BIGINT;
`,
  },
  {
    version: 5,
    name: 'mcp_sessions',
    // 2025-era MCP sessions (Mcp-Session-Id), shared by every instance so any of them answers any
    // request of a session (no load-balancer affinity; see docs/protocol.md). The owner columns bind
    // a session to the sign-in and OAuth client that opened it. `last_seen` is written in batches by
    // each instance's sweep, not per request; `ended_at` is set by DELETE, revocation or eviction.
    sql: `
CREATE TABLE mcp_sessions (
  id                  TEXT PRIMARY KEY,
  owner_sid           TEXT NOT NULL,
  owner_sub           TEXT NOT NULL,
  owner_idp_iss       TEXT NOT NULL,
  owner_client_id     TEXT NOT NULL,
  protocol_version    TEXT NOT NULL,
  client_capabilities JSONB NOT NULL,
  client_info         JSONB,
  client_name         TEXT,
  created_at          BIGINT NOT NULL,
  last_seen           BIGINT NOT NULL,
  ended_at            BIGINT
);
CREATE INDEX mcp_sessions_owner ON mcp_sessions (owner_sid, owner_client_id);
CREATE INDEX mcp_sessions_last_seen ON mcp_sessions (last_seen);
`,
  },
  {
    version: 6,
    name: 'fleet_config',
    // The admin-editable config sections (tools, resources, upstreams) shared by the instances of a
    // fleet (src/config/fleet.ts): one row, the JSON text as written, its SHA-256, and a revision
    // bumped by every change in the same transaction as the NOTIFY that announces it.
    sql: `
CREATE TABLE fleet_config (
  id         INTEGER PRIMARY KEY CHECK (id = 1),
  revision   BIGINT NOT NULL,
  doc        TEXT NOT NULL,
  doc_hash   TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT NOT NULL
);
`,
  },
  {
    version: 7,
    name: 'auth_changes',
    // A feed of changes that can end a credential's validity (a user session revoked or its IdP
    // tokens renewed, an access token revoked), appended in the change's own transaction. Every
    // instance holds sessions and revoked jtis in memory (src/store/auth-state.ts) and applies
    // this feed on NOTIFY and on its poll, so a warm call reads no table and a revocation made on
    // any instance is in force everywhere within the poll interval. Rows are purged after an hour.
    sql: `
CREATE TABLE auth_changes (
  seq        BIGSERIAL PRIMARY KEY,
  kind       TEXT NOT NULL,
  key        TEXT NOT NULL,
  expires_at BIGINT,
  at         BIGINT NOT NULL
);
CREATE INDEX auth_changes_at ON auth_changes (at);
`,
  },
  {
    version: 8,
    name: 'mcp_sessions_ended_reason',
    // Why a 2025 session ended (deleted by its client, evicted by the per-sign-in cap, closed with its
    // sign-in), so the instance that gets its next request, whichever it is, can tell the client.
    sql: `ALTER TABLE mcp_sessions ADD COLUMN ended_reason TEXT;`,
  },
  {
    version: 9,
    name: 'scim_resources',
    // SCIM 2.0 (RFC 7643/7644) Users and Groups pushed by the IdP (src/scim): each SCIM client (one
    // IdP connection) has its own namespace. `resource` is the resource as stored, without id and
    // meta; `version` is its ETag (RFC 7644 §3.14). userName is unique per client, case-insensitively
    // (RFC 7643 §4.1.1: caseExact false), so the unique index is on its lower case.
    sql: `
CREATE TABLE scim_resources (
  client      TEXT NOT NULL,
  type        TEXT NOT NULL,
  id          TEXT NOT NULL,
  name        TEXT NOT NULL,
  name_lower  TEXT NOT NULL,
  external_id TEXT,
  resource    JSONB NOT NULL,
  version     INTEGER NOT NULL,
  created_at  BIGINT NOT NULL,
  updated_at  BIGINT NOT NULL,
  PRIMARY KEY (client, type, id)
);
CREATE UNIQUE INDEX scim_users_user_name ON scim_resources (client, name_lower) WHERE type = 'User';
CREATE INDEX scim_resources_name ON scim_resources (client, type, name_lower);
CREATE INDEX scim_resources_external_id ON scim_resources (client, type, external_id);
`,
  },
  {
    version: 10,
    name: 'refresh_tokens_dpop_jkt',
    // RFC 9449 §5: a refresh token issued to a public client with a DPoP proof is bound to that
    // proof's key (its RFC 7638 thumbprint); a refresh must come with a proof signed by it. Set when
    // the family starts and carried to each rotated token; NULL for unbound tokens.
    sql: `ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;`,
  },
  {
    version: 11,
    name: 'enterprise_managed_sign_in',
    // MCP Enterprise-Managed Authorization (SEP-990) at the gateway's own authorization server: a
    // session made by redeeming an ID-JAG (jwt-bearer grant) keeps that ID-JAG, encrypted, as its
    // subject token for the chained exchange (draft-parecki-oauth-identity-assertion-gateways §4);
    // subject_token_type says which kind of subject token the row holds (NULL: the user's ID token).
    // redeemed_assertions: the (issuer, jti) of every ID-JAG redeemed, until it expires, so a second
    // redemption is refused on every instance (ibid. §4 "SHOULD reject an ID-JAG already redeemed").
    sql: `
ALTER TABLE user_sessions ADD COLUMN subject_token_type TEXT;
-- The 15 s wipe of expired ID-JAGs reads only the rows still holding one.
CREATE INDEX user_sessions_held_assertions ON user_sessions (id_token_expires_at)
  WHERE subject_token_type = 'id-jag' AND id_token_enc <> '';
CREATE TABLE redeemed_assertions (
  iss        TEXT NOT NULL,
  jti        TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (iss, jti)
);`,
  },
];
