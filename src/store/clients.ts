/**
 * The MCP clients (agents) known to the gateway's authorization server (table clients), and the
 * consent each user gave each of them (table consents).
 */
import { json, num, optNum, optStr, parsed } from './rows.js';
import type { Queryable } from './sql.js';

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

/** Clients, and the consents their users gave them. */
export interface ClientStore {
  // Clients
  upsertClient(c: RegisteredClient): Promise<void>;
  getClient(clientId: string): Promise<RegisteredClient | undefined>;
  deleteClient(clientId: string): Promise<boolean>;

  // Consents (per user and agent)
  getConsent(iss: string, sub: string, clientId: string): Promise<Consent | undefined>;
  saveConsent(c: Consent): Promise<void>;
}

// ---- clients ----

export async function upsertClient(q: Queryable, c: RegisteredClient): Promise<void> {
  // created_at keeps its first value: re-fetching a CIMD document or reloading config is not a new client.
  await q.query(
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

export async function getClient(q: Queryable, clientId: string): Promise<RegisteredClient | undefined> {
  const { rows } = await q.query('SELECT * FROM clients WHERE client_id = $1', [clientId]);
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

export async function deleteClient(q: Queryable, clientId: string): Promise<boolean> {
  const res = await q.query('DELETE FROM clients WHERE client_id = $1', [clientId]);
  return res.rowCount > 0;
}

// ---- consents ----

export async function getConsent(q: Queryable, iss: string, sub: string, clientId: string): Promise<Consent | undefined> {
  const { rows } = await q.query('SELECT * FROM consents WHERE iss = $1 AND sub = $2 AND client_id = $3', [iss, sub, clientId]);
  const r = rows[0];
  return r && { iss: String(r.iss), sub: String(r.sub), clientId: String(r.client_id), scopes: parsed<string[]>(r.scopes), grantedAt: num(r.granted_at) };
}

export async function saveConsent(q: Queryable, c: Consent): Promise<void> {
  await q.query(
    `INSERT INTO consents (iss, sub, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4::jsonb, $5)
     ON CONFLICT (iss, sub, client_id) DO UPDATE SET scopes = EXCLUDED.scopes, granted_at = EXCLUDED.granted_at`,
    [c.iss, c.sub, c.clientId, json(c.scopes), c.grantedAt],
  );
}
