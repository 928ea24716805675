/**
 * 2025-era MCP sessions (`Mcp-Session-Id`) in the shared store (migration 5), so that any gateway
 * instance answers any request of a session: the instance that served `initialize` may be gone by
 * the next request. Only what a session needs is kept: its owner, the negotiated protocol version
 * and what the client declared in `initialize`. Written against the `Queryable` surface, so PGlite
 * and PostgreSQL run the same statements.
 */
import type { Queryable } from './sql.js';
import { SqlStore } from './sql-store.js';
import type { Store } from './types.js';

/** Who opened an MCP session: the gateway session (user sign-in) and the OAuth client (agent). */
export interface McpSessionOwner {
  sid: string;
  sub: string;
  idpIss: string;
  clientId: string;
}

export interface McpSessionRecord {
  id: string;
  owner: McpSessionOwner;
  /** The version `initialize` negotiated; every later request must speak it. */
  protocolVersion: string;
  clientCapabilities: Record<string, unknown>;
  clientInfo?: { name: string; version: string; [k: string]: unknown };
  /** The OAuth client's registered name (the agent in audit records), read once at `initialize`. */
  clientName?: string;
  createdAt: number;
  lastSeen: number;
  endedAt?: number;
  /** Why it ended, in words for its client (the 404 of its next request says it). */
  endedReason?: string;
}

export interface McpSessionStore {
  create(r: Omit<McpSessionRecord, 'endedAt'>): Promise<void>;
  get(id: string): Promise<McpSessionRecord | undefined>;
  /** Records that these sessions were used at `at` (batched by the sweep, never per request). */
  touch(ids: readonly string[], at: number): Promise<void>;
  /** Ends one session; false when it did not exist or had ended already. */
  end(id: string, at: number, reason?: string): Promise<boolean>;
  /** Ends every live session matching the filter (sign-out, admin action); returns their ids. */
  endWhere(filter: { sid?: string; sub?: string; clientId?: string }, at: number, reason?: string): Promise<string[]>;
  /** Of `ids`, those that ended or no longer exist (another instance ended them). */
  endedAmong(ids: readonly string[]): Promise<string[]>;
  /** Ends the owner's least recently used live sessions beyond `max` (with `reason`); returns their ids. */
  capOwner(owner: McpSessionOwner, max: number, at: number, reason?: string): Promise<string[]>;
  /** Deletes sessions idle since before `idleBefore` and ended ones since before `endedBefore`. */
  purge(idleBefore: number, endedBefore: number): Promise<number>;
}

type Row = Record<string, unknown>;
const optNum = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const parsed = <T>(v: unknown): T => (typeof v === 'string' ? (JSON.parse(v) as T) : (v as T));

function fromRow(r: Row): McpSessionRecord {
  const endedAt = optNum(r.ended_at);
  const clientInfo = r.client_info === null || r.client_info === undefined ? undefined : parsed<McpSessionRecord['clientInfo']>(r.client_info);
  return {
    id: String(r.id),
    owner: { sid: String(r.owner_sid), sub: String(r.owner_sub), idpIss: String(r.owner_idp_iss), clientId: String(r.owner_client_id) },
    protocolVersion: String(r.protocol_version),
    clientCapabilities: parsed<Record<string, unknown>>(r.client_capabilities) ?? {},
    ...(clientInfo ? { clientInfo } : {}),
    ...(r.client_name !== null && r.client_name !== undefined ? { clientName: String(r.client_name) } : {}),
    createdAt: Number(r.created_at),
    lastSeen: Number(r.last_seen),
    ...(endedAt !== undefined ? { endedAt } : {}),
    ...(r.ended_reason !== null && r.ended_reason !== undefined ? { endedReason: String(r.ended_reason) } : {}),
  };
}

export class SqlMcpSessionStore implements McpSessionStore {
  constructor(private readonly sql: Queryable) {}

  async create(r: Omit<McpSessionRecord, 'endedAt'>): Promise<void> {
    await this.sql.query(
      `INSERT INTO mcp_sessions (id, owner_sid, owner_sub, owner_idp_iss, owner_client_id, protocol_version, client_capabilities, client_info, client_name, created_at, last_seen)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
      [
        r.id,
        r.owner.sid,
        r.owner.sub,
        r.owner.idpIss,
        r.owner.clientId,
        r.protocolVersion,
        JSON.stringify(r.clientCapabilities),
        r.clientInfo ? JSON.stringify(r.clientInfo) : null,
        r.clientName ?? null,
        r.createdAt,
        r.lastSeen,
      ],
    );
  }

  async get(id: string): Promise<McpSessionRecord | undefined> {
    const { rows } = await this.sql.query<Row>('SELECT * FROM mcp_sessions WHERE id = $1', [id]);
    return rows[0] ? fromRow(rows[0]) : undefined;
  }

  async touch(ids: readonly string[], at: number): Promise<void> {
    if (ids.length === 0) return;
    await this.sql.query('UPDATE mcp_sessions SET last_seen = GREATEST(last_seen, $2) WHERE id = ANY($1::text[]) AND ended_at IS NULL', [ids, at]);
  }

  async end(id: string, at: number, reason?: string): Promise<boolean> {
    const r = await this.sql.query('UPDATE mcp_sessions SET ended_at = $2, ended_reason = $3 WHERE id = $1 AND ended_at IS NULL', [id, at, reason ?? null]);
    return r.rowCount > 0;
  }

  async endWhere(filter: { sid?: string; sub?: string; clientId?: string }, at: number, reason?: string): Promise<string[]> {
    const where: string[] = ['ended_at IS NULL'];
    const params: unknown[] = [at, reason ?? null];
    if (filter.sid !== undefined) where.push(`owner_sid = $${params.push(filter.sid)}`);
    if (filter.sub !== undefined) where.push(`owner_sub = $${params.push(filter.sub)}`);
    if (filter.clientId !== undefined) where.push(`owner_client_id = $${params.push(filter.clientId)}`);
    if (where.length === 1) throw new Error('endWhere needs a filter');
    const { rows } = await this.sql.query<Row>(`UPDATE mcp_sessions SET ended_at = $1, ended_reason = $2 WHERE ${where.join(' AND ')} RETURNING id`, params);
    return rows.map((r) => String(r.id));
  }

  async endedAmong(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.sql.query<Row>('SELECT id FROM mcp_sessions WHERE id = ANY($1::text[]) AND ended_at IS NULL', [ids]);
    const live = new Set(rows.map((r) => String(r.id)));
    return ids.filter((id) => !live.has(id));
  }

  async capOwner(owner: McpSessionOwner, max: number, at: number, reason?: string): Promise<string[]> {
    const { rows } = await this.sql.query<Row>(
      `UPDATE mcp_sessions SET ended_at = $6, ended_reason = $7 WHERE id IN (
         SELECT id FROM mcp_sessions
          WHERE owner_sid = $1 AND owner_sub = $2 AND owner_idp_iss = $3 AND owner_client_id = $4 AND ended_at IS NULL
          ORDER BY last_seen DESC, created_at DESC OFFSET $5)
       RETURNING id`,
      [owner.sid, owner.sub, owner.idpIss, owner.clientId, max, at, reason ?? null],
    );
    return rows.map((r) => String(r.id));
  }

  async purge(idleBefore: number, endedBefore: number): Promise<number> {
    const r = await this.sql.query('DELETE FROM mcp_sessions WHERE last_seen < $1 OR (ended_at IS NOT NULL AND ended_at < $2)', [idleBefore, endedBefore]);
    return r.rowCount;
  }
}

/** The MCP session repository of a store opened by openStore (both engines share SqlStore). */
export function mcpSessionStoreOf(store: Store): McpSessionStore {
  if (store instanceof SqlStore) return new SqlMcpSessionStore(store.sql);
  throw new TypeError('MCP sessions need a store opened by openStore (SqlStore)');
}
